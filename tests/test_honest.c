/* The held-out ELBO of evae/eval/honest.h on given per-example ALBs:
 *  - N(0, I) prior: log Z exact, ELBO = mean ALB - (d/2) ln 2pi - ln 2, SE = sd / sqrt(n);
 *  - GRBM prior small enough to enumerate: AIS's log Z against the exact one (the bound of
 *    test_ais.c: 4 SEs plus a float32 floor), the total SE = sqrt(SE_examples^2 + SE_logZ^2),
 *    bits/dim and their SE from the per-example transform, all against values computed here;
 *  - its draws come from its own stream purpose: the same options under purpose EVAL give a
 *    different estimate, and the same purpose the same, bit for bit. */
#define _DEFAULT_SOURCE /* M_PI under -std=c11 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "evae/backend/backend.h"
#include "evae/eval/honest.h"
#include "evae/model/grbm_exact.h"
#include "grbm_models.h"

enum { d = 4, n = 10, N_EX = 200 };

static evae_model tiny_model(int grbm)
{
    evae_model_shape s = {.arch = EVAE_ARCH_MLP, .channels = 1, .height = 2, .width = 3,
                          .latent = d, .hidden = 8, .grbm_hidden = n, .prior_grbm = grbm};
    evae_model m;
    if (evae_model_create(&m, evae_cpu_backend(), &s)) exit(1);
    return m;
}

static void mean_sd(const double *v, int count, double *mean, double *sd)
{
    double s = 0, ss = 0;
    for (int i = 0; i < count; i++) s += v[i];
    *mean = s / count;
    for (int i = 0; i < count; i++) ss += (v[i] - *mean) * (v[i] - *mean);
    *sd = sqrt(ss / (count - 1));
}

int main(void)
{
    double alb[N_EX], log_det[N_EX];
    for (int e = 0; e < N_EX; e++) {
        alb[e] = -90.0 + 6.0 * sin(0.37 * e) + 0.1 * e / N_EX;
        log_det[e] = -40.0 + 3.0 * cos(0.11 * e);
    }
    double m_alb, sd_alb;
    mean_sd(alb, N_EX, &m_alb, &sd_alb);

    /* N(0, I): exact log Z of its frozen GRBM (one free hidden unit) */
    evae_model g = tiny_model(0);
    evae_config cfg;
    evae_config_defaults(&cfg);
    evae_ais_opts o = evae_honest_ais_opts(&cfg);
    evae_honest h;
    CHECK(evae_honest_elbo(&g, &o, alb, NULL, N_EX, 0, &h) == 0, "N(0, I) estimate");
    double lz = 0.5 * d * log(2.0 * M_PI) + log(2.0);
    CHECK(h.lz.exact && fabs(h.lz.log_z - lz) < 1e-9, "exact log Z %.9f, want %.9f", h.lz.log_z,
          lz);
    CHECK_CLOSE(h.elbo.mean, m_alb - lz, 1e-9, 0, "N(0, I) ELBO = mean ALB - log Z");
    CHECK_CLOSE(h.std_err, sd_alb / sqrt(N_EX), 1e-12, 0, "N(0, I) SE over examples alone");
    CHECK(isnan(h.bpd_std_err) && isnan(h.elbo.bpd), "no bits/dim asked: none given");
    evae_model_free(&g);

    /* a GRBM with strong, multimodal coupling */
    evae_model m = tiny_model(1);
    float th[2 * d + d * n + n];
    multimodal_theta(th, d, n, 1.5, 11);
    m.be->upload(m.be, m.theta, th, sizeof th);
    double exact;
    CHECK(evae_grbm_exact_log_z(th, d, n, &exact) == 0, "exact log Z by enumeration");
    cfg.train.honest_ais_chains = 200;
    cfg.train.honest_ais_temperatures = 300;
    cfg.train.honest_ais_runs = 4;
    cfg.train.seed = 5;
    o = evae_honest_ais_opts(&cfg);
    CHECK(o.purpose == EVAE_STREAM_HONEST && o.seed == 5 && o.chains == 200 &&
              o.temperatures == 300 && o.runs == 4,
          "the AIS options follow train.honest_ais_* and train.seed");
    CHECK(evae_honest_elbo(&m, &o, alb, log_det, N_EX, 1, &h) == 0, "GRBM estimate");
    printf("GRBM log Z: exact %.4f, AIS %.4f +- %.4f (%.3fs)\n", exact, h.lz.log_z, h.lz.std_err,
           h.seconds);
    /* test_ais.c's bound: 4 SEs of the run spread plus 0.005 nats of float32 energies */
    CHECK(!h.lz.exact && fabs(h.lz.log_z - exact) <= 4 * h.lz.std_err + 0.005,
          "AIS log Z %.4f against exact %.4f (SE %.4f)", h.lz.log_z, exact, h.lz.std_err);
    CHECK(h.lz.std_err > 0 && h.seconds >= 0, "an SE from the runs' spread, a time");
    CHECK_CLOSE(h.elbo.mean, m_alb - h.lz.log_z, 1e-9, 0, "GRBM ELBO = mean ALB - AIS log Z");
    CHECK_CLOSE(h.elbo.std_err, sd_alb / sqrt(N_EX), 1e-12, 0, "SE over examples");
    CHECK_CLOSE(h.std_err, sqrt(sd_alb * sd_alb / N_EX + h.lz.std_err * h.lz.std_err), 1e-12, 0,
                "total SE: examples and log Z in quadrature");
    /* bits/dim per example: -(ALB - log Z + log_det) / (D ln 2) + 8, D = 6 */
    double b[N_EX], mb, sb;
    for (int e = 0; e < N_EX; e++) b[e] = -(alb[e] - h.lz.log_z + log_det[e]) / (6 * log(2.0)) + 8;
    mean_sd(b, N_EX, &mb, &sb);
    CHECK_CLOSE(h.elbo.bpd, mb, 1e-9, 0, "bits/dim of the ELBO");
    double se_lz_bpd = h.lz.std_err / (6 * log(2.0));
    CHECK_CLOSE(h.bpd_std_err, sqrt(sb * sb / N_EX + se_lz_bpd * se_lz_bpd), 1e-12, 0,
                "bits/dim SE with log Z's");

    /* its own streams: purpose EVAL (evae eval's) draws otherwise; the same purpose repeats */
    evae_honest again, other;
    CHECK(evae_honest_elbo(&m, &o, alb, log_det, N_EX, 1, &again) == 0 &&
              again.lz.log_z == h.lz.log_z && again.std_err == h.std_err,
          "the same estimate twice, bit for bit");
    evae_ais_opts eval_purpose = o;
    eval_purpose.purpose = EVAE_STREAM_EVAL;
    CHECK(evae_honest_elbo(&m, &eval_purpose, alb, log_det, N_EX, 1, &other) == 0 &&
              other.lz.log_z != h.lz.log_z,
          "purpose EVAL gives other draws (%.9f vs %.9f)", other.lz.log_z, h.lz.log_z);

    /* bad options are refused with a message */
    evae_ais_opts bad = o;
    bad.temperatures = 0;
    CHECK(evae_honest_elbo(&m, &bad, alb, log_det, N_EX, 1, &other) != 0, "bad AIS options");
    evae_model_free(&m);
    return check_report("test_honest");
}
