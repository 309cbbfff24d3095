/* `evae eval`'s estimators and `evae sample` on both backends, end to end, on an MNIST model that
 * `evae train` trained for 6 epochs of 2,048 digits on the CPU (24 steps: its decoder depends on
 * z), same seeds, small settings:
 *  1. AIS log Z (evae_eval_log_z). Both backends consume the same draws, so their chains agree
 *     until rounding flips a hidden unit's Bernoulli draw, after which a chain follows another
 *     valid path; no rounding bound covers that, so the tolerance is statistical: 4 combined
 *     standard errors of the two estimates (each from its runs' spread), which AIS whose
 *     transitions run at 0.9 beta (the CPU, the same draws) must fail. On a GRBM small enough to
 *     enumerate, the CUDA estimate must also lie within test_ais's tolerance of the exact log Z
 *     (4 SE plus 0.005 nats for the float energies), and the wrong transitions must not.
 *  2. Importance sampling (evae_eval_importance): no discrete draws, so every per-example value
 *     (ln mean exp of the log weights, of the prior terms, their means, the ALB, ln p(x|z)) must
 *     agree within the rounding bound of net_bounds.h carried from the encoder through the
 *     decoder and the energy; ln mean exp moves by at most the largest of its terms' errors.
 *  3. The classifier of Algorithm 2 (evae_eval_classifier): its training runs Adam on gradients
 *     that differ by rounding, through ReLU masks that may flip, so again statistical: the VLB
 *     estimate E[ln p(x|z) - T] within 4 combined standard errors of E[T] over the test examples
 *     (ln p(x|z) decodes the same z on both sides and agrees to rounding), the held-out accuracy
 *     within 4 binomial standard errors. A difference within the estimate's own noise cannot
 *     change what is concluded from it; a broken CUDA classifier is caught only where it moves
 *     the estimate further (after these few steps T is small: the classes overlap).
 *  4. `evae sample` (the program, Langevin) on a checkpoint of the model, device=cuda and
 *     device=cpu: the chains agree within grbm_bounds.h's Langevin bound, the decoded pixels
 *     within that carried through the decoder (sigmoid' <= 1/4), so the PNGs' bytes within
 *     floor(255 dp) + 1; the CPU's PNG must match an in-process run of the same sampler exactly.
 * Under compute-sanitizer (EVAE_SANITIZER_RUN=1) every size is smaller, the exact AIS case has a
 * weaker coupling, and the checks of the checks (wrong AIS transitions) are left out. Exits 77
 * (skipped) without a CUDA device. */
#include "../run_helpers.h"

#include "gpu_compare.h"

#ifdef EVAE_HAVE_CUDA

#include <stb/stb_image.h>

#include "evae/cli/run.h"
#include "evae/eval/eval.h"
#include "evae/io/image_grid.h"
#include "evae/math/grbm.h"
#include "evae/model/checkpoint.h"
#include "evae/model/grbm_exact.h"
#include "evae/model/input.h"
#include "evae/model/sampling.h"
#include "evae/util.h"
#include "gpu/grbm_bounds.h"
#include "gpu/net_bounds.h"
#include "grbm_models.h"

static int small; /* under compute-sanitizer */
#define SIZE(normal, sanitized) (small ? (sanitized) : (normal))

/* the model of the checkpoint at path (the run's config cfg) on be */
static void load_model(evae_model *m, const evae_backend *be, const evae_config *cfg,
                       const evae_dataset *tr, const char *path)
{
    evae_model_shape shape = evae_shape_from_config(cfg, tr->channels, tr->height, tr->width);
    evae_train_state st;
    if (evae_model_create(m, be, &shape) || evae_checkpoint_load(path, m, &st, NULL)) exit(1);
}

/* ---- 1. AIS ---- */

static int ais_agree(const evae_log_z *a, const evae_log_z *b)
{
    return fabs(a->log_z - b->log_z) <= 4.0 * hypot(a->std_err, b->std_err);
}

