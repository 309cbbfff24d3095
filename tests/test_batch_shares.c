/* Data parallelism in one process, on the CPU backend: a batch split into the shares of N ranks
 * (evae/dist/share.h) gives the gradients of the whole batch once the shares' parts are added up.
 *  1. A random fill from `start` is the slice of the fill from 0 that begins there (every kind,
 *     starts inside and across Philox blocks), bit for bit: a share draws its examples' noise.
 *  2. evae_share_of covers every batch in rank order with shares that differ by at most one.
 *  3. For the MNIST MLP (Bernoulli decoder, GRBM prior) and the CIFAR-10 conv net (calibrated
 *     Laplace decoder, whose scale needs the whole batch's L1 error): the sum over 3 shares
 *     (uneven, and 2 more ranks than examples in a second split: empty shares) of the encoder,
 *     decoder and prior gradients equals the whole batch's, and every example's ALB in its share
 *     equals its value in the whole batch, within the bounds tests/share_grads.h derives. */
#include "run_helpers.h"

#include "share_grads.h"

/* ---- 1. fills from a start ---- */

static void test_fill_starts(void)
{
    const evae_backend *be = evae_cpu_backend();
    enum { N = 37, MAXSTART = 1001 };
    const uint64_t starts[] = {0, 1, 3, 4, 7, 1001};
    float *all = xmalloc((N + MAXSTART) * sizeof(float)), *part = xmalloc(N * sizeof(float));
    for (int kind = 0; kind < 3; kind++)
        for (size_t i = 0; i < sizeof starts / sizeof *starts; i++) {
            void (*fill)(const evae_backend *, float *, size_t, uint64_t, uint64_t, uint64_t) =
                kind == 0 ? be->rand_uniform : kind == 1 ? be->rand_normal : be->rand_rademacher;
            fill(be, all, N + starts[i], 5, 9, 0);
            fill(be, part, N, 5, 9, starts[i]);
            char what[64];
            snprintf(what, sizeof what, "fill kind %d from %llu", kind,
                     (unsigned long long)starts[i]);
            expect_equal(what, part, all + starts[i], N);
        }
    free(all);
    free(part);
}

/* ---- 2. shares ---- */

static void test_share_cover(void)
{
    for (int total = 0; total <= 40; total++)
        for (int size = 1; size <= 9; size++) {
            int next = 0, lo = total, hi = 0;
            for (int r = 0; r < size; r++) {
                evae_share s = evae_share_of(total, r, size);
                CHECK(s.total == total && s.offset == next && s.count >= 0,
                      "share %d of %d of a batch of %d: offset %d count %d", r, size, total,
                      s.offset, s.count);
                next = s.offset + s.count;
                if (s.count < lo) lo = s.count;
                if (s.count > hi) hi = s.count;
            }
            CHECK(next == total && hi - lo <= 1, "%d shares of %d: cover %d, sizes %d..%d", size,
                  total, next, lo, hi);
        }
}

static void case_of(const char *label, const char *ini, const char *const *overrides, int B)
{
    setup t;
    setup_make(&t, ini, overrides, B);
    evae_model *m = &t.m;
    split_result whole = run_split(&t, 1, 0);
    split_result mag = run_split(&t, B, 1); /* one example per share: sum_b |g_b| */
    double n = path_length(m, B);
    const int sizes[2] = {3, B + 2}; /* uneven shares; two empty ones */
    for (int k = 0; k < 2; k++) {
        split_result part = run_split(&t, sizes[k], 0);
        char what[96];
        snprintf(what, sizeof what, "%s, %d shares: encoder/decoder gradients", label, sizes[k]);
        expect_sums(what, part.grads, whole.grads, mag.grads, m->n_params, n);
        if (m->shape.prior_grbm) {
            snprintf(what, sizeof what, "%s, %d shares: prior gradients", label, sizes[k]);
            expect_sums(what, part.theta, whole.theta, mag.theta, m->n_theta, n);
        }
        /* the batch's scale from the shares' L1 errors: the same sum of B x_dim terms, all of one
         * sign, in another order (and the same float rounding of the scale) */
        double g_l1 = (double)B * m->x_dim * UR;
        CHECK_CLOSE(part.scale, whole.scale, 0.0, 2.0 * g_l1 + 2.0 * UR, "calibrated scale");
        /* per example: the same chain of operations on the same numbers (its row of products
         * of other row counts): within 2 gamma_n of the magnitude of the ALB's terms */
        int alb_bad = 0;
        for (int b = 0; b < B; b++)
            alb_bad += !(fabs((double)part.alb[b] - whole.alb[b]) <=
                         2.0 * n * UR / (1.0 - n * UR) * whole.alb_mag[b]);
        CHECK(alb_bad == 0, "%s: the ALB of %d of %d examples differs from the whole batch's",
              what, alb_bad, B);
        split_free(&part);
    }
    split_free(&whole);
    split_free(&mag);
    setup_free(&t);
}

int main(void)
{
    test_fill_starts();
    test_share_cover();
    const char *mnist[] = {"data.train_limit=64", "model.hidden=32", "model.latent=8",
                           "model.grbm_hidden=16", NULL};
    case_of("MNIST MLP", "experiments/mnist.ini", mnist, 13);
    const char *cifar[] = {"data.dir=data/cifar10-mini", "model.grbm_hidden=8", NULL};
    case_of("CIFAR-10 conv", "experiments/cifar10.ini", cifar, 5);
    return check_report("test_batch_shares");
}
