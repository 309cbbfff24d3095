/* The in-memory data set: freeing, finding the files, the held-out split, label counts and the
 * deterministic shuffle. */
#include "evae/data/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/math/philox.h"
#include "evae/util.h"

void evae_dataset_free(evae_dataset *d)
{
    if (!d) return;
    free(d->pixels);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

int evae_dataset_load_split(const char *dir, int validation, evae_part_loader load_train,
                            evae_part_loader load_test, evae_dataset *train,
                            evae_dataset *heldout, const char **heldout_name)
{
    memset(train, 0, sizeof *train);
    memset(heldout, 0, sizeof *heldout);
    if (validation < 0) {
        evae_error("%s: validation size %d is negative", dir, validation);
        return 1;
    }
    if (load_train(dir, train)) goto fail;
    if (validation > 0) {
        if (evae_dataset_split_last(train, validation, heldout, dir)) goto fail;
        if (heldout_name) *heldout_name = "validation";
        return 0;
    }
    if (load_test(dir, heldout)) goto fail;
    if (heldout_name) *heldout_name = "test";
    return 0;
fail:
    evae_dataset_free(train);
    evae_dataset_free(heldout);
    return 1;
}

int evae_data_file(const char *dir, const char *name, char *path, size_t size)
{
    int len = snprintf(path, size, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= size) {
        evae_error("%s: path too long", dir);
        return 2;
    }
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return !f && errno == ENOENT ? 1 : 0;
}

int evae_dataset_split_last(evae_dataset *d, int count, evae_dataset *tail, const char *what)
{
    memset(tail, 0, sizeof *tail);
    if (count <= 0 || count >= d->n) {
        evae_error("%s: cannot hold out %d of %d examples (need 0 < validation < %d)", what, count,
                   d->n, d->n);
        return 1;
    }
    size_t dim = (size_t)evae_dataset_dim(d);
    int keep = d->n - count;
    tail->n = count;
    tail->channels = d->channels;
    tail->height = d->height;
    tail->width = d->width;
    tail->pixels = evae_xcalloc((size_t)count * dim, 1); /* [count, dim] */
    tail->labels = evae_xcalloc((size_t)count, 1);       /* [count] */
    memcpy(tail->pixels, d->pixels + (size_t)keep * dim, (size_t)count * dim);
    memcpy(tail->labels, d->labels + keep, (size_t)count);
    /* Shrinking never needs new memory; if realloc declines, the larger block still works. */
    uint8_t *p = realloc(d->pixels, (size_t)keep * dim);
    if (p) d->pixels = p;
    uint8_t *l = realloc(d->labels, (size_t)keep);
    if (l) d->labels = l;
    d->n = keep;
    return 0;
}

void evae_dataset_label_counts(const evae_dataset *d, int counts[EVAE_NUM_CLASSES])
{
    memset(counts, 0, EVAE_NUM_CLASSES * sizeof counts[0]);
    for (int i = 0; i < d->n; i++)
        if (d->labels[i] < EVAE_NUM_CLASSES) counts[d->labels[i]]++;
}

void evae_shuffle(int *perm, int n, uint64_t seed, uint64_t epoch)
{
    uint64_t stream = evae_stream(EVAE_STREAM_SHUFFLE, epoch);
    for (int i = 0; i < n; i++) perm[i] = i;
    /* Fisher-Yates from the back: position i swaps with a uniform j in 0..i. u < 1 always, so
     * j <= i; the clamp only guards against rounding in the product. */
    for (int i = n - 1; i > 0; i--) {
        double u = (double)evae_uniform_at(seed, stream, (uint64_t)i);
        int j = (int)(u * (double)(i + 1));
        if (j > i) j = i;
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
