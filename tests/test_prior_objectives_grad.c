/* The prior objectives' gradients as the trainer computes them (evae_prior_fit_grad: the host
 * logic of src/model/prior_*.c over the CPU backend) against central finite differences of an
 * independent double-precision loss (grbm_reference.h): nce's loss in theta and in c, for the
 * fitted and the standard noise and noise ratios 1 and 3; snis's mean_b E(z_b) + ln Zhat; pcd's
 * energy gap with the chains it advanced; dsm's denoising loss with the noise it drew. Each also
 * checks the per-example loss (w->J) against the reference loss and the logged numbers.
 *
 * Tolerances: the objectives' weights are computed from float energies (each within a few
 * (d + n) UR of its magnitude, ~1e-6 relative) and passed through sigmoids and softmaxes whose
 * slopes are at most 1, so each weight and the gradient blocks carry ~1e-5 of their scale; 5e-5
 * of each block's largest entry leaves a few times that, while a wrong weight (a missing ratio,
 * a sign, ln q without its logvar) moves the gradient by O(1) of it. FD error ~1e-9. */
#define _DEFAULT_SOURCE /* M_PI under -std=c11 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "evae/backend/backend.h"
#include "evae/math/grbm.h"
#include "evae/math/philox.h"
#include "evae/model/grbm_exact.h"
#include "evae/model/prior_fit.h"
#include "grbm_models.h"
#include "grbm_reference.h"

enum { D = 4, NH = 3, B = 5, P = 2 * D + D * NH + NH };
static const dims DIMS = {D, NH};
static const double TOL = 5e-5;

static const evae_backend *cpu;

/* One objective on a tiny model (a 1-pixel MLP VAE around a d = 4, n = 3 GRBM): theta a
 * multimodal GRBM, the batch z = mean + exp(logvar / 2) eps with mean, logvar and eps drawn. */
typedef struct setup {
    evae_config cfg;
    evae_model m;
    evae_workspace w;
    evae_prior_fit fit;
    double th[P], z[B * D], eps[B * D], logvar[B * D];
} setup;

static void setup_make(setup *s, const char *const *overrides)
{
    evae_config_defaults(&s->cfg);
    for (int i = 0; overrides[i]; i++)
        CHECK(evae_config_set(&s->cfg, overrides[i]) == 0, "%s", overrides[i]);
    evae_model_shape shape = {.arch = EVAE_ARCH_MLP, .channels = 1, .height = 1, .width = 1,
                              .latent = D, .hidden = 1, .grbm_hidden = NH, .prior_grbm = 1};
    CHECK(evae_model_create(&s->m, cpu, &shape) == 0, "model");
    multimodal_theta(s->m.theta, D, NH, 0.8, 21);
    for (int k = 0; k < P; k++) s->th[k] = s->m.theta[k];
    evae_workspace_create(&s->w, &s->m, B, s->cfg.ssm.projections);
    evae_prior_fit_create(&s->fit, &s->m, &s->cfg, B);
    evae_prior_fit_start(&s->fit, &s->m, 3);
    float *enc = s->w.enc_act[s->m.enc.n_layers]; /* [B, 2D] = [mean | logvar] */
    for (int k = 0; k < B * D; k++) {
        int b = k / D, i = k % D;
        float mean = 0.8f * evae_normal_at(5, 1, (uint64_t)k);
        float lv = -0.6f + 0.3f * evae_normal_at(5, 2, (uint64_t)k);
        float e = evae_normal_at(5, 3, (uint64_t)k);
        enc[b * 2 * D + i] = mean;
        enc[b * 2 * D + D + i] = lv;
        s->w.eps[k] = e;
        evae_ws_z(&s->w)[k] = mean + expf(0.5f * lv) * e; /* as the reparameterization */
        s->z[k] = evae_ws_z(&s->w)[k];
        s->eps[k] = e;
        s->logvar[k] = lv;
    }
}

