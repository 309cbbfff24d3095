/* The command line on bad input and on its main paths, through the real binary ($EVAE_BIN):
 * every failure must exit non-zero with a message naming the problem, and lose nothing saved. */
#include "run_helpers.h"

#include <sys/wait.h>

#include "check.h"
#include "evae/cli/run.h"
#include "evae/io/safetensors.h"

static const char *bin;
static char out_path[256];

/* Runs `evae ARGS`, stdout+stderr into out_path; returns the exit status. */
static int evae(const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s > '%s' 2>&1", bin, args, out_path);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int output_has(const char *needle)
{
    FILE *f = fopen(out_path, "r");
    static char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    int found = strstr(buf, needle) != NULL;
    if (!found) fprintf(stderr, "output lacks '%s'; it was:\n%s\n", needle, buf);
    return found;
}

static long file_bytes(const char *path, char **data)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    *data = malloc((size_t)n + 1);
    if (fread(*data, 1, (size_t)n, f) != (size_t)n) n = -1;
    fclose(f);
    return n;
}

int main(void)
{
    bin = getenv("EVAE_BIN");
    if (!bin) {
        fprintf(stderr, "EVAE_BIN is not set (ctest sets it)\n");
        return 1;
    }
    char dir[64], run[256], args[2048], ckpt[512];
    temp_dir(dir, sizeof dir, "cli");
    snprintf(out_path, sizeof out_path, "%s/out.txt", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    const char *small = "device=cpu data.train_limit=1024 train.batch=256 model.hidden=64 "
                        "sample.steps=5";

    /* config errors name the key */
    CHECK(evae("train experiments/mnist.ini train.epoch=1") == 1 &&
              output_has("unknown key 'train.epoch'"), "unknown key");
    CHECK(evae("train experiments/mnist.ini train.epochs=-1") == 1 &&
              output_has("train.epochs"), "out of range");
    CHECK(evae("train experiments/nope.ini") == 1 && output_has("experiments/nope.ini"),
          "missing config file");
    CHECK(evae("frobnicate") == 2 && output_has("unknown command"), "unknown command");

    /* missing data folder names the file */
    snprintf(args, sizeof args, "train experiments/mnist.ini %s data.dir=%s/none run.dir=%s/r0",
             small, dir, dir);
    CHECK(evae(args) == 1 && output_has("/none") && output_has("train-images"), "missing data");

    /* unwritable run folder: its parent is a regular file */
    snprintf(args, sizeof args, "train experiments/mnist.ini %s run.dir=%s/out.txt/run", small, dir);
    CHECK(evae(args) == 1 && output_has("cannot create folder"), "unwritable run folder");

    /* a real short run, then sampling from it */
    snprintf(args, sizeof args, "train experiments/mnist.ini %s train.epochs=1 run.dir=%s", small,
             run);
    CHECK(evae(args) == 0, "training");
    char config_path[512], *config_before = NULL, *config_after = NULL;
    snprintf(config_path, sizeof config_path, "%s/config.ini", run);
    long config_len = file_bytes(config_path, &config_before);
    CHECK(config_len > 0, "config.ini of the run");

    /* a run stopped before its first checkpoint resumes from the start, exactly */
    snprintf(ckpt, sizeof ckpt, "%s/%s", run, EVAE_CHECKPOINT_FILE);
    char *first, *again;
    long first_len = file_bytes(ckpt, &first);
    remove(ckpt);
    snprintf(args, sizeof args, "train --resume %s", run);
    CHECK(evae(args) == 0 && output_has("no checkpoint yet"), "resume without a checkpoint");
    CHECK(first_len > 0 && file_bytes(ckpt, &again) == first_len &&
              memcmp(first, again, (size_t)first_len) == 0,
          "resumed from the start, the checkpoint differs from the first run's");
    free(first);
    free(again);

    /* a resume with nothing to train says so, and rewrites nothing */
    snprintf(args, sizeof args, "train --resume %s train.epochs=1", run);
    CHECK(evae(args) == 0 && output_has("already complete") && output_has("train.epochs"),
          "resume of a complete run");
    snprintf(args, sizeof args, "train --resume %s train.epochs=0", run);
    CHECK(evae(args) == 1 && output_has("epoch 1") && output_has("train.epochs=0"),
          "resume with train.epochs below the checkpoint's epoch");
    CHECK(file_bytes(config_path, &config_after) == config_len &&
              memcmp(config_before, config_after, (size_t)config_len) == 0,
          "a resume with nothing to train rewrote config.ini");
    free(config_after);

    /* temporary files left by writes that were cut off are removed on resume, in the run folder
     * and in grids/ (others' files stay) */
    static const char *const stale[] = {"checkpoint.safetensors.tmp", "metrics.jsonl.tmp",
                                        "manifest.json.tmp", "config.ini.tmp",
                                        "eval_examples.csv.tmp", "grids/samples_epoch001.png.tmp",
                                        "grids/recon_epoch001.png.tmp"};
    enum { N_STALE = sizeof stale / sizeof *stale };
    char tmp_path[600];
    for (int i = 0; i < N_STALE; i++) {
        snprintf(tmp_path, sizeof tmp_path, "%s/%s", run, stale[i]);
        FILE *t = fopen(tmp_path, "wb");
        fputs("cut off", t);
        fclose(t);
    }
    snprintf(tmp_path, sizeof tmp_path, "%s/notes.txt.tmp", run);
    FILE *notes = fopen(tmp_path, "wb");
    fclose(notes);
    snprintf(tmp_path, sizeof tmp_path, "%s/grids/notes.png.tmp", run);
    notes = fopen(tmp_path, "wb");
    fclose(notes);
    snprintf(args, sizeof args, "train --resume %s train.epochs=2", run);
    CHECK(evae(args) == 0 && output_has("removed") && output_has("samples_epoch001.png.tmp"),
          "resume after cut-off writes");
    for (int i = 0; i < N_STALE; i++) CHECK(!file_exists(run, stale[i]), "%s is left", stale[i]);
    CHECK(file_exists(run, "notes.txt.tmp") && file_exists(run, "grids/notes.png.tmp"),
          "a file evae does not write was removed");
    free(config_before);
    config_len = file_bytes(config_path, &config_before);

    snprintf(args, sizeof args, "sample %s --sampler gibbs --steps 20 --n 16 -o %s/s.png", run, dir);
    CHECK(evae(args) == 0 && file_exists(dir, "s.png"), "sample (gibbs)");
    snprintf(args, sizeof args, "sample %s --sampler langevin --steps 20 --n 9 -o %s/l.png", run,
             dir);
    CHECK(evae(args) == 0 && file_exists(dir, "l.png"), "sample (langevin)");
    snprintf(args, sizeof args, "sample %s --sampler metropolis", run);
    CHECK(evae(args) == 1 && output_has("metropolis"), "unknown sampler");

    /* a corrupt (truncated) checkpoint is refused by name */
    char *good;
    long n = file_bytes(ckpt, &good);
    CHECK(n > 1000, "checkpoint size %ld", n);
    char bad_path[600];
    snprintf(bad_path, sizeof bad_path, "%s/bad.safetensors", dir);
    FILE *f = fopen(bad_path, "wb");
    fwrite(good, 1, (size_t)n / 2, f);
    fclose(f);
    snprintf(args, sizeof args, "sample %s", bad_path);
    CHECK(evae(args) == 1 && output_has("bad.safetensors") && output_has("corrupt"),
          "truncated checkpoint");

    /* NaN: a checkpoint whose weights overflow the forward pass. Resuming must stop with exit 3
     * and leave the checkpoint byte-identical, and config.ini without the attempt's overrides. */
    evae_st_file *sf = evae_st_read(ckpt);
    CHECK(sf != NULL, "read checkpoint");
    if (sf) {
        int count = evae_st_count(sf);
        evae_st_tensor *ts = calloc((size_t)count, sizeof *ts);
        float *huge = NULL;
        for (int i = 0; i < count; i++) {
            ts[i] = *evae_st_at(sf, i);
            if (strcmp(ts[i].name, "encoder.0.weight") == 0) {
                huge = malloc(ts[i].nbytes);
                for (size_t k = 0; k < ts[i].nbytes / 4; k++) huge[k] = 3e37f;
                ts[i].data = huge;
            }
        }
        const char *keys[] = {"format", "epoch", "global_step", "vae_steps", "prior_steps",
                              "seed", "laplace_scale", "rng", "image_shape", "config"};
        const char *vals[10];
        for (int i = 0; i < 10; i++) vals[i] = evae_st_meta(sf, keys[i]);
        CHECK(huge && evae_st_write(ckpt, ts, count, keys, vals, 10) == 0, "rewrite checkpoint");
        evae_st_close(sf);
        free(huge);
        free(ts);
        char *before, *after;
        long nb = file_bytes(ckpt, &before);
        snprintf(args, sizeof args, "train --resume %s train.epochs=3 train.lr=0.5", run);
        CHECK(evae(args) == 3 && output_has("non-finite loss or parameters"), "NaN stops the run with exit 3");
        long na = file_bytes(ckpt, &after);
        CHECK(nb == na && nb > 0 && memcmp(before, after, (size_t)nb) == 0,
              "the checkpoint changed after a NaN");
        CHECK(file_bytes(config_path, &config_after) == config_len &&
                  memcmp(config_before, config_after, (size_t)config_len) == 0,
              "config.ini holds the overrides of the resume that failed");
        free(config_after);
        free(before);
        free(after);
    }
    free(good);
    free(config_before);
    return check_report("test_cli");
}