static void test_ais(const evae_model *mc, const evae_model *mg)
{
    evae_ais_opts o = evae_ais_default_opts();
    o.chains = SIZE(200, 32), o.temperatures = SIZE(100, 30), o.runs = SIZE(6, 3), o.seed = 11;
    evae_log_z c, g, bad;
    CHECK(evae_eval_log_z(mc, &o, &c, NULL, NULL, one_process()) == 0 &&
              evae_eval_log_z(mg, &o, &g, NULL, NULL, one_process()) == 0,
          "AIS failed");
    printf("AIS log Z, %d x %d chains, %d temperatures: CPU %.5f +- %.5f, CUDA %.5f +- %.5f, "
           "difference %.3g\n", o.runs, o.chains, o.temperatures, c.log_z, c.std_err, g.log_z,
           g.std_err, g.log_z - c.log_z);
    CHECK(ais_agree(&c, &g), "AIS log Z: CUDA %.6f, CPU %.6f, beyond 4 combined SE (%.3g)",
          g.log_z, c.log_z, 4.0 * hypot(c.std_err, g.std_err));
    CHECK(g.log_z0 == c.log_z0, "log Z_0: CUDA %.17g, CPU %.17g", g.log_z0, c.log_z0);
    if (small) return; /* the check of the check needs the full sizes */
    o.mutate_beta = 0.9f;
    CHECK(evae_eval_log_z(mc, &o, &bad, NULL, NULL, one_process()) == 0, "AIS failed");
    printf("  transitions at 0.9 beta (CPU): %.5f +- %.5f\n", bad.log_z, bad.std_err);
    CHECK(!ais_agree(&bad, &g), "the AIS comparison cannot tell transitions at 0.9 beta (%.5f) "
          "from the CUDA run (%.5f)", bad.log_z, g.log_z);
}

/* the CUDA AIS against enumeration on a GRBM of 8 x 12 (test_ais's check) */
static void test_ais_exact(void)
{
    enum { d = 8, n = 12 };
    float th[2 * d + d * n + n];
    multimodal_theta(th, d, n, SIZE(1.0, 0.5), 21); /* weaker coupling for the shorter runs */
    double exact;
    CHECK(evae_grbm_exact_log_z(th, d, n, &exact) == 0, "exact log Z");
    float *thg = put(cu, th, sizeof th / sizeof *th);
    evae_ais_opts o = evae_ais_default_opts();
    o.chains = SIZE(100, 64), o.temperatures = SIZE(400, 200), o.runs = SIZE(10, 4), o.seed = 17;
    for (int wrong = 0; wrong < SIZE(2, 1); wrong++) { /* the check of the check: not sanitized */
        o.mutate_beta = wrong ? 0.9f : 1.0f;
        evae_ais_result r;
        CHECK(evae_ais_log_z(cu, thg, d, n, &o, &r) == 0, "AIS failed");
        const int within = fabs(r.log_z - exact) <= 4.0 * r.std_err + 0.005;
        printf("CUDA AIS, 8 x 12 GRBM%s: %.5f +- %.5f, exact %.5f\n",
               wrong ? ", transitions at 0.9 beta" : "", r.log_z, r.std_err, exact);
        CHECK(within == !wrong, "CUDA AIS%s: %.5f +- %.5f, exact %.5f",
              wrong ? " with transitions at 0.9 beta passed" : "", r.log_z, r.std_err, exact);
    }
    cu->free(cu, thg);
}

/* ---- 2. importance sampling ---- */

