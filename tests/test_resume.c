/* Resume determinism: 2 epochs straight equal 1 epoch + resume + 1 epoch, bit for bit, on the
 * CPU backend (every tensor of the checkpoint: weights, both Adam states; and the counters),
 * with the held-out ELBO estimated every epoch; and that estimate changes nothing of training:
 * without it, the same 2 epochs give the same checkpoint. */
#include "run_helpers.h"

#include "check.h"
#include "evae/cli/run.h"
#include "evae/io/safetensors.h"
#include "evae/cli/train.h"

static const char *const small[] = {"device=cpu", "data.train_limit=1500", "train.batch=256",
                                    "model.hidden=128", "sample.steps=5",
                                    "train.honest_every=1", "train.honest_ais_chains=20",
                                    "train.honest_ais_temperatures=20", NULL};

static void train_into(const char *dir, int epochs, int resume, const char *extra)
{
    evae_config cfg;
    char kv_dir[128], kv_ep[64];
    snprintf(kv_dir, sizeof kv_dir, "run.dir=%s", dir);
    snprintf(kv_ep, sizeof kv_ep, "train.epochs=%d", epochs);
    if (resume) {
        /* what `evae train --resume DIR train.epochs=N` does */
        char ini[4096];
        snprintf(ini, sizeof ini, "%s/config.ini", dir);
        const char *o[] = {kv_ep, NULL};
        test_config(&cfg, ini, o);
        CHECK(evae_train(&cfg, dir, 0, NULL) == 0, "resumed training failed");
    } else {
        test_config(&cfg, "experiments/mnist.ini", small);
        CHECK(evae_config_set(&cfg, kv_dir) == 0 && evae_config_set(&cfg, kv_ep) == 0 &&
                  (!extra || evae_config_set(&cfg, extra) == 0),
              "cfg");
        CHECK(evae_train(&cfg, NULL, 0, NULL) == 0, "training failed");
    }
}

/* Every tensor and counter of the checkpoints in folders a and b are the same, bit for bit. */
static void same_checkpoints(const char *a, const char *b, const char *what)
{
    char pa[256], pb[256];
    snprintf(pa, sizeof pa, "%s/%s", a, EVAE_CHECKPOINT_FILE);
    snprintf(pb, sizeof pb, "%s/%s", b, EVAE_CHECKPOINT_FILE);
    evae_st_file *fa = evae_st_read(pa), *fb = evae_st_read(pb);
    CHECK(fa && fb, "checkpoints unreadable");
    if (fa && fb) {
        CHECK(evae_st_count(fa) == evae_st_count(fb), "tensor counts differ");
        int same = 0;
        for (int i = 0; i < evae_st_count(fa); i++) {
            const evae_st_tensor *ta = evae_st_at(fa, i), *tb = evae_st_find(fb, ta->name);
            CHECK(tb && tb->nbytes == ta->nbytes && memcmp(ta->data, tb->data, ta->nbytes) == 0,
                  "tensor %s differs between the straight and the resumed run", ta->name);
            same += tb && tb->nbytes == ta->nbytes && memcmp(ta->data, tb->data, ta->nbytes) == 0;
        }
        printf("%s: %d of %d tensors bit-identical\n", what, same, evae_st_count(fa));
        const char *keys[] = {"epoch", "global_step", "vae_steps", "prior_steps", "rng"};
        for (int i = 0; i < 5; i++) {
            const char *va = evae_st_meta(fa, keys[i]), *vb = evae_st_meta(fb, keys[i]);
            CHECK(va && vb && strcmp(va, vb) == 0, "%s: metadata %s: %s vs %s", what, keys[i],
                  va ? va : "-", vb ? vb : "-");
        }
    }
    evae_st_close(fa);
    evae_st_close(fb);
}

int main(void)
{
    char a[64], b[64], c[64];
    temp_dir(a, sizeof a, "straight");
    temp_dir(b, sizeof b, "resumed");
    temp_dir(c, sizeof c, "no-elbo");
    train_into(a, 2, 0, NULL);
    train_into(b, 1, 0, NULL);
    train_into(b, 2, 1, NULL);
    same_checkpoints(a, b, "straight and resumed");
    /* the resumed run's metrics have exactly one summary line per epoch, the same numbers */
    const char *keys[] = {"test_alb", "test_elbo", "test_elbo_std_err", "log_z"};
    for (int e = 1; e <= 2; e++)
        for (int k = 0; k < 4; k++) {
            double va = metric_at(a, e, keys[k]), vb = metric_at(b, e, keys[k]);
            CHECK(va == vb, "epoch %d: %s %.17g straight, %.17g resumed", e, keys[k], va, vb);
        }
    /* the held-out ELBO's AIS takes no draw of training and changes no state */
    train_into(c, 2, 0, "train.honest_every=0");
    same_checkpoints(a, c, "with and without the held-out ELBO");
    CHECK(isnan(metric_at(c, 2, "test_elbo")) && metric_at(c, 2, "test_alb") ==
          metric_at(a, 2, "test_alb"), "train.honest_every=0: no estimate, the same ALB");
    return check_report("test_resume");
}