static void setup_free(setup *s)
{
    evae_prior_fit_free(&s->fit);
    evae_workspace_free(&s->w, &s->m);
    evae_model_free(&s->m);
}

static double mean_J(const setup *s)
{
    double t = 0.0;
    for (int b = 0; b < B; b++) t += s->w.J[b] / B;
    return t;
}

/* ---- nce ---- */
typedef struct nce_ref {
    const double *z;  /* [B, D] */
    const float *y;   /* [K, D] the noise rows the objective drew */
    int K, ratio;
    double mean[D], var[D];
    double c;
} nce_ref;

static double nce_loss(const double *th, const nce_ref *r, double c)
{
    double log_norm = 0.0, L = 0.0;
    for (int i = 0; i < D; i++) log_norm += 0.5 * log(2.0 * M_PI * r->var[i]);
    for (int k = 0; k < B + r->K; k++) {
        double u[D], q = 0.0;
        for (int i = 0; i < D; i++) {
            u[i] = k < B ? r->z[k * D + i] : r->y[(k - B) * D + i];
            q += 0.5 * (u[i] - r->mean[i]) * (u[i] - r->mean[i]) / r->var[i];
        }
        double g = -ref_energy(th, DIMS, 1.0, u) - c + q + log_norm - log((double)r->ratio);
        L += ref_softplus(k < B ? -g : g) / B;
    }
    return L;
}

static double nce_of_theta(const double *th, void *ctx)
{
    const nce_ref *r = ctx;
    return nce_loss(th, r, r->c);
}

static void test_nce(const char *noise, int ratio)
{
    char kv_noise[64], kv_ratio[64];
    snprintf(kv_noise, sizeof kv_noise, "nce.noise=%s", noise);
    snprintf(kv_ratio, sizeof kv_ratio, "nce.ratio=%d", ratio);
    const char *o[] = {"prior.objective=nce", kv_noise, kv_ratio, NULL};
    setup s;
    setup_make(&s, o);
    /* c off ln Z by 0.4, so that data and noise are told apart neither perfectly nor not at all */
    double log_z;
    evae_grbm_exact_log_z(s.m.theta, D, NH, &log_z);
    s.fit.log_z[0] = (float)(log_z + 0.4);
    evae_prior_fit_grad(&s.fit, &s.m, &s.w, evae_share_whole(B), 9, 4);
    nce_ref r = {.z = s.z, .y = s.fit.rows + B * D, .K = ratio * B, .ratio = ratio,
                 .c = s.fit.log_z[0]};
    for (int i = 0; i < D; i++) {
        double m = 0.0, v = 0.0;
        for (int b = 0; b < B; b++) m += s.z[b * D + i] / B;
        for (int b = 0; b < B; b++) v += (s.z[b * D + i] - m) * (s.z[b * D + i] - m) / B;
        int standard = strcmp(noise, "standard") == 0;
        r.mean[i] = standard ? 0.0 : m;
        r.var[i] = standard ? 1.0 : v;
    }
    /* the noise rows are N(mean, var): their sample mean within 5 standard errors */
    for (int i = 0; i < D; i++) {
        double m = 0.0;
        for (int k = 0; k < r.K; k++) m += r.y[k * D + i] / r.K;
        CHECK(fabs(m - r.mean[i]) < 5.0 * sqrt(r.var[i] / r.K), "nce %s noise mean[%d] %.3f, "
              "want %.3f", noise, i, m, r.mean[i]);
    }
    double fd[P], L = nce_loss(s.th, &r, r.c);
    fd_theta(s.th, P, nce_of_theta, &r, fd);
    char what[64];
    snprintf(what, sizeof what, "nce %s ratio %d dL/dtheta", noise, ratio);
    check_blocks(DIMS, s.m.theta_grad, fd, TOL, what);
    const double h = 1e-5;
    double fd_c = (nce_loss(s.th, &r, r.c + h) - nce_loss(s.th, &r, r.c - h)) / (2 * h);
    snprintf(what, sizeof what, "nce %s ratio %d dL/dc", noise, ratio);
    CHECK_CLOSE(s.fit.log_z_grad[0], fd_c, TOL, TOL, what);
    snprintf(what, sizeof what, "nce %s ratio %d loss", noise, ratio);
    CHECK_CLOSE(mean_J(&s), L, TOL, TOL, what);
    double batch, epoch;
    CHECK(evae_prior_fit_aux(&s.fit, &batch, &epoch) && batch == r.c, "nce logs its c");
    setup_free(&s);
}