/* The error spread (sqrt of the rounding variance, units of UR; net_bounds.h) of the per-example
 * values of evae_eval_importance on the n prepared inputs x [n, D] (host), the data path replayed
 * on the CPU (the same draws) for the magnitudes. Each sample's log weight a_k = ln p(x|z_k) -
 * E(z_k) - ln q(z_k|x) (and c_k = -E - ln q, b_k = ln p - E, ln p) is a linear functional of the
 * roundings, taken back exactly (nb_functional) through the decoder, z = mean + exp(lv/2) eps
 * and the encoder, plus the independent roundings of the likelihood's terms, of the energy
 * (grbm_bounds.h), of rand_normal (8 UR |eps| per draw: ln q = -0.5 |eps|^2 - 0.5 sum lv - ... is
 * computed in double from the draws) and of reparam (tests/ops). Over an example's samples: ln
 * mean exp moves by at most the largest sample's error, a mean by the mean error (their errors
 * share the encoder's roundings, so the spreads add). r[5][n]: ln mean exp a, ln mean exp c,
 * mean a, the ALB (its entropy 0.5 sum lv adds the encoder's 0.5 1 . e_lv), mean ln p(x|z). */
static void is_spreads(const evae_model *m, const float *x, int n, int K, uint64_t seed,
                       double *const r[5])
{
    const evae_backend *ref = evae_cpu_backend();
    const int d = m->d, D = m->x_dim, Le = m->enc.n_layers, Ld = m->dec.n_layers;
    const size_t R = (size_t)n * K; /* (example, sample) rows */
    /* the encoder per row (an example's K rows repeat it), the draws, z, the decoder */
    float *xr = xmalloc(R * D * sizeof(float));
    for (size_t row = 0; row < R; row++)
        memcpy(xr + row * D, x + (row / K) * D, D * sizeof(float));
    float *enc_act[EVAE_MAX_LAYERS + 1] = {xr}, *dec_act[EVAE_MAX_LAYERS + 1];
    for (int l = 0; l < Le; l++)
        enc_act[l + 1] = xmalloc(R * m->enc.layers[l].out_dim * sizeof(float));
    dec_act[0] = xmalloc(R * d * sizeof(float));
    for (int l = 0; l < Ld; l++)
        dec_act[l + 1] = xmalloc(R * m->dec.layers[l].out_dim * sizeof(float));
    evae_net_forward(ref, &m->enc, m->params, enc_act, (int)R);
    const float *enc = enc_act[Le]; /* [R, 2d] */
    float *eps = xmalloc(R * d * sizeof(float));
    for (int e = 0; e < n; e++)
        ref->rand_normal(ref, eps + (size_t)e * K * d, (size_t)K * d, seed,
                         evae_eval_stream(EVAE_EVAL_IS_EPS, (uint64_t)e), 0);
    ref->reparam(ref, dec_act[0], enc, eps, (int)R, d);
    evae_net_forward(ref, &m->dec, m->params, dec_act, (int)R);
    const float *z = dec_act[0], *out = dec_act[Ld];
    float *E = xmalloc(R * sizeof(float)), *dEdz = xmalloc(R * d * sizeof(float));
    double *VE = xmalloc(R * sizeof(double));
    ref->grbm_energy(ref, m->theta, d, m->n, 1.0f, z, (int)R, E, dEdz);
    energy_variance(m->theta, d, m->n, 1.0f, z, (int)R, VE);
    /* the likelihood: its adjoint x - p at the decoder output, taken to z; its terms' roundings */
    float *adj = xmalloc(R * D * sizeof(float));
    double *V_dec = evae_xcalloc(R, sizeof(double)), *V_op = evae_xcalloc(R, sizeof(double));
    for (size_t k = 0; k < R * D; k++) {
        double l = out[k], p = sigmoid(l), xv = xr[k], t = fabs(xv * l) + softplus(l);
        adj[k] = (float)(xv - p);
        V_op[k / D] += 12.0 * t * t;
    }
    float *az_ll = nb_functional(&m->dec, m->params, dec_act, adj, (int)R, V_dec); /* [R, d] */
    /* the four functionals: with (w_ll, w_E, w_q) the weights of ln p, -E, -ln q */
    const double wts[4][3] = {{1, 1, 1}, {0, 1, 1}, {1, 1, 0}, {1, 0, 0}}; /* a, c, b, ln p */
    double *rs[4];
    float *aenc = xmalloc(R * 2 * d * sizeof(float));
    for (int f = 0; f < 4; f++) {
        double *V = evae_xcalloc(R, sizeof(double));
        for (size_t row = 0; row < R; row++) {
            V[row] = wts[f][0] * (V_dec[row] + V_op[row]) + wts[f][1] * VE[row];
            for (int i = 0; i < d; i++) {
                size_t k = row * d + i, e = row * 2 * d + i;
                double ex = exp(0.5 * enc[e + d]), ep = eps[k], h = 0.5 * ex * ep;
                double az = wts[f][0] * az_ll[k] - wts[f][1] * dEdz[k]; /* d(functional)/dz */
                double op = 2.0 * (fabs((double)enc[e]) + 4.0 * fabs(ex * ep) + fabs((double)z[k]));
                double on_eps = az * ex + wts[f][2] * ep; /* through z and through -ln q */
                V[row] += on_eps * on_eps * 64.0 * ep * ep + az * az * op * op;
                aenc[e] = (float)az, aenc[e + d] = (float)(az * h + 0.5 * wts[f][2]);
            }
        }
        free(nb_functional(&m->enc, m->params, enc_act, aenc, (int)R, V));
        rs[f] = V;
    }
    /* the entropy's 0.5 1 . e_lv, for the ALB */
    double *Vh = evae_xcalloc(R, sizeof(double));
    for (size_t row = 0; row < R; row++)
        for (int i = 0; i < d; i++) {
            aenc[row * 2 * d + i] = 0.0f;
            aenc[row * 2 * d + d + i] = 0.5f;
        }
    free(nb_functional(&m->enc, m->params, enc_act, aenc, (int)R, Vh));
    for (int e = 0; e < n; e++) {
        double amax = 0.0, cmax = 0.0, asum = 0.0, bsum = 0.0, lsum = 0.0;
        for (int k = 0; k < K; k++) {
            size_t row = (size_t)e * K + k;
            amax = fmax(amax, sqrt(rs[0][row])), cmax = fmax(cmax, sqrt(rs[1][row]));
            asum += sqrt(rs[0][row]), bsum += sqrt(rs[2][row]), lsum += sqrt(rs[3][row]);
        }
        r[0][e] = amax, r[1][e] = cmax, r[2][e] = asum / K;
        r[3][e] = bsum / K + sqrt(Vh[(size_t)e * K]), r[4][e] = lsum / K;
    }
    for (int f = 0; f < 4; f++) free(rs[f]);
    for (int l = 1; l <= Le; l++) free(enc_act[l]);
    for (int l = 0; l <= Ld; l++) free(dec_act[l]);
    free(xr), free(eps), free(E), free(dEdz), free(VE), free(adj), free(V_dec), free(V_op);
    free(az_ll), free(aenc), free(Vh);
}

