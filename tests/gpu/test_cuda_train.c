/* The first training step of the real models at the paper's batch sizes on both backends, from the
 * same initialization, batch and noise (every draw is Philox at the same (seed, stream, index)):
 * the MNIST MLP with the GRBM prior at B = 512 and the CIFAR-10 conv model with the calibrated
 * Laplace decoder (cuDNN convolutions, the 512 x 128 GRBM's general path) at B = 1024. Compared
 * directly, before any Adam step (Adam's first step is invariant to the gradient's scale, so
 * parameters after it cannot show a gradient off by a constant factor):
 *  1. the forward pass (evae_alb_forward): the model input, encoder output, noise, z, decoder
 *     output, ln p(x|z), its gradient, E(z), the entropy and the ALB, each within the difference
 *     the float32 rounding of both backends allows, propagated through the network from the input
 *     (net_bounds.h, grbm_bounds.h, and the op tolerances of tests/ops);
 *  2. the VAE's gradient m->grads (evae_alb_backward) with both backends holding the CPU's
 *     forward activations, so the ReLU masks are the same and the bound is that of the backward
 *     pass alone (net_bounds.h);
 *  3. the prior's gradient m->theta_grad from the score-matching step on those same z: the
 *     projections drawn by evae_ssm_step on each backend (compared within rand_normal's bound),
 *     then the CUDA op on the CPU's projections, within the op's bound (grbm_bounds.h).
 * The test also checks that its bounds are tight enough to matter: in every layer, half the
 * gradient entries or more must have a bound below a third of their size, so that a gradient
 * 1.5 times too large fails there. Under compute-sanitizer (EVAE_SANITIZER_RUN=1) the batches
 * are 32 and 8 (the sanitizer sees evae's kernels only; the shapes change nothing in them). The
 * CPU's share (its step and the bounds' products) took under a minute on a shared 2-core machine.
 * Exits 77 (skipped) without a CUDA device. */
#include "../run_helpers.h"

#include "gpu_compare.h"

#ifdef EVAE_HAVE_CUDA

#include "evae/cli/run.h"
#include "evae/data/logit.h"
#include "evae/math/grbm.h"
#include "evae/model/input.h"
#include "evae/model/laplace.h"
#include "evae/model/objective.h"
#include "gpu/grbm_bounds.h"
#include "gpu/net_bounds.h"

/* one backend's model, workspace, resident training set and batch rows */
typedef struct side {
    const evae_backend *be;
    evae_model m;
    evae_workspace w;
    float *data; /* [n, x_dim] the training set on be */
    int *idx;    /* [B] the batch's rows, on be */
    float scale; /* the Laplace scale the forward calibrated (1 for MNIST) */
} side;

static void side_create(side *s, const evae_backend *be, const evae_config *cfg,
                        const evae_dataset *tr, const int *idx, int B)
{
    s->be = be;
    evae_model_shape shape = evae_shape_from_config(cfg, tr->channels, tr->height, tr->width);
    if (evae_model_create(&s->m, be, &shape)) exit(1);
    evae_model_init(&s->m, (uint64_t)cfg->train.seed);
    evae_workspace_create(&s->w, &s->m, B, cfg->ssm.projections);
    s->data = evae_upload_dataset(be, tr, s->m.decoder == EVAE_DEC_BERNOULLI);
    s->idx = be->alloc(be, (size_t)B * sizeof(int));
    be->upload(be, s->idx, idx, (size_t)B * sizeof(int));
}

static void side_free(side *s)
{
    s->be->free(s->be, s->data);
    s->be->free(s->be, s->idx);
    evae_workspace_free(&s->w, &s->m);
    evae_model_free(&s->m);
}

