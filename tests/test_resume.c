/* Resume determinism: 2 epochs straight equal 1 epoch + resume + 1 epoch, bit for bit, on the
 * CPU backend (every tensor of the checkpoint: weights, both Adam states, the prior objective's
 * state (pcd's chains, nce's c and its moments); and the counters), for every prior objective.
 * A checkpoint written before the objectives existed (no "objective" metadata) still resumes
 * as sliced score matching, and a checkpoint resumed under another objective is refused. The
 * held-out ELBO is estimated every epoch, and that estimate changes nothing of training: without
 * it, the same 2 epochs give the same checkpoint. */
#include "run_helpers.h"

#include "capture_stderr.h"
#include "check.h"
#include "evae/cli/run.h"
#include "evae/io/safetensors.h"
#include "evae/cli/train.h"

static const char *const small[] = {"device=cpu", "data.train_limit=1500", "train.batch=256",
                                    "model.hidden=128", "sample.steps=5", "pcd.chains=64",
                                    "train.honest_every=1", "train.honest_ais_chains=20",
                                    "train.honest_ais_temperatures=20", NULL};

/* extra: one more key=value of a fresh run, or NULL */
static void train_into(const char *dir, int epochs, int resume, const char *objective,
                       const char *extra)
{
    /* pcd with Langevin chains: their state carries into every later step (early in training
     * a Gibbs sweep of the weakly coupled GRBM draws the same chains from any start with the
     * same draws, so a lost chain state could go unseen) */
    const char *langevin = strcmp(objective, "pcd") == 0 ? "pcd.sampler=langevin" : "pcd.eta=0.01";
    char kv_obj[64];
    snprintf(kv_obj, sizeof kv_obj, "prior.objective=%s", objective);
    const char *o[16]; /* small, then the objective's keys and extra */
    int k = 0;
    while (small[k]) o[k] = small[k], k++;
    o[k++] = kv_obj;
    o[k++] = langevin;
    if (extra) o[k++] = extra;
    o[k] = NULL;
    CHECK(train_run(one_process(), "experiments/mnist.ini", o, dir, epochs, resume) == 0,
          "%s: %s training failed", objective, resume ? "resumed" : "fresh");
}

/* The checkpoints of a and b agree bit for bit, and so do their held-out numbers per epoch
 * (with_elbo 0: b ran without the held-out ELBO, so only the ALB, and b has no ELBO). */
static void compare_runs(const char *a, const char *b, const char *objective, int with_elbo)
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
            int eq = tb && tb->nbytes == ta->nbytes && memcmp(ta->data, tb->data, ta->nbytes) == 0;
            CHECK(eq, "%s: tensor %s differs between the straight and the resumed run",
                  objective, ta->name);
            same += eq;
        }
        printf("%s: %d of %d tensors bit-identical\n", objective, same, evae_st_count(fa));
        const char *keys[] = {"epoch", "global_step", "vae_steps", "prior_steps", "rng",
                              "objective", "objective_settings"};
        for (int i = 0; i < 7; i++) {
            const char *va = evae_st_meta(fa, keys[i]), *vb = evae_st_meta(fb, keys[i]);
            CHECK(va && vb && strcmp(va, vb) == 0, "%s: metadata %s: %s vs %s", objective,
                  keys[i], va ? va : "-", vb ? vb : "-");
        }
        const char *obj = evae_st_meta(fa, "objective");
        CHECK(obj && strcmp(obj, objective) == 0, "the checkpoint records objective %s, not %s",
              obj ? obj : "-", objective);
        /* the resumed run's metrics have exactly one summary line per epoch, the same numbers */
        const char *mk[] = {"test_alb", "test_elbo", "test_elbo_std_err", "log_z"};
        for (int e = 1; e <= 2; e++)
            for (int k = 0; k < (with_elbo ? 4 : 1); k++) {
                double va = metric_at(a, e, mk[k]), vb = metric_at(b, e, mk[k]);
                CHECK(va == vb, "%s: epoch %d: %s %.17g straight, %.17g resumed", objective, e,
                      mk[k], va, vb);
            }
        CHECK(with_elbo || isnan(metric_at(b, 2, "test_elbo")),
              "train.honest_every=0 logs no held-out ELBO");
    }
    evae_st_close(fa);
    evae_st_close(fb);
}

/* The checkpoint of dir rewritten as the format was before the objectives: the same tensors,
 * the metadata without "objective" and "objective_settings". */
static void strip_objective(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, EVAE_CHECKPOINT_FILE);
    evae_st_file *f = evae_st_read(path);
    CHECK(f != NULL, "checkpoint unreadable");
    if (!f) return;
    const char *keys[] = {"format", "epoch", "global_step", "vae_steps", "prior_steps", "seed",
                          "laplace_scale", "rng", "image_shape", "config"};
    enum { NK = sizeof keys / sizeof *keys };
    const char *vals[NK];
    for (int i = 0; i < NK; i++) vals[i] = evae_st_meta(f, keys[i]);
    int n = evae_st_count(f);
    evae_st_tensor *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) t[i] = *evae_st_at(f, i);
    CHECK(evae_st_write(path, t, n, keys, vals, NK) == 0, "rewrite the checkpoint");
    free(t);
    evae_st_close(f);
}

int main(void)
{
    const char *objectives[] = {"ssm", "dsm", "pcd", "snis", "nce"};
    for (int i = 0; i < 5; i++) {
        char a[64], b[64];
        temp_dir(a, sizeof a, "straight");
        temp_dir(b, sizeof b, "resumed");
        train_into(a, 2, 0, objectives[i], NULL);
        train_into(b, 1, 0, objectives[i], NULL);
        train_into(b, 2, 1, objectives[i], NULL);
        compare_runs(a, b, objectives[i], 1);
    }

    /* an old checkpoint: sliced score matching's run, written without the objective's name */
    char a[64], b[64];
    temp_dir(a, sizeof a, "straight");
    temp_dir(b, sizeof b, "old");
    train_into(a, 2, 0, "ssm", NULL);
    train_into(b, 1, 0, "ssm", NULL);
    strip_objective(b);
    train_into(b, 2, 1, "ssm", NULL);
    compare_runs(a, b, "ssm", 1);

    /* the held-out ELBO's AIS takes no draw of training and changes no state */
    char c[64];
    temp_dir(c, sizeof c, "no-elbo");
    train_into(c, 2, 0, "ssm", "train.honest_every=0");
    compare_runs(a, c, "ssm", 0);
    /* resuming under another objective is refused, naming both */
    temp_dir(b, sizeof b, "switched");
    train_into(b, 1, 0, "ssm", NULL);
    evae_config cfg;
    char ini[4096];
    snprintf(ini, sizeof ini, "%s/config.ini", b);
    const char *o[] = {"train.epochs=2", "prior.objective=pcd", NULL};
    test_config(&cfg, ini, o);
    capture_begin();
    int rc = evae_train(&cfg, b, 0, NULL, one_process());
    const char *err = capture_end();
    CHECK(rc != 0 && strstr(err, "prior.objective = ssm") && strstr(err, "asks for pcd"),
          "a resume under another objective: rc %d, '%s'", rc, err);
    return check_report("test_resume");
}