static void test_importance(const evae_model *mc, const evae_model *mg, const evae_dataset *te)
{
    const int n = SIZE(32, 6), K = SIZE(64, 8);
    const uint64_t seed = 5;
    float *raw_c = evae_upload_dataset(cpu, te, 1), *raw_g = evae_upload_dataset(cu, te, 1);
    const uint64_t stream = evae_eval_stream(EVAE_EVAL_TEST_INPUT, 0);
    float *xc = evae_eval_prepare_inputs(mc, raw_c, n, seed, stream);
    float *xg = evae_eval_prepare_inputs(mg, raw_g, n, seed, stream);
    float *h = get(cu, xg, (size_t)n * mc->x_dim);
    expect_equal("binarized test inputs", h, xc, (size_t)n * mc->x_dim);
    free(h);
    evae_is_opts o = {K, SIZE(500, 20), seed, 0}; /* passes that split examples unevenly */
    evae_is_examples c, g;
    CHECK(evae_eval_importance(mc, xc, n, &o, &c, NULL, NULL) == 0 &&
              evae_eval_importance(mg, xg, n, &o, &g, NULL, NULL) == 0,
          "importance sampling failed");
    double *r[5];
    for (int k = 0; k < 5; k++) r[k] = xmalloc((size_t)n * sizeof(double));
    is_spreads(mc, xc, n, K, seed, r);
    const char *names[5] = {"ln mean exp a", "ln mean exp c", "mean a", "ALB", "mean ln p(x|z)"};
    const double *vc[5] = {c.lme_a, c.lme_c, c.mean_a, c.alb, c.ll};
    const double *vg[5] = {g.lme_a, g.lme_c, g.mean_a, g.alb, g.ll};
    for (int q = 0; q < 5; q++) {
        int bad = 0;
        double worst = 0.0;
        for (int e = 0; e < n; e++) {
            double tol = nb_tol(r[q][e] * r[q][e]), diff = fabs(vg[q][e] - vc[q][e]);
            bad += !(diff <= tol);
            worst = fmax(worst, diff / tol);
        }
        printf("importance sampling, %d examples x %d: %s within %.3g of its bound\n", n, K,
               names[q], worst);
        CHECK(bad == 0, "importance sampling %s: %d of %d examples beyond the rounding bound "
              "(worst %.3g of it)", names[q], bad, n, worst);
    }
    for (int k = 0; k < 5; k++) free(r[k]);
    evae_is_examples_free(&c), evae_is_examples_free(&g);
    cpu->free(cpu, raw_c), cpu->free(cpu, xc), cu->free(cu, raw_g), cu->free(cu, xg);
}

