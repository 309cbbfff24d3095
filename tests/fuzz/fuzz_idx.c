/* The IDX reader (MNIST images and labels, plain or gzipped) through evae_idx_load. The input is
 * both files: a 4-byte little-endian length L, then L bytes of the image file, then the label
 * file (tests/fuzz/make_seeds.sh builds seeds of this form from data/mnist-10k). */
#include "fuzz_input.h"

#include <string.h>

#include "evae/data/dataset.h"

int fuzz_idx(const uint8_t *data, size_t size)
{
    if (size < 4) return 1;
    size_t images_len = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
                        (size_t)data[3] << 24;
    if (images_len > size - 4) images_len = size - 4;
    char images[64], labels[64];
    fuzz_file(0, data + 4, images_len, images);
    fuzz_file(1, data + 4 + images_len, size - 4 - images_len, labels);
    evae_dataset d;
    if (evae_idx_load(images, labels, &d) != 0) {
        FUZZ_ASSERT(d.n == 0 && !d.pixels && !d.labels, "a refused file leaves the output empty");
        return 1;
    }
    FUZZ_ASSERT(d.n > 0 && d.channels == 1 && d.height > 0 && d.width > 0, "shape");
    unsigned sum = 0; /* every pixel readable (the sanitizer checks the bounds) */
    for (size_t i = 0; i < (size_t)d.n * (size_t)evae_dataset_dim(&d); i++) sum += d.pixels[i];
    for (int i = 0; i < d.n; i++) FUZZ_ASSERT(d.labels[i] < EVAE_NUM_CLASSES, "labels 0..9");
    (void)sum;
    evae_dataset_free(&d);
    return 0;
}

EVAE_FUZZ_TARGET(fuzz_idx)
