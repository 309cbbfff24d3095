/* Annealed importance sampling for the GRBM's log Z (evae/eval/ais.h). */
#include "evae/eval/ais.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evae/math/grbm.h"
#include "evae/math/philox.h"
#include "evae/util.h"

evae_ais_opts evae_ais_default_opts(void)
{
    evae_ais_opts o;
    memset(&o, 0, sizeof o);
    o.chains = 1000;
    o.temperatures = 1000;
    o.schedule = EVAE_AIS_SIGMOID;
    o.sigmoid_delta = 4.0f;
    o.gibbs_steps = 1;
    o.runs = 4;
    o.seed = 1;
    o.purpose = EVAE_STREAM_EVAL;
    o.mutate_beta = 1.0f;
    return o;
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static int check_opts(const evae_ais_opts *o)
{
    if (o->chains < 1 || o->temperatures < 1 || o->gibbs_steps < 1) {
        evae_error("ais: chains (%d), temperatures (%d) and gibbs_steps (%d) must be >= 1",
                   o->chains, o->temperatures, o->gibbs_steps);
        return 1;
    }
    if (o->runs < 1 || o->runs > EVAE_AIS_MAX_RUNS) {
        evae_error("ais: runs = %d, must be in 1..%d", o->runs, EVAE_AIS_MAX_RUNS);
        return 1;
    }
    if (o->schedule != EVAE_AIS_LINEAR && o->schedule != EVAE_AIS_SIGMOID) {
        evae_error("ais: unknown schedule %d", (int)o->schedule);
        return 1;
    }
    if (o->schedule == EVAE_AIS_SIGMOID && !(o->sigmoid_delta > 0.0f)) {
        evae_error("ais: sigmoid_delta = %g, must be > 0", (double)o->sigmoid_delta);
        return 1;
    }
    if (!(o->mutate_beta > 0.0f) || !isfinite(o->mutate_beta)) {
        evae_error("ais: mutate_beta = %g, must be a positive number (1 outside tests)",
                   (double)o->mutate_beta);
        return 1;
    }
    return 0;
}

int evae_ais_betas(const evae_ais_opts *o, double *beta)
{
    if (check_opts(o)) return 1;
    const int K = o->temperatures;
    if (o->schedule == EVAE_AIS_LINEAR) {
        for (int k = 0; k <= K; k++) beta[k] = (double)k / K;
    } else {
        double delta = o->sigmoid_delta;
        double s0 = sigmoid(-delta), sK = sigmoid(delta);
        for (int k = 0; k <= K; k++)
            beta[k] = (sigmoid(delta * (2.0 * k / K - 1.0)) - s0) / (sK - s0);
    }
    beta[0] = 0.0; /* exact ends, whatever the rounding */
    beta[K] = 1.0;
    return 0;
}

/* ln mean exp(x[i]) over count values */
static double log_mean_exp(const double *x, size_t count)
{
    double mx = -INFINITY;
    for (size_t i = 0; i < count; i++)
        if (x[i] > mx) mx = x[i];
    double s = 0.0;
    for (size_t i = 0; i < count; i++) s += exp(x[i] - mx);
    return mx + log(s / (double)count);
}

void evae_ais_run_spread(const double *run_log_z, int runs, double *run_std, double *std_err)
{
    if (runs < 2) {
        *run_std = *std_err = NAN;
        return;
    }
    double mean = 0.0, var = 0.0;
    for (int k = 0; k < runs; k++) mean += run_log_z[k] / runs;
    for (int k = 0; k < runs; k++)
        var += (run_log_z[k] - mean) * (run_log_z[k] - mean) / (runs - 1);
    *run_std = sqrt(var);
    *std_err = *run_std / sqrt((double)runs);
}

static uint64_t ais_stream(enum evae_stream_purpose purpose, int run, int k)
{
    return evae_stream(purpose, (1ull << 47) | ((uint64_t)run << 32) | (uint64_t)k);
}

int evae_ais_log_z(const evae_backend *be, const float *theta, int d, int n,
                   const evae_ais_opts *o, evae_ais_result *r)
{
    if (check_opts(o)) return 1;
    if (d <= 0 || n <= 0) {
        evae_error("ais: d = %d, n = %d must be positive", d, n);
        return 1;
    }
    const int K = o->temperatures, C = o->chains;
    double *beta = evae_xcalloc((size_t)K + 1, sizeof(double));
    evae_ais_betas(o, beta);

    memset(r, 0, sizeof *r);
    r->runs = o->runs;
    r->total_chains = C * o->runs;
    /* log Z_0 = (d/2) ln 2pi + sum ln sigma + n ln 2 */
    float *log_sigma = evae_xcalloc((size_t)d, sizeof(float)); /* log_sigma[d], host */
    be->download(be, log_sigma, theta + evae_grbm_log_sigma(d, n), sizeof(float) * (size_t)d);
    r->log_z0 = 0.5 * d * log(2.0 * 3.14159265358979323846) + n * log(2.0);
    for (int i = 0; i < d; i++) r->log_z0 += log_sigma[i];
    free(log_sigma);

    const size_t nw = (size_t)C * o->runs;
    float *z = be->alloc(be, sizeof(float) * (size_t)C * d);     /* z[C,d], backend */
    float *E_prev = be->alloc(be, sizeof(float) * (size_t)C);    /* E_prev[C], backend */
    float *E_cur = be->alloc(be, sizeof(float) * (size_t)C);     /* E_cur[C], backend */
    double *log_w_dev = be->alloc(be, sizeof(double) * nw);      /* [runs, C], backend, zeros */
    double *log_w = evae_xcalloc(nw, sizeof(double));            /* [runs, C], host */

    for (int run = 0; run < o->runs; run++) {
        double *lw_dev = log_w_dev + (size_t)run * C; /* lw_dev[C], backend */
        double *lw = log_w + (size_t)run * C;         /* lw[C], host */
        /* exact base samples: at beta = 0, z | h is N(mu, sigma^2) whatever h and z were */
        be->grbm_gibbs(be, theta, d, n, z, C, 1, 0.0f, o->seed, ais_stream(o->purpose, run, 0));
        for (int k = 1; k <= K; k++) {
            /* log w += ln f_{beta_k}(z) - ln f_{beta_{k-1}}(z) at the current z, on the backend:
             * nothing comes back to the host until the run ends */
            be->grbm_energy(be, theta, d, n, (float)beta[k - 1], z, C, E_prev, NULL);
            be->grbm_energy(be, theta, d, n, (float)beta[k], z, C, E_cur, NULL);
            be->accumulate_diff(be, lw_dev, E_prev, E_cur, (size_t)C);
            /* move z with a kernel that leaves p_{beta_k} invariant (none needed after the last) */
            if (k < K)
                be->grbm_gibbs(be, theta, d, n, z, C, o->gibbs_steps,
                               (float)(beta[k] * o->mutate_beta), o->seed,
                               ais_stream(o->purpose, run, k));
        }
        be->download(be, lw, lw_dev, sizeof(double) * (size_t)C); /* the run's one read */
        r->run_log_z[run] = r->log_z0 + log_mean_exp(lw, (size_t)C);
    }

    r->log_z = r->log_z0 + log_mean_exp(log_w, nw);
    /* ESS = (sum w)^2 / sum w^2, scaled by the largest weight to stay finite */
    double mx = -INFINITY, s1 = 0.0, s2 = 0.0;
    for (size_t i = 0; i < nw; i++)
        if (log_w[i] > mx) mx = log_w[i];
    for (size_t i = 0; i < nw; i++) {
        double w = exp(log_w[i] - mx);
        s1 += w;
        s2 += w * w;
    }
    r->ess = s1 * s1 / s2;
    evae_ais_run_spread(r->run_log_z, o->runs, &r->run_std, &r->std_err);

    be->free(be, z);
    be->free(be, E_prev);
    be->free(be, E_cur);
    be->free(be, log_w_dev);
    free(log_w);
    free(beta);
    return 0;
}