/* ---- 3. the classifier ---- */

static void test_classifier(const evae_model *mc, const evae_model *mg, const evae_dataset *tr,
                            const evae_dataset *te)
{
    const int n_test = SIZE(200, 16);
    evae_classifier_opts o = {.epochs = SIZE(3, 1), .hidden = SIZE(64, 16), .batch = 128,
                              .lr = 1e-3, .train_limit = SIZE(1024, 64),
                              .langevin_steps = SIZE(50, 5), .langevin_eta = 0.01, .seed = 9};
    float *train_c = evae_upload_dataset(cpu, tr, 1), *train_g = evae_upload_dataset(cu, tr, 1);
    float *raw_c = evae_upload_dataset(cpu, te, 1), *raw_g = evae_upload_dataset(cu, te, 1);
    const uint64_t stream = evae_eval_stream(EVAE_EVAL_TEST_INPUT, 0);
    float *xc = evae_eval_prepare_inputs(mc, raw_c, n_test, o.seed, stream);
    float *xg = evae_eval_prepare_inputs(mg, raw_g, n_test, o.seed, stream);
    evae_classifier_result c, g;
    CHECK(evae_eval_classifier(mc, train_c, tr->n, xc, n_test, &o, 0, NULL, &c, NULL, NULL) == 0 &&
              evae_eval_classifier(mg, train_g, tr->n, xg, n_test, &o, 0, NULL, &g, NULL, NULL) ==
                  0,
          "classifier failed");
    /* vlb = ln p(x|z) - T: the first term decodes the same z (rounding-level, as in 2.), T is
     * the trained classifier's, whose scale is its own standard error over the test examples */
    const double tol = 4.0 * hypot(c.kl.std_err, g.kl.std_err);
    printf("classifier VLB: CPU %.4f +- %.4f, CUDA %.4f +- %.4f (KL %.4f); held-out accuracy "
           "%.4f, %.4f\n", c.vlb.mean, c.vlb.std_err, g.vlb.mean, g.vlb.std_err, c.kl.mean,
           c.heldout_accuracy, g.heldout_accuracy);
    CHECK(fabs(g.vlb.mean - c.vlb.mean) <= tol, "classifier VLB: CUDA %.5f, CPU %.5f, beyond 4 "
          "combined SE of E[T] (%.3g)", g.vlb.mean, c.vlb.mean, tol);
    const double p = c.heldout_accuracy;
    const double tol_acc = 4.0 * sqrt(2.0 * fmax(p * (1.0 - p), 0.25 / n_test) / (2.0 * n_test));
    CHECK(fabs(g.heldout_accuracy - p) <= tol_acc, "held-out accuracy: CUDA %.4f, CPU %.4f "
          "(4 binomial SE %.3g)", g.heldout_accuracy, p, tol_acc);
    evae_classifier_result_free(&c), evae_classifier_result_free(&g);
    cpu->free(cpu, train_c), cpu->free(cpu, raw_c), cpu->free(cpu, xc);
    cu->free(cu, train_g), cu->free(cu, raw_g), cu->free(cu, xg);
}

