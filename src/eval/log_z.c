/* Stage 1 of the evaluation: log Z of the prior (evae/eval/eval.h). The GRBM's comes from AIS
 * (evae/eval/ais.h), run by run so that a long estimate shows progress; prior=gaussian has it exactly. */
#include "evae/eval/eval.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "evae/util.h"

evae_ais_opts evae_eval_ais_opts(const evae_config *cfg)
{
    evae_ais_opts o = evae_ais_default_opts();
    o.chains = cfg->eval.ais_chains;
    o.temperatures = cfg->eval.ais_temperatures;
    o.schedule = cfg->eval.ais_schedule;
    o.sigmoid_delta = (float)cfg->eval.ais_sigmoid_delta;
    o.gibbs_steps = cfg->eval.ais_gibbs_steps;
    o.runs = cfg->eval.ais_runs;
    o.seed = (uint64_t)cfg->eval.seed;
    o.mutate_beta = 1.0f;
    return o;
}

int evae_eval_log_z(const evae_model *m, const evae_ais_opts *o, evae_log_z *r,
                    evae_eval_progress_fn progress, void *ctx, const evae_comm *comm)
{
    memset(r, 0, sizeof *r);
    r->opts = *o;
    if (!m->shape.prior_grbm) {
        r->exact = 1;
        r->log_z = evae_model_exact_log_z(m);
        r->log_z0 = r->log_z;
        return 0;
    }
    if (o->runs < 1 || o->runs > EVAE_AIS_MAX_RUNS) {
        evae_error("eval.ais_runs = %d, must be in 1..%d", o->runs, EVAE_AIS_MAX_RUNS);
        return 1;
    }
    r->runs = o->runs;
    /* per run r: L_r = ln mean of its weights, S1_r = C e^{L_r} = sum w, S2_r = S1_r^2 / ESS_r
     * = sum w^2; pooled over runs of equal size: ln mean w = ln mean_r e^{L_r} and
     * ESS = (sum_r S1_r)^2 / sum_r S2_r */
    /* runs[3 R]: each run's log Z, L and ESS, filled by the rank that ran it (zero elsewhere,
     * so the sum over ranks gathers them exactly); log Z_0 is the same for every run */
    double runs[3 * EVAE_AIS_MAX_RUNS + 1] = {0};
    double *lz = runs, *L = runs + EVAE_AIS_MAX_RUNS, *ess = runs + 2 * EVAE_AIS_MAX_RUNS;
    evae_ais_opts one = *o;
    one.runs = 1;
    for (int run = comm->rank; run < o->runs; run += comm->size) {
        one.seed = o->seed + (uint64_t)run; /* each run its own Philox key */
        evae_ais_result res;
        if (evae_ais_log_z(m->be, m->theta, m->d, m->n, &one, &res)) return 1;
        lz[run] = res.log_z;
        if (run == 0) runs[3 * EVAE_AIS_MAX_RUNS] = res.log_z0;
        L[run] = res.log_z - res.log_z0;
        ess[run] = res.ess;
        if (progress) {
            char detail[128];
            snprintf(detail, sizeof detail, "log Z = %.4f, ESS %.0f of %d chains", res.log_z,
                     res.ess, o->chains);
            progress(ctx, "AIS run", run + 1, o->runs, detail);
        }
    }
    comm->allreduce_host(comm, runs, sizeof runs / sizeof *runs);
    memcpy(r->run_log_z, lz, sizeof r->run_log_z);
    r->log_z0 = runs[3 * EVAE_AIS_MAX_RUNS];
    double mx = -INFINITY;
    for (int k = 0; k < o->runs; k++)
        if (L[k] > mx) mx = L[k];
    double s1 = 0.0, s2 = 0.0;
    for (int k = 0; k < o->runs; k++) {
        double w = exp(L[k] - mx); /* S1_k / (C e^mx) */
        s1 += w;
        s2 += w * w / ess[k];
    }
    r->log_z = r->log_z0 + mx + log(s1 / o->runs);
    r->ess = s1 * s1 / s2;
    evae_ais_run_spread(r->run_log_z, o->runs, &r->run_std, &r->std_err);
    return 0;
}