/* the first step's forward pass as evae_train_step runs it (global step 0) */
static void forward(side *s, const evae_config *cfg, int B)
{
    const evae_backend *be = s->be;
    const uint64_t seed = (uint64_t)cfg->train.seed;
    be->gather_rows(be, s->w.p, s->data, s->idx, B, s->m.x_dim);
    evae_prepare_input(&s->m, &s->w, evae_share_whole(B), seed,
                       evae_stream(EVAE_STREAM_BINARIZE, 0));
    s->scale = s->m.laplace_scale;
    evae_alb_forward(&s->m, &s->w, B, seed, evae_stream(EVAE_STREAM_REPARAM, 0),
                     s->m.decoder == EVAE_DEC_LAPLACE ? &s->scale : NULL);
}

/* got (CUDA memory) against want (the CPU's, host) within tol (float bounds) */
static void expect_within(const char *model, const char *what, const float *got_dev,
                          const float *want, const float *tol, size_t n)
{
    float *got = get(cu, got_dev, n);
    double *t = xmalloc(n * sizeof(double));
    for (size_t k = 0; k < n; k++) t[k] = tol[k];
    char label[128];
    snprintf(label, sizeof label, "%s: %s", model, what);
    expect_close(label, got, want, n, t, 0, 0);
    free(got), free(t);
}

/* ---- 1. the forward pass ---- */

/* nb_tol of V[n] (float bounds for expect_within) */
static float *tols_of(const float *V, size_t n)
{
    float *t = xmalloc(n * sizeof(float));
    for (size_t k = 0; k < n; k++) t[k] = (float)nb_tol(V[k]);
    return t;
}

/* Every forward value of the CUDA side against the CPU's, within the bound of net_bounds.h
 * propagated from the model input (the same bits for MNIST, logit_dequantize's bound for
 * CIFAR-10). An op's own worst-case bound from tests/ops (T for both sides) enters as one bounded
 * term of T / (2 UR) per side; where two errors share roundings their square roots add. */
