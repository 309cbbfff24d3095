/* Checkpoints on their own: save and load give back every tensor and counter; a tensor of the
 * wrong shape is reported with both shapes; the checksum of the tensor data catches a flipped
 * bit and a wrong checksum text; a file written without a checksum still loads. */
#include "run_helpers.h"

#include <zlib.h>

#include "capture_stderr.h"
#include "check.h"
#include "evae/io/safetensors.h"
#include "evae/model/checkpoint.h"
#include "evae/util.h"

static char dir[64];

/* A small MLP model with a GRBM prior: 1x4x4 images, d = 2, 3 hidden units, n = 2. */
static void small_model(evae_model *m)
{
    evae_model_shape s = {.arch = EVAE_ARCH_MLP, .channels = 1, .height = 4, .width = 4,
                          .latent = 2, .hidden = 3, .grbm_hidden = 2, .prior_grbm = 1};
    if (evae_model_create(m, evae_cpu_backend(), &s)) exit(1);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

static void spill(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) exit(1);
}

/* Rewrites `src` into `dst` with evae_st_write: tensor `name` gets the shape given (same bytes),
 * metadata `drop` is left out (NULL: none), metadata `key` is set to `value` (NULL: unchanged). */
static void rewrite(const char *src, const char *dst, const char *name, int ndim,
                    const int64_t *shape, const char *drop, const char *key, const char *value)
{
    evae_st_file *f = evae_st_read(src);
    if (!f) exit(1);
    int count = evae_st_count(f);
    evae_st_tensor *t = calloc((size_t)count, sizeof *t);
    for (int i = 0; i < count; i++) {
        t[i] = *evae_st_at(f, i);
        if (name && strcmp(t[i].name, name) == 0) {
            t[i].ndim = ndim;
            for (int k = 0; k < ndim; k++) t[i].shape[k] = shape[k];
        }
    }
    static const char *const keys[] = {"format", "epoch", "global_step", "vae_steps",
                                       "prior_steps", "seed", "laplace_scale", "rng",
                                       "image_shape", "config", "tensors_crc32"};
    const char *mk[11], *mv[11];
    int mc = 0;
    for (int i = 0; i < 11; i++) {
        const char *v = key && strcmp(keys[i], key) == 0 ? value : evae_st_meta(f, keys[i]);
        if (!v || (drop && strcmp(keys[i], drop) == 0)) continue;
        mk[mc] = keys[i];
        mv[mc++] = v;
    }
    CHECK(evae_st_write(dst, t, count, mk, mv, mc) == 0, "rewrite %s", dst);
    free(t);
    evae_st_close(f);
}

/* Loads `path` into a fresh model; returns the result, the message in *msg. */
static int load(const char *path, const char **msg)
{
    evae_model m;
    small_model(&m);
    evae_train_state st;
    capture_begin();
    int rc = evae_checkpoint_load(path, &m, &st, NULL);
    *msg = capture_end();
    evae_model_free(&m);
    return rc;
}

int main(void)
{
    temp_dir(dir, sizeof dir, "ckpt");
    char good[128], bad[128];
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);

    /* round trip: every buffer and counter comes back */
    evae_model a, b;
    small_model(&a);
    small_model(&b);
    evae_model_init(&a, 7);
    a.vae_steps = 11;
    a.prior_steps = 12;
    evae_train_state sa = {.epoch = 3, .global_step = 42, .seed = 7}, sb;
    CHECK(evae_checkpoint_save(good, &a, &sa, "[train]\nseed = 7\n", NULL) == 0, "save");
    CHECK(evae_checkpoint_load(good, &b, &sb, NULL) == 0, "load");
    CHECK(memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0 &&
              memcmp(a.theta, b.theta, a.n_theta * sizeof(float)) == 0,
          "weights differ after a round trip");
    CHECK(sb.epoch == 3 && sb.global_step == 42 && sb.seed == 7 && b.vae_steps == 11 &&
              b.prior_steps == 12,
          "counters: epoch %d step %ld seed %ld t %ld/%ld", sb.epoch, sb.global_step, sb.seed,
          b.vae_steps, b.prior_steps);

    /* the checksum is CRC-32 (zlib) of the tensor data in the byte order of the names */
    evae_st_file *f = evae_st_read(good);
    CHECK(f != NULL, "read back");
    if (f) {
        int count = evae_st_count(f);
        const evae_st_tensor **sorted = calloc((size_t)count, sizeof *sorted);
        for (int i = 0; i < count; i++) { /* insertion sort by name */
            const evae_st_tensor *t = evae_st_at(f, i);
            int j = i;
            while (j > 0 && strcmp(sorted[j - 1]->name, t->name) > 0) {
                sorted[j] = sorted[j - 1];
                j--;
            }
            sorted[j] = t;
        }
        uLong crc = crc32(0L, Z_NULL, 0);
        for (int i = 0; i < count; i++) crc = crc32(crc, sorted[i]->data, (uInt)sorted[i]->nbytes);
        char want[16];
        snprintf(want, sizeof want, "%08lx", crc);
        const char *got = evae_st_meta(f, "tensors_crc32");
        CHECK(got && strcmp(got, want) == 0, "tensors_crc32 is %s, CRC-32 by name is %s",
              got ? got : "missing", want);
        free(sorted);
        evae_st_close(f);
    }

    /* a transposed weight: the message shows both shapes */
    const char *msg;
    int64_t transposed[2] = {3, 16};
    rewrite(good, bad, "encoder.0.weight", 2, transposed, NULL, NULL, NULL);
    CHECK(load(bad, &msg) != 0, "a transposed weight was accepted");
    CHECK(strstr(msg, bad) && strstr(msg, "encoder.0.weight") && strstr(msg, "[3, 16]") &&
              strstr(msg, "[16, 3]"),
          "the message should name the file, the tensor, the shape found [3, 16] and the shape "
          "expected [16, 3]: %s", msg);

    /* one flipped bit in the last tensor's data is caught by the checksum */
    size_t n = 0;
    unsigned char *bytes = slurp(good, &n);
    CHECK(bytes && n > 100, "checkpoint bytes");
    if (bytes && n > 100) {
        bytes[n - 3] ^= 0x10;
        spill(bad, bytes, n);
        CHECK(load(bad, &msg) != 0, "a flipped bit in the tensor data was loaded silently");
        CHECK(strstr(msg, bad) && strstr(msg, "checksum"),
              "the message should name the file and the checksum: %s", msg);
    }
    free(bytes);

    /* a checksum that is not 8 hex digits is corruption too */
    rewrite(good, bad, NULL, 0, NULL, NULL, "tensors_crc32", "12345");
    CHECK(load(bad, &msg) != 0 && strstr(msg, "tensors_crc32"), "bad checksum text: %s", msg);

    /* files without a checksum (written before it existed) still load */
    rewrite(good, bad, NULL, 0, NULL, "tensors_crc32", NULL, NULL);
    CHECK(load(bad, &msg) == 0, "a checkpoint without a checksum was refused: %s", msg);

    evae_model_free(&a);
    evae_model_free(&b);
    return check_report("test_checkpoint");
}
