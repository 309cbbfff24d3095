/* CIFAR-10 in its official binary format: fixed records of 1 label byte and 3072 pixel bytes
 * (1024 red, 1024 green, 1024 blue, each 32x32 row-major). The planar layout is kept as is: it is
 * the channels-first layout the convolutional encoder consumes. */
#include "evae/data/dataset.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/util.h"

enum {
    CIFAR_CHANNELS = 3,
    CIFAR_SIDE = 32,
    CIFAR_PIXELS = CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE, /* 3072 */
    CIFAR_RECORD = 1 + CIFAR_PIXELS,                          /* 3073 */
    CIFAR_TRAIN_BATCHES = 5,
};

int evae_cifar_load_file(const char *path, evae_dataset *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        evae_error("%s: cannot open: %s", path, strerror(errno));
        return 1;
    }
    int rc = 1;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        evae_error("%s: cannot determine the file length: %s", path, strerror(errno));
        goto done;
    }
    if (len == 0) {
        evae_error("%s: empty file (expected CIFAR-10 records of %d bytes)", path, CIFAR_RECORD);
        goto done;
    }
    if (len % CIFAR_RECORD != 0) {
        evae_error("%s: length %ld is not a multiple of the %d-byte CIFAR-10 record "
                   "(1 label + %d pixels): remainder %ld",
                   path, len, CIFAR_RECORD, CIFAR_PIXELS, len % CIFAR_RECORD);
        goto done;
    }
    if (len / CIFAR_RECORD > INT_MAX) {
        evae_error("%s: %ld records are too many", path, len / CIFAR_RECORD);
        goto done;
    }
    int n = (int)(len / CIFAR_RECORD);
    out->n = n;
    out->channels = CIFAR_CHANNELS;
    out->height = CIFAR_SIDE;
    out->width = CIFAR_SIDE;
    out->pixels = evae_xcalloc((size_t)n * CIFAR_PIXELS, 1); /* [n, 3*32*32] planar */
    out->labels = evae_xcalloc((size_t)n, 1);                /* [n] */
    for (int i = 0; i < n; i++) {
        uint8_t *pix = out->pixels + (size_t)i * CIFAR_PIXELS;
        if (fread(&out->labels[i], 1, 1, f) != 1 ||
            fread(pix, 1, CIFAR_PIXELS, f) != CIFAR_PIXELS) {
            evae_error("%s: read failed in record %d of %d: %s", path, i, n,
                       ferror(f) ? strerror(errno) : "file shrank while reading");
            goto done;
        }
        if (out->labels[i] >= EVAE_NUM_CLASSES) {
            evae_error("%s: record %d has label %d (expected 0..%d)", path, i, out->labels[i],
                       EVAE_NUM_CLASSES - 1);
            goto done;
        }
    }
    rc = 0;
done:
    fclose(f);
    if (rc) evae_dataset_free(out);
    return rc;
}

/* Appends src to dst (dst may be empty) and frees src. */
static void cifar_append(evae_dataset *dst, evae_dataset *src)
{
    if (dst->n == 0) {
        evae_dataset_free(dst);
        *dst = *src;
        memset(src, 0, sizeof *src);
        return;
    }
    size_t dim = (size_t)evae_dataset_dim(dst), n = (size_t)dst->n + (size_t)src->n;
    uint8_t *pixels = realloc(dst->pixels, n * dim); /* [n, dim] */
    uint8_t *labels = pixels ? realloc(dst->labels, n) : NULL; /* [n] */
    if (!pixels || !labels) {
        evae_error("out of host memory joining CIFAR-10 batches (%zu images)", n);
        abort();
    }
    memcpy(pixels + (size_t)dst->n * dim, src->pixels, (size_t)src->n * dim);
    memcpy(labels + dst->n, src->labels, (size_t)src->n);
    dst->pixels = pixels;
    dst->labels = labels;
    dst->n = (int)n;
    evae_dataset_free(src);
}

/* The training batches present, in order (at least one). */
static int cifar_load_train(const char *dir, evae_dataset *train)
{
    char path[4096], name[32];
    for (int b = 1; b <= CIFAR_TRAIN_BATCHES; b++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        int found = evae_data_file(dir, name, path, sizeof path);
        if (found == 2) return 1;
        if (found == 1) continue;
        evae_dataset batch;
        if (evae_cifar_load_file(path, &batch)) return 1;
        cifar_append(train, &batch);
    }
    if (train->n == 0) {
        evae_error("%s: no CIFAR-10 training batch (data_batch_1.bin .. data_batch_%d.bin)", dir,
                   CIFAR_TRAIN_BATCHES);
        return 1;
    }
    return 0;
}

static int cifar_load_test(const char *dir, evae_dataset *test)
{
    char path[4096];
    int found = evae_data_file(dir, "test_batch.bin", path, sizeof path);
    if (found == 1)
        evae_error("%s: missing test_batch.bin (the test set when validation = 0)", dir);
    return found || evae_cifar_load_file(path, test);
}

int evae_cifar_load(const char *dir, int validation, evae_dataset *train, evae_dataset *heldout,
                    const char **heldout_name)
{
    return evae_dataset_load_split(dir, validation, cifar_load_train, cifar_load_test, train,
                                   heldout, heldout_name);
}