static void compare_forward(const char *model, side *c, side *g, int B)
{
    const evae_model *m = &c->m;
    const evae_workspace *w = &c->w;
    const int d = m->d, D = m->x_dim, Le = m->enc.n_layers, Ld = m->dec.n_layers;
    const size_t nx = (size_t)B * D, nz = (size_t)B * d;
    const float *params = m->params; /* CPU memory is host memory */
    const float *x = evae_ws_x(w);
    double *lam0 = NULL;       /* [B] the input's error (independent per pixel) */
    float *Vx = NULL;          /* [B, D] */
    if (m->decoder == EVAE_DEC_BERNOULLI) { /* binarize: the same uniforms, bit for bit */
        float *h = get(cu, evae_ws_x(&g->w), nx);
        char label[96];
        snprintf(label, sizeof label, "%s: binarized input", model);
        expect_equal(label, h, x, nx);
        free(h);
    } else { /* logit_dequantize: tests/ops' bound */
        float *tx = xmalloc(nx * sizeof(float));
        Vx = xmalloc(nx * sizeof(float)), lam0 = xmalloc((size_t)B * sizeof(double));
        const double alpha = EVAE_LOGIT_ALPHA;
        for (int b = 0; b < B; b++) {
            lam0[b] = 0.0;
            for (int j = 0; j < D; j++) {
                size_t k = (size_t)b * D + j;
                double s = alpha + (1.0 - 2.0 * alpha) / 256.0 * ((double)w->p[k] + w->u[k]);
                double t = 4.0 * UR * (3.0 / (1.0 - s) + 2.0 * (fabs(log(s)) + fabs(log1p(-s))) +
                                       fabs((double)x[k]));
                tx[k] = (float)t;
                Vx[k] = (float)(t * t / (4.0 * UR * UR));
                lam0[b] = fmax(lam0[b], Vx[k]);
            }
        }
        expect_within(model, "dequantized input", evae_ws_x(&g->w), x, tx, nx);
        free(tx);
    }
    /* encoder */
    nb_err ee = nb_forward(&m->enc, params, w->enc_act, lam0, B); /* [B, 2d] */
    const float *enc = w->enc_act[Le];
    float *t = tols_of(ee.V, 2 * nz);
    expect_within(model, "encoder output", g->w.enc_act[Le], enc, t, 2 * nz);
    free(t);
    /* the reparameterization noise: tests/ops' bound of rand_normal, 16 UR |eps| */
    float *teps = xmalloc(nz * sizeof(float));
    for (size_t k = 0; k < nz; k++) teps[k] = (float)(1e-30 + 16.0 * UR * fabs((double)w->eps[k]));
    expect_within(model, "eps", g->w.eps, w->eps, teps, nz);
    free(teps);
    /* z = mean + e eps, e = exp(lv / 2): its error is J (e_mean, e_lv) + e e_eps + reparam's own
     * (tests/ops: 4 UR (|mean| + 4 |e eps| + |z|)), J = [I diag(e eps / 2)] */
    nb_err ez = nb_err_new(B, (size_t)d);
    for (int b = 0; b < B; b++) {
        double jmax = 0.0, fresh = 0.0;
        for (int i = 0; i < d; i++) {
            size_t k = (size_t)b * d + i, e = (size_t)b * 2 * d + i;
            double ex = exp(0.5 * enc[e + d]), ep = w->eps[k], h = 0.5 * ex * ep;
            double op = 2.0 * (fabs((double)enc[e]) + 4.0 * fabs(ex * ep) +
                               fabs((double)evae_ws_z(w)[k]));
            double other = ex * ex * 64.0 * ep * ep + op * op; /* independent of the encoder's */
            double shared = sqrt(ee.V[e]) + fabs(h) * sqrt(ee.V[e + d]);
            ez.V[k] = (float)(shared * shared + other);
            jmax = fmax(jmax, 1.0 + h * h);
            fresh = fmax(fresh, other);
        }
        ez.Lam[b] = jmax * ee.Lam[b] + fresh;
    }
    t = tols_of(ez.V, nz);
    expect_within(model, "z", evae_ws_z(&g->w), evae_ws_z(w), t, nz);
    free(t);
    /* decoder */
    nb_err el = nb_forward(&m->dec, params, w->dec_act, ez.Lam, B); /* [B, D] */
    const float *out = w->dec_act[Ld];
    t = tols_of(el.V, nx);
    expect_within(model, "decoder output", g->w.dec_act[Ld], out, t, nx);
    free(t);
    /* ln p(x|z) and its gradient dL/d(out) */
    float *tol_ll = xmalloc((size_t)B * sizeof(float)), *tol_g = xmalloc(nx * sizeof(float));
    double *r_ll = xmalloc((size_t)B * sizeof(double)); /* sqrt of its variance */
    if (m->decoder == EVAE_DEC_BERNOULLI) {
        /* ll = sum_j x l - softplus(l): error (x - p) . e_l plus tests/ops' bound 24 UR sum
         * (|x l| + softplus(l)); dlogits = -(x - p) / B: p (1 - p) e_l / B and 12 UR / B */
        for (int b = 0; b < B; b++) {
            double cc = 0.0, op = 0.0;
            for (int j = 0; j < D; j++) {
                size_t k = (size_t)b * D + j;
                double l = out[k], p = sigmoid(l), q = p * (1.0 - p) / B;
                cc += (x[k] - p) * (x[k] - p);
                op += 12.0 * (fabs(x[k] * l) + softplus(l));
                tol_g[k] = (float)nb_tol(q * q * el.V[k] + 36.0 / ((double)B * B));
            }
            r_ll[b] = sqrt(cc * el.Lam[b] + op * op);
        }
    } else {
        /* ll_b = -row_b / s - D ln(2 s), row_b = sum_j |y - mean|, s = sum_b row_b / (B D) (above
         * its floor), y the input. row_b's error: sign . (e_y - e_mean), both from the example's
         * shared roundings, plus the float rounding of its scale-1 likelihood (tests/ops); s sums
         * independent rows and rounds once; ll_b's error -e_row / s + (row / s - D) e_s / s, and
         * tests/ops' bound of laplace_ll. dmean = +-1/(B s): moves with s, and flips or vanishes
         * where |y - mean| is within the bound. */
        const double s = c->scale;
        double *r_row = xmalloc((size_t)B * sizeof(double)); /* [B] sqrt of row_b's variance */
        double *row = xmalloc((size_t)B * sizeof(double));   /* [B] row_b */
        double l1 = 0.0, V_l1 = 0.0;
        for (int b = 0; b < B; b++) {
            double sum = 0.0;
            for (size_t k = (size_t)b * D; k < (size_t)(b + 1) * D; k++)
                sum += fabs((double)x[k] - out[k]);
            double e = sqrt((double)D) * (sqrt(lam0[b]) + sqrt(el.Lam[b]));
            double op = 2.0 * (2.0 * (sum + D * log(2.0)));
            row[b] = sum, r_row[b] = e;
            l1 += sum;
            V_l1 += e * e + op * op;
        }
        const int floored = !(l1 / nx > EVAE_LAPLACE_SCALE_FLOOR);
        const double r_s = floored ? 0.0 : sqrt(V_l1) / (double)nx + s; /* units UR */
        for (int b = 0; b < B; b++) {
            double ll = -row[b] / s - D * log(2.0 * s);
            double op = 2.0 * (fabs(ll) + row[b] / s + D * fabs(log(2.0 * s)));
            r_ll[b] = r_row[b] / s + fabs(row[b] / s - D) / s * r_s + op;
            for (int j = 0; j < D; j++) {
                size_t k = (size_t)b * D + j;
                double e = fabs((double)x[k] - out[k]);
                double near = nb_tol(Vx[k] + el.V[k] + 2.0 * sqrt((double)Vx[k] * el.V[k]));
                double rg = r_s / (B * s * s) + 4.0 / (B * s);
                tol_g[k] = (float)(e <= near ? 2.0 / (B * s) + nb_tol(rg * rg) : nb_tol(rg * rg));
            }
        }
        CHECK(fabs((double)g->scale - s) <= nb_tol(r_s * r_s),
              "%s: Laplace scale %.9g, CPU %.9g (bound %.3g)", model, (double)g->scale, s,
              nb_tol(r_s * r_s));
        free(r_row), free(row);
    }
    for (int b = 0; b < B; b++) tol_ll[b] = (float)nb_tol(r_ll[b] * r_ll[b]);
    expect_within(model, "ln p(x|z)", g->w.ll, w->ll, tol_ll, (size_t)B);
    expect_within(model, "dL/d(decoder output)", g->w.dout, w->dout, tol_g, nx);
    /* E(z): grbm_bounds.h's energy variance plus that of dE/dz . e_z; the entropy
     * 0.5 sum_i (1 + ln 2pi + lv_i): 0.5 1 . e_lv plus tests/ops' bound; the ALB ll - E + ent,
     * whose parts share roundings, plus two axpy roundings (tests/ops) */
    double *VE = xmalloc((size_t)B * sizeof(double));
    energy_variance(m->theta, d, m->n, 1.0f, evae_ws_z(w), B, VE);
    float *tol_E = xmalloc((size_t)B * sizeof(float));
    float *tol_ent = xmalloc((size_t)B * sizeof(float));
    float *tol_alb = xmalloc((size_t)B * sizeof(float));
    for (int b = 0; b < B; b++) {
        double g2 = 0.0, habs = 0.0;
        for (int i = 0; i < d; i++) {
            g2 += (double)w->dEdz[(size_t)b * d + i] * w->dEdz[(size_t)b * d + i];
            habs += fabs(1.4189385332046727 + 0.5 * enc[(size_t)b * 2 * d + d + i]);
        }
        double rE = sqrt(g2 * ez.Lam[b] + VE[b]);
        double opH = (2.0 * UR * fabs((double)w->ent[b]) + 2.0 * d * DBL_EPSILON * habs) /
                     (2.0 * UR);
        double rH = 0.5 * sqrt(d * ee.Lam[b]) + opH;
        double ll = w->ll[b], E = w->E[b], ent = w->ent[b];
        double opA = 1.5 * (fabs(ll) + fabs(E) + fabs(ll - E)) +
                     1.5 * (fabs(ll - E) + fabs(ent) + fabs((double)w->alb[b]));
        double rA = r_ll[b] + rE + rH + opA;
        tol_E[b] = (float)nb_tol(rE * rE), tol_ent[b] = (float)nb_tol(rH * rH);
        tol_alb[b] = (float)nb_tol(rA * rA);
    }
    expect_within(model, "E(z)", g->w.E, w->E, tol_E, (size_t)B);
    expect_within(model, "entropy", g->w.ent, w->ent, tol_ent, (size_t)B);
    expect_within(model, "ALB", g->w.alb, w->alb, tol_alb, (size_t)B);
    nb_err_free(&ee), nb_err_free(&ez), nb_err_free(&el);
    free(lam0), free(Vx), free(tol_ll), free(tol_g), free(r_ll);
    free(VE), free(tol_E), free(tol_ent), free(tol_alb);
}

