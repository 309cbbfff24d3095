/* The whole ALB objective's gradient w.r.t. every encoder and decoder weight, against central
 * finite differences of an independent double-precision implementation (MLP encoder, reparameter-
 * ization, Bernoulli decoder, GRBM energy, analytic entropy). Also checks the ALB values. */
#define _DEFAULT_SOURCE /* M_PI under -std=c11 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "evae/math/grbm.h"
#include "evae/model/objective.h"
#include "evae/math/philox.h"

enum { B = 3, X = 7, H = 5, D = 3, N = 4 };

/* y[B,out] = act(x[B,in] W[in,out] + b) in double */
static void lin(const double *x, const double *W, const double *b, double *y, int in, int out,
                int relu)
{
    for (int r = 0; r < B; r++)
        for (int j = 0; j < out; j++) {
            double s = b[j];
            for (int i = 0; i < in; i++) s += x[r * in + i] * W[i * out + j];
            y[r * out + j] = relu && s < 0 ? 0 : s;
        }
}

static double softplus(double a) { return a > 0 ? a + log1p(exp(-a)) : log1p(exp(a)); }

/* -(1/B) sum_b ALB_b for parameters p (the model's layout), theta, inputs x, noise eps */
static double loss_double(const evae_model *m, const double *p, const double *theta,
                          const double *x, const double *eps, double *alb_out)
{
    double h1[B * H], h2[B * H], enc[B * 2 * D], z[B * D], g1[B * H], g2[B * H], lo[B * X];
    const evae_layer *e = m->enc.layers, *dl = m->dec.layers;
    lin(x, p + e[0].w_off, p + e[0].b_off, h1, X, H, 1);
    lin(h1, p + e[1].w_off, p + e[1].b_off, h2, H, H, 1);
    lin(h2, p + e[2].w_off, p + e[2].b_off, enc, H, 2 * D, 0);
    for (int r = 0; r < B; r++)
        for (int i = 0; i < D; i++)
            z[r * D + i] = enc[r * 2 * D + i] + exp(0.5 * enc[r * 2 * D + D + i]) * eps[r * D + i];
    lin(z, p + dl[0].w_off, p + dl[0].b_off, g1, D, H, 1);
    lin(g1, p + dl[1].w_off, p + dl[1].b_off, g2, H, H, 1);
    lin(g2, p + dl[2].w_off, p + dl[2].b_off, lo, H, X, 0);
    const double *mu = theta, *ls = theta + D, *W = theta + 2 * D, *bh = theta + 2 * D + D * N;
    double total = 0;
    for (int r = 0; r < B; r++) {
        double ll = 0, E = 0, ent = 0;
        for (int j = 0; j < X; j++) ll += x[r * X + j] * lo[r * X + j] - softplus(lo[r * X + j]);
        for (int i = 0; i < D; i++) {
            double s2 = exp(2 * ls[i]), u = z[r * D + i] - mu[i];
            E += 0.5 * u * u / s2;
            ent += 0.5 * (1 + log(2 * M_PI)) + 0.5 * enc[r * 2 * D + D + i];
        }
        for (int j = 0; j < N; j++) {
            double a = bh[j];
            for (int i = 0; i < D; i++) a += W[i * N + j] * z[r * D + i] / exp(2 * ls[i]);
            E -= softplus(a);
        }
        if (alb_out) alb_out[r] = ll - E + ent;
        total += ll - E + ent;
    }
    return -total / B;
}

int main(void)
{
    const evae_backend *be = evae_cpu_backend();
    evae_model_shape shape = {.arch = EVAE_ARCH_MLP, .channels = 1, .height = 1, .width = X,
                              .latent = D, .hidden = H, .grbm_hidden = N, .prior_grbm = 1};
    evae_model m;
    CHECK(evae_model_create(&m, be, &shape) == 0, "model");
    evae_model_init(&m, 7);
    /* a GRBM away from its initialization: sigma != 1, mu != 0, W and b of order one */
    for (size_t i = 0; i < m.n_theta; i++)
        m.theta[i] = 0.6f * evae_normal_at(11, 1, i);
    /* larger weights than the init so ReLUs switch and gradients are not tiny */
    for (size_t i = 0; i < m.n_params; i++) m.params[i] = 0.5f * evae_normal_at(11, 2, i);

    evae_workspace w;
    evae_workspace_create(&w, &m, B, 1);
    float *x = evae_ws_x(&w);
    for (int i = 0; i < B * X; i++) x[i] = evae_uniform_at(11, 3, i) < 0.5f ? 1.0f : 0.0f;
    evae_alb_forward(&m, &w, B, 5, 9, NULL);
    evae_alb_backward(&m, &w, evae_share_whole(B));

    double *p = calloc(m.n_params, sizeof(double)), theta[64], xd[B * X], eps[B * D], alb[B];
    for (size_t i = 0; i < m.n_params; i++) p[i] = m.params[i];
    for (size_t i = 0; i < m.n_theta; i++) theta[i] = m.theta[i];
    for (int i = 0; i < B * X; i++) xd[i] = x[i];
    for (int i = 0; i < B * D; i++) eps[i] = w.eps[i];

    loss_double(&m, p, theta, xd, eps, alb);
    for (int r = 0; r < B; r++) CHECK_CLOSE(w.alb[r], alb[r], 1e-4, 1e-5, "ALB value");

    /* central differences, h = 1e-5 in double: truncation O(h^2) ~ 1e-10 and rounding
     * ~1e-16/h ~ 1e-11 are far below the float gradient's own error (~1e-6 relative), so the
     * tolerance 1e-4 + 1e-3 relative measures the float code, not the check */
    const double h = 1e-5;
    double worst = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        double keep = p[i];
        p[i] = keep + h;
        double lp = loss_double(&m, p, theta, xd, eps, NULL);
        p[i] = keep - h;
        double lm = loss_double(&m, p, theta, xd, eps, NULL);
        p[i] = keep;
        double fd = (lp - lm) / (2 * h), diff = fabs(fd - m.grads[i]);
        if (diff > worst) worst = diff;
        CHECK_CLOSE(m.grads[i], fd, 1e-4, 1e-3, "dL/dparam");
    }
    printf("worst |analytic - FD| over %zu parameters: %.3g\n", m.n_params, worst);
    /* the prior's parameters get no gradient from the ALB step: theta_grad stays untouched (0) */
    double tg = 0;
    for (size_t i = 0; i < m.n_theta; i++) tg += fabs(m.theta_grad[i]);
    CHECK(tg == 0.0, "the ALB step wrote a prior gradient (%g)", tg);
    free(p);
    evae_workspace_free(&w, &m);
    evae_model_free(&m);
    return check_report("test_alb_grad");
}
