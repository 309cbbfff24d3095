/* The held-out ELBO during training (evae/eval/honest.h). */
#include "evae/eval/honest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/util.h"

evae_ais_opts evae_honest_ais_opts(const evae_config *cfg)
{
    evae_ais_opts o = evae_ais_default_opts();
    o.chains = cfg->train.honest_ais_chains;
    o.temperatures = cfg->train.honest_ais_temperatures;
    o.runs = cfg->train.honest_ais_runs;
    o.seed = (uint64_t)cfg->train.seed;
    o.purpose = EVAE_STREAM_HONEST;
    return o;
}

int evae_honest_elbo(const evae_model *m, const evae_ais_opts *o, const double *alb,
                     const double *log_det, int n, int bits_per_dim, evae_honest *r)
{
    memset(r, 0, sizeof *r);
    double t0 = evae_now();
    /* one process's estimate: the trainer's rank 0 alone makes it */
    static evae_comm *one; /* reachable until exit */
    if (!one) one = evae_comm_none();
    if (evae_eval_log_z(m, o, &r->lz, NULL, NULL, one)) return 1;
    r->seconds = evae_now() - t0;
    const double se_log_z = r->lz.exact ? 0.0 : r->lz.std_err;
    double *v = evae_xcalloc((size_t)n, sizeof(double)); /* [n] ALB - log Z per example */
    for (int e = 0; e < n; e++) v[e] = alb[e] - r->lz.log_z;
    evae_quantity_of(&r->elbo, v, log_det, n, m->x_dim, bits_per_dim);
    free(v);
    r->std_err = sqrt(r->elbo.std_err * r->elbo.std_err + se_log_z * se_log_z);
    r->bpd_std_err = NAN;
    if (bits_per_dim) {
        /* bits/dim is -ln p / (D ln 2) + 8: log Z's error scales by 1 / (D ln 2) */
        double se_bpd_log_z = se_log_z / ((double)m->x_dim * log(2.0));
        r->bpd_std_err = sqrt(r->elbo.bpd_std_err * r->elbo.bpd_std_err +
                              se_bpd_log_z * se_bpd_log_z);
    }
    return 0;
}

void evae_honest_add_metrics(const evae_honest *h, const char *heldout_name, cJSON *o)
{
    char key[96];
    snprintf(key, sizeof key, "%s_elbo", heldout_name);
    cJSON_AddNumberToObject(o, key, h->elbo.mean);
    snprintf(key, sizeof key, "%s_elbo_std_err", heldout_name);
    cJSON_AddNumberToObject(o, key, h->std_err);
    if (!isnan(h->bpd_std_err)) {
        snprintf(key, sizeof key, "%s_elbo_bpd", heldout_name);
        cJSON_AddNumberToObject(o, key, h->elbo.bpd);
        snprintf(key, sizeof key, "%s_elbo_bpd_std_err", heldout_name);
        cJSON_AddNumberToObject(o, key, h->bpd_std_err);
    }
    cJSON_AddNumberToObject(o, "log_z", h->lz.log_z);
    cJSON_AddNumberToObject(o, "log_z_std_err", h->lz.exact ? 0.0 : h->lz.std_err);
    cJSON_AddNumberToObject(o, "honest_time_s", h->seconds);
}

void evae_honest_format(const evae_honest *h, char *buf, size_t cap)
{
    char bpd[64] = "";
    if (!isnan(h->bpd_std_err))
        snprintf(bpd, sizeof bpd, " = %.4f ± %.4f bits/dim", h->elbo.bpd, h->bpd_std_err);
    if (h->lz.exact)
        snprintf(buf, cap, " ± %.2f%s (exact log Z %.2f)", h->std_err, bpd, h->lz.log_z);
    else
        snprintf(buf, cap, ", ELBO %.2f ± %.2f%s (AIS log Z %.2f ± %.2f, %.2fs)", h->elbo.mean,
                 h->std_err, bpd, h->lz.log_z, h->lz.std_err, h->seconds);
}