/* ---- 2. the VAE's gradient ---- */

/* The CPU's forward buffers that the backward pass reads, copied into the CUDA workspace. */
static void share_activations(const side *c, side *g, int B)
{
    const evae_model *m = &c->m;
    const size_t Bs = (size_t)B * sizeof(float);
    for (int l = 0; l <= m->enc.n_layers; l++) {
        int dim = l == 0 ? m->enc.layers[0].in_dim : m->enc.layers[l - 1].out_dim;
        cu->upload(cu, g->w.enc_act[l], c->w.enc_act[l], Bs * dim);
    }
    for (int l = 0; l <= m->dec.n_layers; l++) {
        int dim = l == 0 ? m->d : m->dec.layers[l - 1].out_dim;
        cu->upload(cu, g->w.dec_act[l], c->w.dec_act[l], Bs * dim);
    }
    cu->upload(cu, g->w.eps, c->w.eps, Bs * m->d);
    cu->upload(cu, g->w.dout, c->w.dout, Bs * m->x_dim);
    cu->upload(cu, g->w.dEdz, c->w.dEdz, Bs * m->d);
}

/* Each layer's weight (and bias) gradient: the largest |difference| / bound, and whether the
 * bounds can see a gradient 1.5 times too large (at least half its entries have a bound below
 * |g| / 3). */