/* ---- 4. evae sample ---- */

static unsigned char *load_png(const char *path, int *w, int *h)
{
    int ch = 0;
    unsigned char *p = stbi_load(path, w, h, &ch, 1);
    CHECK(p != NULL && ch == 1, "%s: not a one-channel PNG", path);
    return p;
}

static void test_sample(const evae_model *mc, const evae_config *cfg, const char *dir,
                        const char *ckpt)
{
    const int count = SIZE(16, 4), steps = SIZE(20, 5);
    const float eta = 0.01f;
    char path[600], args[2048];
    const char *bin = getenv("EVAE_BIN");
    for (int dev = 0; dev < 2; dev++) {
        snprintf(args, sizeof args, "%s sample %s --sampler langevin --steps %d --n %d --eta %g "
                 "-o %s/%s.png device=%s > %s/%s.out 2>&1", bin, ckpt, steps, count, eta, dir,
                 dev ? "cuda" : "cpu", dev ? "cuda" : "cpu", dir, dev ? "cuda" : "cpu");
        CHECK(system(args) == 0, "evae sample on %s failed (%s)", dev ? "cuda" : "cpu", args);
    }
    /* the same run in process on the CPU: the chains, the images and their bounds */
    const int d = mc->d, D = mc->x_dim;
    float *z = cpu->alloc(cpu, (size_t)count * d * sizeof(float));
    CHECK(evae_sample_prior(mc, EVAE_SAMPLER_LANGEVIN, steps, eta, count,
                            (uint64_t)cfg->train.seed, z) == 0, "sampling");
    /* the chains' start, as evae_sample_prior makes it, for the Langevin bound */
    float *z0 = xmalloc((size_t)count * d * sizeof(float));
    for (int c = 0; c < count; c++)
        for (int i = 0; i < d; i++) {
            size_t k = (size_t)c * d + i;
            z0[k] = mc->theta[i] + expf(mc->theta[d + i]) *
                                       evae_normal_at((uint64_t)cfg->train.seed,
                                                      evae_stream(EVAE_STREAM_SAMPLER, 0), k);
        }
    const double dz = langevin_tolerance(mc->theta, d, mc->n, z0, z, count, steps, eta);
    evae_workspace w;
    evae_workspace_create(&w, mc, count, 1);
    float *img = xmalloc((size_t)count * D * sizeof(float));
    evae_decode_images(mc, &w, z, count, img);
    snprintf(path, sizeof path, "%s/replay.png", dir);
    int cols = 1;
    while (cols * cols < count) cols++;
    CHECK(evae_png_grid(path, img, count, 1, mc->shape.height, mc->shape.width, cols) == 0,
          "png");
    /* z's error, |e_i| <= dz / 2 per side, as a bounded vector: Lam = d (dz / (2 UR))^2 */
    double *lam = xmalloc((size_t)count * sizeof(double));
    for (int c = 0; c < count; c++) lam[c] = d * (dz / (2.0 * UR)) * (dz / (2.0 * UR));
    nb_err el = nb_forward(&mc->dec, mc->params, w.dec_act, lam, count);
    double dp = 0.0; /* the largest pixel bound */
    for (size_t k = 0; k < (size_t)count * D; k++) dp = fmax(dp, 0.25 * nb_tol(el.V[k]));
    const int allowed = (int)floor(255.0 * dp) + 1;
    int w1, h1, w2, h2, w3, h3;
    char p_cpu[600], p_cuda[600];
    snprintf(p_cpu, sizeof p_cpu, "%s/cpu.png", dir);
    snprintf(p_cuda, sizeof p_cuda, "%s/cuda.png", dir);
    unsigned char *a = load_png(p_cpu, &w1, &h1), *b = load_png(p_cuda, &w2, &h2);
    unsigned char *r = load_png(path, &w3, &h3);
    if (a && b && r && w1 == w2 && h1 == h2 && w1 == w3 && h1 == h3) {
        int off = 0, worst = 0, same_cpu = 1;
        for (int k = 0; k < w1 * h1; k++) {
            int diff = abs((int)a[k] - (int)b[k]);
            worst = diff > worst ? diff : worst;
            off += diff > allowed;
            same_cpu &= a[k] == r[k];
        }
        printf("evae sample, %d Langevin chains x %d steps: chains within %.3g, pixels within "
               "%.3g, so bytes within %d; largest byte difference %d\n", count, steps, dz, dp,
               allowed, worst);
        CHECK(same_cpu, "evae sample on the CPU differs from the same sampler run in process");
        CHECK(off == 0, "evae sample: %d pixels differ by more than %d between cuda and cpu", off,
              allowed);
    } else {
        CHECK(0, "evae sample: the PNGs do not match in size (%dx%d, %dx%d, %dx%d)", w1, h1, w2,
              h2, w3, h3);
    }
    stbi_image_free(a), stbi_image_free(b), stbi_image_free(r);
    nb_err_free(&el);
    free(lam), free(img), free(z0);
    evae_workspace_free(&w, mc);
    cpu->free(cpu, z);
}

