/* Each VAE op's backward on its own, against central finite differences of an independent
 * double-precision formula: linear layer (+ bias), ReLU, Bernoulli log-likelihood,
 * reparameterization with the analytic entropy. (test_alb_grad checks them composed.) */
#define _DEFAULT_SOURCE /* M_PI */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "evae/backend/backend.h"
#include "evae/model/network.h"
#include "evae/math/philox.h"

enum { B = 4, IN = 6, OUT = 5, D = 3 };
static const double h = 1e-5; /* central differences: truncation ~h^2, rounding ~1e-16/h */

static double gsum(const double *G, const double *y, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += G[i] * y[i];
    return s;
}

/* L = sum G .* relu(x W + b) in double */
static double linear_loss(const double *x, const double *W, const double *b, const double *G,
                          int relu)
{
    double y[B * OUT];
    for (int r = 0; r < B; r++)
        for (int j = 0; j < OUT; j++) {
            double s = b[j];
            for (int i = 0; i < IN; i++) s += x[r * IN + i] * W[i * OUT + j];
            y[r * OUT + j] = relu && s < 0 ? 0 : s;
        }
    return gsum(G, y, B * OUT);
}

static void check_linear(const evae_backend *be, int relu)
{
    evae_network net;
    size_t off = 0;
    evae_net_begin(&net, &off);
    evae_net_linear(&net, &off, IN, OUT, relu);
    float p[IN * OUT + OUT], g[IN * OUT + OUT], x[B * IN], y[B * OUT], dy[B * OUT], dx[B * IN];
    float s0[B * OUT], s1[B * OUT];
    double pd[IN * OUT + OUT], xd[B * IN], G[B * OUT];
    for (size_t i = 0; i < off; i++) pd[i] = p[i] = evae_normal_at(3, 1, i);
    for (int i = 0; i < B * IN; i++) xd[i] = x[i] = evae_normal_at(3, 2, i);
    for (int i = 0; i < B * OUT; i++) G[i] = dy[i] = evae_normal_at(3, 3, i);
    float *acts[2] = {x, y}, *scratch[2] = {s0, s1};
    evae_net_forward(be, &net, p, acts, B);
    evae_net_backward(be, &net, p, acts, dy, g, dx, scratch, B);
    const evae_layer *L = &net.layers[0];
    for (size_t i = 0; i < off; i++) {
        double keep = pd[i];
        pd[i] = keep + h;
        double lp = linear_loss(xd, pd + L->w_off, pd + L->b_off, G, relu);
        pd[i] = keep - h;
        double lm = linear_loss(xd, pd + L->w_off, pd + L->b_off, G, relu);
        pd[i] = keep;
        CHECK_CLOSE(g[i], (lp - lm) / (2 * h), 1e-4, 1e-4, relu ? "relu layer dparam" : "dparam");
    }
    for (int i = 0; i < B * IN; i++) {
        double keep = xd[i];
        xd[i] = keep + h;
        double lp = linear_loss(xd, pd + L->w_off, pd + L->b_off, G, relu);
        xd[i] = keep - h;
        double lm = linear_loss(xd, pd + L->w_off, pd + L->b_off, G, relu);
        xd[i] = keep;
        CHECK_CLOSE(dx[i], (lp - lm) / (2 * h), 1e-4, 1e-4, relu ? "relu layer dx" : "dx");
    }
}

static double bern_loss(const double *l, const float *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i] * l[i] - (l[i] > 0 ? l[i] + log1p(exp(-l[i])) : log1p(exp(l[i])));
    return s;
}

static void check_bernoulli(const evae_backend *be)
{
    enum { N = B * IN };
    float l[N], x[N], ll[B], dl[N];
    double ld[N];
    for (int i = 0; i < N; i++) {
        ld[i] = l[i] = 4.0f * evae_normal_at(4, 1, i); /* includes large |logits| */
        x[i] = evae_uniform_at(4, 2, i) < 0.5f;
    }
    be->bernoulli_ll(be, ll, dl, l, x, B, IN, 1.0f);
    for (int r = 0; r < B; r++)
        CHECK_CLOSE(ll[r], bern_loss(ld + r * IN, x + r * IN, IN), 1e-5, 1e-6, "ll value");
    for (int i = 0; i < N; i++) {
        double keep = ld[i];
        ld[i] = keep + h;
        double lp = bern_loss(ld, x, N);
        ld[i] = keep - h;
        double lm = bern_loss(ld, x, N);
        ld[i] = keep;
        CHECK_CLOSE(dl[i], (lp - lm) / (2 * h), 1e-5, 1e-4, "dll/dlogit");
    }
}

/* L = sum G .* z + c * sum entropy, z = mean + exp(logvar/2) eps */
static double reparam_loss(const double *enc, const float *eps, const double *G, double c)
{
    double s = 0;
    for (int r = 0; r < B; r++)
        for (int i = 0; i < D; i++) {
            double mean = enc[r * 2 * D + i], lv = enc[r * 2 * D + D + i];
            s += G[r * D + i] * (mean + exp(0.5 * lv) * eps[r * D + i]);
            s += c * 0.5 * (1 + log(2 * M_PI) + lv);
        }
    return s;
}

static void check_reparam(const evae_backend *be)
{
    float enc[B * 2 * D], eps[B * D], z[B * D], dz[B * D], ent[B], denc[B * 2 * D];
    double encd[B * 2 * D], G[B * D];
    const double c = -0.7; /* dL/d(entropy) */
    for (int i = 0; i < B * 2 * D; i++) encd[i] = enc[i] = evae_normal_at(5, 1, i);
    for (int i = 0; i < B * D; i++) {
        eps[i] = evae_normal_at(5, 2, i);
        G[i] = dz[i] = evae_normal_at(5, 3, i);
    }
    be->reparam(be, z, enc, eps, B, D);
    be->gauss_posterior(be, ent, denc, enc, eps, dz, B, D, (float)c);
    for (int r = 0; r < B; r++) {
        double e = 0;
        for (int i = 0; i < D; i++) {
            CHECK_CLOSE(z[r * D + i], encd[r * 2 * D + i] + exp(0.5 * encd[r * 2 * D + D + i]) * eps[r * D + i], 1e-6, 1e-6, "z");
            e += 0.5 * (1 + log(2 * M_PI) + encd[r * 2 * D + D + i]);
        }
        CHECK_CLOSE(ent[r], e, 1e-5, 1e-6, "entropy");
    }
    for (int i = 0; i < B * 2 * D; i++) {
        double keep = encd[i];
        encd[i] = keep + h;
        double lp = reparam_loss(encd, eps, G, c);
        encd[i] = keep - h;
        double lm = reparam_loss(encd, eps, G, c);
        encd[i] = keep;
        CHECK_CLOSE(denc[i], (lp - lm) / (2 * h), 1e-5, 1e-4, "dL/d(mean, logvar)");
    }
}

int main(void)
{
    const evae_backend *be = evae_cpu_backend();
    check_linear(be, 0);
    check_linear(be, 1);
    check_bernoulli(be);
    check_reparam(be);
    return check_report("test_vae_ops_grad");
}