static void report_layers(const char *model, const char *net_name, const evae_network *net,
                          const float *got, const float *want, const double *tol)
{
    for (int l = 0; l < net->n_layers; l++) {
        const evae_layer *L = &net->layers[l];
        size_t tight = 0, fine = 0, nonzero = 0;
        double worst = 0.0;
        for (size_t k = L->w_off; k < L->w_off + L->w_len; k++) {
            double gk = fabs((double)want[k]);
            if (gk > 0) nonzero++, tight += tol[k] < gk / 3.0, fine += tol[k] < gk / 100.0;
            worst = fmax(worst, fabs((double)got[k] - want[k]) / (tol[k] > 0 ? tol[k] : 1e-300));
        }
        printf("%s %s.%d weight: %zu entries, largest difference %.3g of its bound; of the nonzero "
               "ones %.1f%% bounded below a third of their size, %.1f%% below 1%%\n",
               model, net_name, l, L->w_len, worst, nonzero ? 100.0 * tight / nonzero : 0.0,
               nonzero ? 100.0 * fine / nonzero : 0.0);
        CHECK(2 * tight >= nonzero, "%s %s.%d weight: only %zu of %zu gradient entries have a "
              "bound below a third of their size: the test could not see a gradient 1.5 times "
              "too large", model, net_name, l, tight, nonzero);
    }
}

