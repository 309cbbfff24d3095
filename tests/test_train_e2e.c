/* End-to-end training on the bundled 9,000 digits.
 *
 * The margin: a model that ignores z can do no better than the product of per-pixel Bernoulli
 * marginals fitted to the training set. Its expected log-likelihood on the test images is computed
 * here from the data (about -206.8 nats on data/mnist-10k). The N(0, I)-prior VAE's test ELBO is a
 * true lower bound on ln p(x), so an ELBO above that number by 5 nats proves the trained latent
 * code carries information about each digit; an untrained model sits near -543 (784 ln 2). For the
 * GRBM prior the ALB is not a bound (its normalizer is unknown), so its test reconstruction term
 * must beat the same latent-free number and its test ALB must rise over the epochs.
 *
 * Also the schedule of the held-out ELBO (train.honest_every) and of the grids
 * (train.grid_every, into grids/): on their epochs and the last, on no other. */
#include "run_helpers.h"

#include <math.h>

#include "check.h"
#include "evae/data/dataset.h"
#include "evae/cli/train.h"

static double latent_free_test_ll(void)
{
    evae_dataset tr = {0}, te = {0};
    const char *name;
    if (evae_mnist_load("data/mnist-10k", 0, &tr, &te, &name)) exit(1);
    int D = evae_dataset_dim(&tr);
    double total = 0;
    for (int j = 0; j < D; j++) {
        double p = 0;
        for (int i = 0; i < tr.n; i++) p += tr.pixels[(size_t)i * D + j] / 255.0;
        p /= tr.n;
        p = p < 1e-6 ? 1e-6 : p > 1 - 1e-6 ? 1 - 1e-6 : p;
        /* E[x] = intensity under dynamic binarization */
        for (int i = 0; i < te.n; i++) {
            double x = te.pixels[(size_t)i * D + j] / 255.0;
            total += x * log(p) + (1 - x) * log(1 - p);
        }
    }
    double r = total / te.n;
    evae_dataset_free(&tr);
    evae_dataset_free(&te);
    return r;
}

int main(void)
{
    double floor_ll = latent_free_test_ll();
    printf("latent-free test log-likelihood: %.2f nats\n", floor_ll);
    char dir_g[64], dir_e[64], kv_g[128], kv_e[128];
    temp_dir(dir_g, sizeof dir_g, "e2e-gauss");
    temp_dir(dir_e, sizeof dir_e, "e2e-grbm");

    snprintf(kv_g, sizeof kv_g, "run.dir=%s", dir_g);
    const char *og[] = {"device=cpu", "train.epochs=6", "train.honest_every=4", kv_g, NULL};
    evae_config cfg;
    test_config(&cfg, "experiments/mnist_gaussian.ini", og);
    CHECK(evae_train(&cfg, NULL, 0, NULL, one_process()) == 0, "gaussian training failed");
    double elbo = metric_at(dir_g, 6, "test_alb");
    printf("N(0,I) prior, 6 epochs: test ELBO %.2f\n", elbo);
    CHECK(elbo > floor_ll + 5.0, "test ELBO %.2f does not beat the latent-free %.2f by 5 nats",
          elbo, floor_ll);
    /* N(0, I): the held-out ELBO is the test_alb already, with the exact log Z; both are double
     * sums of the same per-example floats, so they differ by double rounding alone: 1000 terms
     * of |x| < 600 give at most 1000 * 600 * 2^-52 ~ 1e-10 */
    CHECK(fabs(metric_at(dir_g, 6, "test_elbo") - elbo) < 1e-9 &&
              metric_at(dir_g, 6, "log_z") == metric_at(dir_g, 6, "log_z") &&
              metric_at(dir_g, 6, "log_z_std_err") == 0.0,
          "N(0, I): held-out ELBO %.6f against test_alb %.6f, exact log Z",
          metric_at(dir_g, 6, "test_elbo"), elbo);

    snprintf(kv_e, sizeof kv_e, "run.dir=%s", dir_e);
    const char *oe[] = {"device=cpu", "train.epochs=6", "train.honest_every=3",
                        "train.grid_every=4", kv_e, NULL};
    test_config(&cfg, "experiments/mnist.ini", oe);
    CHECK(evae_train(&cfg, NULL, 0, NULL, one_process()) == 0, "GRBM training failed");
    double prev = -INFINITY;
    for (int e = 1; e <= 6; e++) {
        double alb = metric_at(dir_e, e, "test_alb");
        CHECK(alb > prev, "test ALB fell at epoch %d: %.2f after %.2f", e, alb, prev);
        prev = alb;
    }
    double recon = metric_at(dir_e, 6, "test_recon");
    printf("GRBM prior, 6 epochs: test ALB %.2f, test recon %.2f\n", prev, recon);
    CHECK(recon > floor_ll + 5.0, "test recon %.2f does not beat the latent-free %.2f by 5 nats",
          recon, floor_ll);
    /* the held-out ELBO at epochs 3 and 6 (the last) only: ALB - AIS log Z (the same double
     * rounding bound as above), with a standard error and a finite, positive log Z */
    for (int e = 1; e <= 6; e++) {
        double h = metric_at(dir_e, e, "test_elbo"), lz = metric_at(dir_e, e, "log_z");
        double se = metric_at(dir_e, e, "test_elbo_std_err");
        if (e == 3 || e == 6) {
            CHECK(fabs(h - (metric_at(dir_e, e, "test_alb") - lz)) < 1e-9 && lz > 0 && se > 0 &&
                      metric_at(dir_e, e, "log_z_std_err") > 0 &&
                      metric_at(dir_e, e, "honest_time_s") >= 0,
                  "epoch %d: held-out ELBO %.4f, ALB %.4f, log Z %.4f, SE %.4f", e, h,
                  metric_at(dir_e, e, "test_alb"), lz, se);
        } else {
            CHECK(isnan(h) && isnan(lz), "epoch %d has no held-out ELBO", e);
        }
    }
    printf("GRBM prior, 6 epochs: held-out ELBO %.2f +- %.2f (log Z %.3f +- %.3f)\n",
           metric_at(dir_e, 6, "test_elbo"), metric_at(dir_e, 6, "test_elbo_std_err"),
           metric_at(dir_e, 6, "log_z"), metric_at(dir_e, 6, "log_z_std_err"));
    const char *files[] = {"checkpoint.safetensors", "config.ini", "manifest.json",
                           "metrics.jsonl", "grids/samples_epoch004.png",
                           "grids/recon_epoch004.png", "grids/samples_epoch006.png",
                           "grids/recon_epoch006.png"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        CHECK(file_exists(dir_e, files[i]), "run folder lacks %s", files[i]);
    /* no grids of other epochs, and none outside grids/ */
    const char *absent[] = {"grids/samples_epoch001.png", "grids/samples_epoch003.png",
                            "grids/recon_epoch005.png", "samples_epoch006.png",
                            "recon_epoch006.png"};
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
        CHECK(!file_exists(dir_e, absent[i]), "run folder has %s", absent[i]);
    return check_report("test_train_e2e");
}
