/* Image data sets in memory: MNIST (IDX files) and CIFAR-10 (binary batches), read once into host
 * memory as 8-bit pixels, plus the deterministic shuffle and the float batch gather the trainer
 * uses. Every loader validates its input completely and fails with one clear line naming the file
 * and the problem (evae_error), returning non-zero with the output left empty. */
#ifndef EVAE_DATA_H
#define EVAE_DATA_H

#include <stddef.h>
#include <stdint.h>

/* Both data sets have ten classes; labels outside 0..EVAE_NUM_CLASSES-1 are rejected. */
#define EVAE_NUM_CLASSES 10

typedef struct evae_dataset {
    int n;                        /* examples */
    int channels, height, width;  /* MNIST 1x28x28, CIFAR 3x32x32 */
    uint8_t *pixels;              /* pixels[n, channels*height*width], 0..255; CIFAR planar R,G,B */
    uint8_t *labels;              /* labels[n], 0..9 */
} evae_dataset;

/* Values per example: channels*height*width. */
static inline int evae_dataset_dim(const evae_dataset *d)
{
    return d->channels * d->height * d->width;
}

/* Frees the buffers and zeroes the struct; safe on a zeroed or already freed struct. */
void evae_dataset_free(evae_dataset *d);

/* IDX image + label files (gzipped or not: detected by the gzip magic, read with zlib). Validates
 * the magic numbers (0x00000803 images: unsigned bytes, 3 dims; 0x00000801 labels: 1 dim), the
 * dims (positive), the exact file length (truncated or trailing bytes are errors), labels 0..9,
 * and that the label count equals the image count. The result has channels = 1. */
int evae_idx_load(const char *images_path, const char *labels_path, evae_dataset *out);

/* MNIST from folder dir holding train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz] and
 * maybe t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz] (the plain file is used when
 * both forms are present). Images must be 28x28.
 * validation > 0: the LAST `validation` training images become the held-out set,
 *                 *heldout_name = "validation"; t10k files are ignored.
 * validation == 0: the t10k files are the held-out set, *heldout_name = "test" (an error naming
 *                 the missing file if absent).
 * heldout_name may be NULL. */
int evae_mnist_load(const char *dir, int validation, evae_dataset *train, evae_dataset *heldout,
                    const char **heldout_name);

/* One CIFAR-10 binary batch file: records of 1 label byte + 3072 pixel bytes (1024 R, 1024 G,
 * 1024 B, each 32x32 row-major), kept planar. Validates that the file length is a positive multiple
 * of 3073 and that labels are 0..9. */
int evae_cifar_load_file(const char *path, evae_dataset *out);

/* CIFAR-10 folder: data_batch_1.bin .. data_batch_5.bin (those present, at least one, in that
 * order) as training set, test_batch.bin as held-out set (*heldout_name = "test"); validation > 0
 * holds out the last `validation` training images instead, as for MNIST. */
int evae_cifar_load(const char *dir, int validation, evae_dataset *train, evae_dataset *heldout,
                    const char **heldout_name);

/* A data set's loader of one part (training or test files) from folder dir into out; prints the
 * problem and returns non-zero on failure. */
typedef int (*evae_part_loader)(const char *dir, evae_dataset *out);

/* What both folder loaders share: train = load_train(dir); the held-out set is its last
 * `validation` examples when validation > 0 (*heldout_name = "validation"), else
 * load_test(dir) (*heldout_name = "test"). On failure both sets are left empty. */
int evae_dataset_load_split(const char *dir, int validation, evae_part_loader load_train,
                            evae_part_loader load_test, evae_dataset *train,
                            evae_dataset *heldout, const char **heldout_name);

/* path = dir/name. 0: it exists, or fails to open for a reason other than absence (the reader
 * then reports the real problem); 1: absent; 2: the path does not fit in size (reported). */
int evae_data_file(const char *dir, const char *name, char *path, size_t size);

/* Moves the last `count` examples of d into *tail (0 < count < d->n) and shrinks d to the first
 * d->n - count. `what` names the data in the error message. */
int evae_dataset_split_last(evae_dataset *d, int count, evae_dataset *tail, const char *what);

/* counts[EVAE_NUM_CLASSES] = number of examples of each label. */
void evae_dataset_label_counts(const evae_dataset *d, int counts[EVAE_NUM_CLASSES]);

/* Deterministic shuffle: perm[n] = a permutation of 0..n-1 by Fisher-Yates, draw i taken from
 * evae_uniform_at(seed, evae_stream(EVAE_STREAM_SHUFFLE, epoch), i); the same (seed, epoch) always
 * gives the same permutation. The draws carry 24 random bits, so for n in the tens of thousands
 * each swap target is uniform up to a relative error below n / 2^24 (under 0.4% for n = 60000). */
void evae_shuffle(int *perm, int n, uint64_t seed, uint64_t epoch);


#endif