static void compare_vae_gradient(const char *model, side *c, side *g, int B)
{
    const evae_model *m = &c->m;
    const int d = m->d;
    const size_t P = m->n_params;
    const float inv_b = 1.0f / (float)B;
    float *g_top = xmalloc((size_t)B * m->x_dim * sizeof(float)); /* the backward eats dout */
    memcpy(g_top, c->w.dout, (size_t)B * m->x_dim * sizeof(float));
    share_activations(c, g, B);
    evae_alb_backward(&c->m, &c->w, evae_share_whole(B));
    evae_alb_backward(&g->m, &g->w, evae_share_whole(B));
    float *V = xmalloc(P * sizeof(float));
    for (size_t k = 0; k < P; k++) V[k] = NAN; /* every entry must get its bound */
    float *gin; /* [B, d] the decoder's gradient into z, and its error */
    nb_err ein;
    nb_backward(&m->dec, m->params, c->w.dec_act, g_top, NULL, B, V, &gin, &ein);
    /* dz = gin + dE/dz / B (dE/dz the same on both sides; axpy: tests/ops' bound), then
     * gauss_posterior: denc = [dz | dz h - 0.5 / B], h = exp(lv / 2) eps / 2, its own rounding
     * by tests/ops' bound; the error J e_dz + fresh terms, J = [I ; diag(h)] */
    const float *enc = c->w.enc_act[m->enc.n_layers];
    float *denc = xmalloc((size_t)B * 2 * d * sizeof(float));
    nb_err etop = nb_err_new(B, 2 * (size_t)d);
    for (int b = 0; b < B; b++) {
        double op_dz = 0.0, jmax = 0.0, fresh = 0.0;
        for (int i = 0; i < d; i++) {
            size_t k = (size_t)b * d + i, e = (size_t)b * 2 * d + i;
            double a = (double)inv_b * c->w.dEdz[k], dz = gin[k] + a;
            double op = 1.5 * (fabs(a) + fabs((double)gin[k]) + fabs(dz));
            double h = 0.5 * exp(0.5 * enc[e + d]) * c->w.eps[k];
            double op_lv = 6.0 * (fabs(dz * h) + 0.5 * inv_b);
            double Vdz = ein.V[k] + op * op;
            denc[e] = (float)dz, denc[e + d] = (float)(dz * h - 0.5 * inv_b);
            etop.V[e] = (float)Vdz, etop.V[e + d] = (float)(h * h * Vdz + op_lv * op_lv);
            op_dz = fmax(op_dz, op * op);
            jmax = fmax(jmax, 1.0 + h * h);
            fresh = fmax(fresh, op_lv * op_lv);
        }
        etop.Lam[b] = jmax * (ein.Lam[b] + op_dz) + fresh;
    }
    nb_backward(&m->enc, m->params, c->w.enc_act, denc, &etop, B, V, NULL, NULL);
    double *tol = xmalloc(P * sizeof(double));
    for (size_t k = 0; k < P; k++) tol[k] = nb_tol(V[k]);
    float *got = get(cu, g->m.grads, P);
    char label[96];
    snprintf(label, sizeof label, "%s: VAE gradient (%zu parameters)", model, P);
    expect_close(label, got, c->m.grads, P, tol, 0, 0);
    report_layers(model, "encoder", &m->enc, got, c->m.grads, tol);
    report_layers(model, "decoder", &m->dec, got, c->m.grads, tol);
    nb_err_free(&ein), nb_err_free(&etop);
    free(g_top), free(V), free(tol), free(gin), free(denc), free(got);
}

/* ---- 3. the prior's gradient ---- */

