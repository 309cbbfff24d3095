/* The CIFAR-10 reader (binary batches of 3073-byte records) through evae_cifar_load_file. */
#include "fuzz_input.h"

#include "evae/data/dataset.h"

int fuzz_cifar(const uint8_t *data, size_t size)
{
    char path[64];
    fuzz_file(0, data, size, path);
    evae_dataset d;
    if (evae_cifar_load_file(path, &d) != 0) {
        FUZZ_ASSERT(d.n == 0 && !d.pixels && !d.labels, "a refused file leaves the output empty");
        return 1;
    }
    FUZZ_ASSERT((size_t)d.n * 3073 == size, "whole records, all of them");
    FUZZ_ASSERT(d.channels == 3 && d.height == 32 && d.width == 32, "shape");
    for (int i = 0; i < d.n; i++) {
        FUZZ_ASSERT(d.labels[i] < EVAE_NUM_CLASSES, "labels 0..9");
        FUZZ_ASSERT(d.labels[i] == data[(size_t)i * 3073], "label of record i");
        FUZZ_ASSERT(d.pixels[(size_t)i * 3072 + 3071] == data[(size_t)i * 3073 + 3072],
                    "last pixel of record i");
    }
    evae_dataset_free(&d);
    return 0;
}

EVAE_FUZZ_TARGET(fuzz_cifar)