/* ---- snis: J = mean_b E(z_b) + logmeanexp_b(-E(z_b) - ln q(z_b|x_b)) ---- */
typedef struct snis_ref {
    const double *z, *log_q;
} snis_ref;

static double snis_loss(const double *th, void *ctx)
{
    const snis_ref *r = ctx;
    double l[B], mx = -INFINITY, mean_e = 0.0, s = 0.0;
    for (int b = 0; b < B; b++) {
        double e = ref_energy(th, DIMS, 1.0, r->z + b * D);
        mean_e += e / B;
        l[b] = -e - r->log_q[b];
        mx = fmax(mx, l[b]);
    }
    for (int b = 0; b < B; b++) s += exp(l[b] - mx);
    return mean_e + mx + log(s / B);
}

static void test_snis(void)
{
    const char *o[] = {"prior.objective=snis", NULL};
    setup s;
    setup_make(&s, o);
    double log_q[B];
    for (int b = 0; b < B; b++) { /* ln N(z; mean, exp(logvar)) written out */
        log_q[b] = 0.0;
        for (int i = 0; i < D; i++) {
            double var = exp(s.logvar[b * D + i]), t = s.eps[b * D + i] * sqrt(var);
            log_q[b] -= 0.5 * (t * t / var + log(2.0 * M_PI * var));
        }
    }
    evae_prior_fit_grad(&s.fit, &s.m, &s.w, evae_share_whole(B), 9, 4);
    snis_ref r = {s.z, log_q};
    double fd[P];
    fd_theta(s.th, P, snis_loss, &r, fd);
    check_blocks(DIMS, s.m.theta_grad, fd, TOL, "snis dJ/dtheta");
    CHECK_CLOSE(mean_J(&s), snis_loss(s.th, &r), TOL, TOL, "snis loss");
    double batch, epoch, mean_e = 0.0;
    for (int b = 0; b < B; b++) mean_e += ref_energy(s.th, DIMS, 1.0, s.z + b * D) / B;
    CHECK(evae_prior_fit_aux(&s.fit, &batch, &epoch) != NULL, "snis logs ln Zhat");
    CHECK_CLOSE(batch, snis_loss(s.th, &r) - mean_e, TOL, TOL, "snis ln Zhat");
    setup_free(&s);
}

/* ---- pcd: mean_b E(z_b) - mean_c E(y_c) with the chains y it advanced ---- */
typedef struct pcd_ref {
    const double *z;
    const float *y;
    int C;
} pcd_ref;

static double pcd_gap(const double *th, void *ctx)
{
    const pcd_ref *r = ctx;
    double gap = 0.0, y[D];
    for (int b = 0; b < B; b++) gap += ref_energy(th, DIMS, 1.0, r->z + b * D) / B;
    for (int c = 0; c < r->C; c++) {
        for (int i = 0; i < D; i++) y[i] = r->y[c * D + i];
        gap -= ref_energy(th, DIMS, 1.0, y) / r->C;
    }
    return gap;
}