static void compare_prior_gradient(const char *model, side *c, side *g, int B,
                                   const evae_config *cfg)
{
    const evae_model *m = &c->m;
    const int d = m->d, n = m->n, M = cfg->ssm.projections;
    const int rademacher = cfg->ssm.distribution == EVAE_PROJECTION_RADEMACHER;
    const int vr = cfg->ssm.variance_reduced;
    const uint64_t seed = (uint64_t)cfg->train.seed;
    const uint64_t stream = evae_stream(EVAE_STREAM_PROJECTIONS, 0);
    const size_t nv = (size_t)B * M * d;
    evae_ssm_step(&c->m, &c->w, evae_share_whole(B), rademacher, vr, seed, stream);
    evae_ssm_step(&g->m, &g->w, evae_share_whole(B), rademacher, vr, seed, stream); /* z: the CPU's (shared) */
    float *tv = xmalloc(nv * sizeof(float));
    for (size_t k = 0; k < nv; k++) tv[k] = (float)(1e-30 + 16.0 * UR * fabs((double)c->w.v[k]));
    expect_within(model, "SSM projections", g->w.v, c->w.v, tv, nv);
    /* the CUDA op on the CPU's projections, as evae_ssm_step calls it */
    cu->upload(cu, g->w.v, c->w.v, nv * sizeof(float));
    cu->grbm_ssm(cu, g->m.theta, d, n, evae_ws_z(&g->w), B, g->w.v, M, vr, g->w.J, g->m.theta_grad);
    const size_t T = m->n_theta;
    double *tol = xmalloc(T * sizeof(double));
    ssm_grad_tolerances(m->theta, d, n, evae_ws_z(&c->w), B, c->w.v, M, vr, tol);
    float *got = get(cu, g->m.theta_grad, T);
    char label[96];
    snprintf(label, sizeof label, "%s: prior gradient (%zu parameters)", model, T);
    expect_close(label, got, c->m.theta_grad, T, tol, 0, 0);
    size_t tight = 0, nonzero = 0;
    for (size_t k = 0; k < T; k++)
        if (c->m.theta_grad[k] != 0.0f)
            nonzero++, tight += tol[k] < fabs((double)c->m.theta_grad[k]) / 3.0;
    printf("%s prior: %.1f%% of the nonzero gradient entries bounded below a third of their "
           "size\n", model, nonzero ? 100.0 * tight / nonzero : 0.0);
    CHECK(2 * tight >= nonzero, "%s prior: only %zu of %zu gradient entries have a bound below "
          "a third of their size", model, tight, nonzero);
    free(tv), free(tol), free(got);
}

static void case_of(const char *ini, const char *const *overrides, int B)
{
    evae_config cfg;
    test_config(&cfg, ini, overrides);
    evae_dataset tr = {0}, te = {0};
    const char *name;
    if (evae_load_data(&cfg, &tr, &te, &name)) exit(1);
    /* the batch: the training set shuffled, repeated when B is larger (the bundled CIFAR-10
     * sample has fewer than 1024 training images) */
    int *perm = xmalloc((size_t)tr.n * sizeof(int)), *idx = xmalloc((size_t)B * sizeof(int));
    evae_shuffle(perm, tr.n, (uint64_t)cfg.train.seed, 0);
    for (int b = 0; b < B; b++) idx[b] = perm[b % tr.n];
    side c, g;
    side_create(&c, cpu, &cfg, &tr, idx, B);
    side_create(&g, cu, &cfg, &tr, idx, B);
    char model[64];
    snprintf(model, sizeof model, "%s B=%d", ini, B);
    forward(&c, &cfg, B);
    forward(&g, &cfg, B);
    compare_forward(model, &c, &g, B);
    compare_vae_gradient(model, &c, &g, B);
    if (c.m.shape.prior_grbm) compare_prior_gradient(model, &c, &g, B, &cfg);
    /* the bounds' premise: cuDNN ran GEMM-like algorithms (net_bounds.h) */
    const char *algos = cu->algorithms(cu);
    CHECK(!strstr(algos, "FFT") && !strstr(algos, "WINOGRAD"),
          "%s: cuDNN chose FFT or Winograd algorithms, whose error the componentwise bound does "
          "not cover:\n%s", model, algos);
    side_free(&c), side_free(&g);
    free(perm), free(idx);
    evae_dataset_free(&tr);
    evae_dataset_free(&te);
}

int main(void)
{
    gpu_test_setup("test_cuda_train");
    /* under compute-sanitizer (much slower) smaller batches exercise the same kernels */
    const char *env = getenv("EVAE_SANITIZER_RUN");
    const int small = env && env[0] && strcmp(env, "0") != 0;
    const char *mnist[] = {"data.train_limit=2048", NULL};
    case_of("experiments/mnist.ini", mnist, small ? 32 : 512);
    const char *cifar[] = {"data.dir=data/cifar10-mini", NULL};
    case_of("experiments/cifar10.ini", cifar, small ? 8 : 1024);
    return check_report("test_cuda_train");
}

#else /* built without CUDA */

int main(void)
{
    printf("test_cuda_train: skipped: built without CUDA\n");
    return 77;
}

#endif
