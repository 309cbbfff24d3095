/* The CIFAR-10 binary reader: records read back exactly with the planar R,G,B layout kept; bad
 * lengths, bad labels, empty and missing files fail with a message naming the file and the problem;
 * the folder loader joins the batches present in order and splits test / validation. */
#define _XOPEN_SOURCE 700
#include "data_files.h"

#include <stdint.h>

#include "evae/data/dataset.h"

enum { PLANE = 32 * 32, PIXELS = 3 * PLANE, RECORD = 1 + PIXELS };

/* Pixel value for image `img`, channel c, row y, column x: every channel, row and column gives a
 * different value, so any reordering of the layout shows. */
static uint8_t pixel_value(int img, int c, int y, int x)
{
    return (uint8_t)(img * 53 + c * 101 + y * 7 + x * 3 + (y * x & 5));
}

/* n records for images first..first+n-1 with labels label(i) = (i * 7) % 10 unless bad_record >= 0,
 * whose label becomes bad_label. Returns the malloc'ed bytes [n * 3073]. */
static unsigned char *make_records(int first, int n, int bad_record, int bad_label)
{
    unsigned char *r = malloc((size_t)n * RECORD + 1);
    for (int i = 0; i < n; i++) {
        unsigned char *rec = r + (size_t)i * RECORD;
        int img = first + i;
        rec[0] = (unsigned char)(i == bad_record ? bad_label : (img * 7) % 10);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    rec[1 + c * PLANE + y * 32 + x] = pixel_value(img, c, y, x);
    }
    return r;
}

/* d holds images first..first+n-1 exactly, planar: pixels[i, c*1024 + y*32 + x]. */
static int holds_images(const evae_dataset *d, int first, int n)
{
    if (d->n != n || d->channels != 3 || d->height != 32 || d->width != 32) return 0;
    for (int i = 0; i < n; i++) {
        if (d->labels[i] != (uint8_t)(((first + i) * 7) % 10)) return 0;
        const uint8_t *p = d->pixels + (size_t)i * PIXELS;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    if (p[c * PLANE + y * 32 + x] != pixel_value(first + i, c, y, x)) return 0;
    }
    return 1;
}

static void test_file(void)
{
    evae_dataset d;
    unsigned char *r = make_records(0, 3, -1, 0);
    const char *p = scratch_path("good.bin");
    write_file(p, r, 3 * RECORD, 0);
    CHECK(evae_cifar_load_file(p, &d) == 0, "good file loads");
    CHECK(holds_images(&d, 0, 3), "records read back exactly, planar R,G,B kept");
    CHECK(evae_dataset_dim(&d) == 3072, "dim %d", evae_dataset_dim(&d));
    /* The red plane of image 1 starts right after its label byte in the file. */
    CHECK(memcmp(d.pixels + PIXELS, r + RECORD + 1, PIXELS) == 0, "image 1 = its record's pixels");
    evae_dataset_free(&d);

    /* Length not a multiple of 3073: two records and 5 bytes. */
    unsigned char *longer = calloc(2 * RECORD + 5, 1);
    memcpy(longer, r, 2 * RECORD);
    const char *bad = scratch_path("bad-length.bin");
    write_file(bad, longer, 2 * RECORD + 5, 0);
    CHECK_FAILS(evae_cifar_load_file(bad, &d), bad, "length 6151 is not a multiple");
    CHECK_FAILS(evae_cifar_load_file(bad, &d), bad, "remainder 5");
    /* Shorter than one record. */
    write_file(bad, r, 100, 0);
    CHECK_FAILS(evae_cifar_load_file(bad, &d), bad, "length 100 is not a multiple");
    free(longer);

    /* A bad label in the third record. */
    bad = scratch_path("bad-label.bin");
    unsigned char *rb = make_records(0, 3, 2, 10);
    write_file(bad, rb, 3 * RECORD, 0);
    CHECK_FAILS(evae_cifar_load_file(bad, &d), bad, "record 2 has label 10");
    rb[2 * RECORD] = 255;
    write_file(bad, rb, 3 * RECORD, 0);
    CHECK_FAILS(evae_cifar_load_file(bad, &d), bad, "record 2 has label 255");
    free(rb);

    /* Empty and missing files. */
    bad = scratch_path("empty.bin");
    write_file(bad, "", 0, 0);
    CHECK_FAILS(evae_cifar_load_file(bad, &d), bad, "empty file");
    const char *none = scratch_path("missing.bin");
    CHECK_FAILS(evae_cifar_load_file(none, &d), none, "cannot open");
    CHECK(d.n == 0 && d.pixels == NULL && d.labels == NULL, "failure leaves the output empty");
    free(r);
}

static void write_batch(const char *dir, const char *name, int first, int n)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unsigned char *r = make_records(first, n, -1, 0);
    write_file(p, r, (size_t)n * RECORD, 0);
    free(r);
}

static void test_folder(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/cifar", scratch_dir);
    mkdir(dir, 0700);
    evae_dataset train, held;
    const char *name = NULL;
    CHECK_FAILS(evae_cifar_load(dir, 0, &train, &held, &name), dir, "no CIFAR-10 training batch");

    /* Batches 1 and 3 present (2, 4, 5 absent): joined in order. */
    write_batch(dir, "data_batch_3.bin", 2, 3); /* images 2..4 */
    write_batch(dir, "data_batch_1.bin", 0, 2); /* images 0..1 */
    CHECK_FAILS(evae_cifar_load(dir, 0, &train, &held, &name), dir, "missing test_batch.bin");

    CHECK(evae_cifar_load(dir, 2, &train, &held, &name) == 0, "validation split loads");
    CHECK(name && strcmp(name, "validation") == 0, "held-out name %s", name ? name : "(null)");
    CHECK(holds_images(&train, 0, 3), "train = images 0..2 (batch 1, then the first of batch 3)");
    CHECK(holds_images(&held, 3, 2), "validation = the last 2 images (of batch 3)");
    evae_dataset_free(&train), evae_dataset_free(&held);
    CHECK_FAILS(evae_cifar_load(dir, 5, &train, &held, &name), dir, "cannot hold out 5 of 5");

    write_batch(dir, "test_batch.bin", 100, 2);
    name = NULL;
    CHECK(evae_cifar_load(dir, 0, &train, &held, &name) == 0, "train + test loads");
    CHECK(name && strcmp(name, "test") == 0, "held-out name %s", name ? name : "(null)");
    CHECK(holds_images(&train, 0, 5), "train = batches 1 and 3 in order");
    CHECK(holds_images(&held, 100, 2), "test = test_batch.bin");
    evae_dataset_free(&train), evae_dataset_free(&held);

    /* A damaged batch fails the whole load, naming that batch. */
    char p[600];
    snprintf(p, sizeof p, "%s/data_batch_2.bin", dir);
    write_file(p, "xyz", 3, 0);
    CHECK_FAILS(evae_cifar_load(dir, 0, &train, &held, &name), "data_batch_2.bin", "remainder 3");
    CHECK(train.n == 0 && held.n == 0 && train.pixels == NULL, "failure leaves outputs empty");
}

int main(void)
{
    scratch_make("evae-test-cifar");
    test_file();
    test_folder();
    scratch_remove();
    return check_report("test_cifar_reader");
}