int main(void)
{
    gpu_test_setup("test_cuda_eval");
    const char *env = getenv("EVAE_SANITIZER_RUN");
    small = env && env[0] && strcmp(env, "0") != 0;
    const char *bin = getenv("EVAE_BIN");
    if (!bin) {
        fprintf(stderr, "EVAE_BIN is not set (ctest sets it)\n");
        return 1;
    }
    /* a model trained a few steps on the CPU (`evae train`), so that its decoder depends on z
     * and its classifier has something to find */
    char dir[64], args[1024], ckpt[600];
    temp_dir(dir, sizeof dir, "cuda-eval");
    snprintf(args, sizeof args, "%s train experiments/mnist.ini data.train_limit=2048 "
             "train.epochs=%d device=cpu run.dir=%s/run > %s/train.out 2>&1", bin, SIZE(6, 1),
             dir, dir);
    if (system(args) != 0) {
        fprintf(stderr, "training failed: %s\n", args);
        return 1;
    }
    snprintf(ckpt, sizeof ckpt, "%s/run/checkpoint.safetensors", dir);
    snprintf(args, sizeof args, "%s/run/config.ini", dir);
    evae_config cfg;
    test_config(&cfg, args, NULL);
    evae_dataset tr = {0}, te = {0};
    const char *name;
    if (evae_load_data(&cfg, &tr, &te, &name)) return 1;
    evae_model mc, mg;
    load_model(&mc, cpu, &cfg, &tr, ckpt);
    load_model(&mg, cu, &cfg, &tr, ckpt);
    test_ais_exact();
    test_ais(&mc, &mg);
    test_importance(&mc, &mg, &te);
    test_classifier(&mc, &mg, &tr, &te);
    test_sample(&mc, &cfg, dir, ckpt);
    evae_model_free(&mc), evae_model_free(&mg);
    evae_dataset_free(&tr), evae_dataset_free(&te);
    snprintf(args, sizeof args, "rm -rf %s", dir); /* the run, the checkpoint and the PNGs */
    if (system(args) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report("test_cuda_eval");
}

#else /* built without CUDA */

int main(void)
{
    printf("test_cuda_eval: skipped: built without CUDA\n");
    return 77;
}

#endif