static void test_pcd(const char *sampler)
{
    char kv[64];
    snprintf(kv, sizeof kv, "pcd.sampler=%s", sampler);
    const char *o[] = {"prior.objective=pcd", "pcd.chains=7", "pcd.steps=3", kv, NULL};
    setup s;
    setup_make(&s, o);
    float start[7 * D];
    memcpy(start, s.fit.chains, sizeof start);
    evae_prior_fit_grad(&s.fit, &s.m, &s.w, evae_share_whole(B), 9, 4);
    CHECK(memcmp(start, s.fit.chains, sizeof start) != 0, "pcd %s: the chains moved", sampler);
    pcd_ref r = {s.z, s.fit.chains, 7};
    double fd[P];
    fd_theta(s.th, P, pcd_gap, &r, fd);
    char what[64];
    snprintf(what, sizeof what, "pcd %s gradient", sampler);
    check_blocks(DIMS, s.m.theta_grad, fd, TOL, what);
    snprintf(what, sizeof what, "pcd %s energy gap", sampler);
    CHECK_CLOSE(mean_J(&s), pcd_gap(s.th, &r), TOL, TOL, what);
    setup_free(&s);
}

/* ---- dsm: mean_b 0.5 |s(z_b + s_n eps_b) + eps_b / s_n|^2 with its eps regenerated ---- */
typedef struct dsm_ref {
    const double *z;
    const float *eps;
    double noise;
} dsm_ref;

static double dsm_loss(const double *th, void *ctx)
{
    const dsm_ref *r = ctx;
    double L = 0.0, zt[D], sc[D];
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < D; i++) zt[i] = r->z[b * D + i] + r->noise * r->eps[b * D + i];
        ref_score(th, DIMS, zt, sc);
        for (int i = 0; i < D; i++) {
            double t = sc[i] + r->eps[b * D + i] / r->noise;
            L += 0.5 * t * t / B;
        }
    }
    return L;
}

static void test_dsm(void)
{
    const char *o[] = {"prior.objective=dsm", "dsm.noise=0.3", NULL};
    setup s;
    setup_make(&s, o);
    const uint64_t step = 4;
    evae_prior_fit_grad(&s.fit, &s.m, &s.w, evae_share_whole(B), 9, step);
    float eps[B * D]; /* the documented stream of the noise */
    evae_fill_normal(eps, B * D, 9, evae_stream(EVAE_STREAM_DSM_NOISE, step), 0);
    dsm_ref r = {s.z, eps, 0.3};
    double fd[P];
    fd_theta(s.th, P, dsm_loss, &r, fd);
    check_blocks(DIMS, s.m.theta_grad, fd, TOL, "dsm gradient");
    /* the loss is ~(1/s_n)^2 d / 2 larger than its gradient's scale: relative to itself */
    CHECK_CLOSE(mean_J(&s), dsm_loss(s.th, &r), 0.0, TOL, "dsm loss");
    setup_free(&s);
}

/* the test switch: the gradient times test_gradient_sign */
static void test_sign_switch(void)
{
    const char *o[] = {"prior.objective=nce", NULL};
    setup s;
    setup_make(&s, o);
    evae_prior_fit_grad(&s.fit, &s.m, &s.w, evae_share_whole(B), 9, 4);
    float g[P], gc = s.fit.log_z_grad[0];
    memcpy(g, s.m.theta_grad, sizeof g);
    s.fit.test_gradient_sign = -1.0f;
    evae_prior_fit_grad(&s.fit, &s.m, &s.w, evae_share_whole(B), 9, 4);
    int flipped = s.fit.log_z_grad[0] == -gc;
    for (int k = 0; k < P; k++) flipped &= s.m.theta_grad[k] == -g[k];
    CHECK(flipped, "test_gradient_sign = -1 negates every gradient");
    setup_free(&s);
}

int main(void)
{
    cpu = evae_cpu_backend();
    test_nce("fitted", 1);
    test_nce("fitted", 3);
    test_nce("standard", 1);
    test_nce("standard", 3);
    test_snis();
    test_pcd("gibbs");
    test_pcd("langevin");
    test_dsm();
    test_sign_switch();
    return check_report("test_prior_objectives_grad");
}
