/* Resume determinism: 2 epochs straight equal 1 epoch + resume + 1 epoch, bit for bit, on the
 * CPU backend (every tensor of the checkpoint: weights, both Adam states; and the counters). */
#include "run_helpers.h"

#include "check.h"
#include "evae/cli/run.h"
#include "evae/io/safetensors.h"
#include "evae/cli/train.h"

static const char *const small[] = {"device=cpu", "data.train_limit=1500", "train.batch=256",
                                    "model.hidden=128", "sample.steps=5", NULL};

static void train_into(const char *dir, int epochs, int resume)
{
    CHECK(train_run(one_process(), "experiments/mnist.ini", small, dir, epochs, resume) == 0,
          "%s training failed", resume ? "resumed" : "first");
}

int main(void)
{
    char a[64], b[64], pa[256], pb[256];
    temp_dir(a, sizeof a, "straight");
    temp_dir(b, sizeof b, "resumed");
    train_into(a, 2, 0);
    train_into(b, 1, 0);
    train_into(b, 2, 1);
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
        printf("%d of %d tensors bit-identical\n", same, evae_st_count(fa));
        const char *keys[] = {"epoch", "global_step", "vae_steps", "prior_steps", "rng"};
        for (int i = 0; i < 5; i++) {
            const char *va = evae_st_meta(fa, keys[i]), *vb = evae_st_meta(fb, keys[i]);
            CHECK(va && vb && strcmp(va, vb) == 0, "metadata %s: %s vs %s", keys[i],
                  va ? va : "-", vb ? vb : "-");
        }
        /* the resumed run's metrics have exactly one summary line per epoch */
        CHECK(metric_at(b, 1, "test_alb") == metric_at(a, 1, "test_alb") &&
              metric_at(b, 2, "test_alb") == metric_at(a, 2, "test_alb"),
              "held-out ALB differs between the runs");
    }
    evae_st_close(fa);
    evae_st_close(fb);
    return check_report("test_resume");
}
