/* The IDX (MNIST) reader: good files read back exactly (plain and gzipped); every kind of
 * malformed file fails with a message naming the file and the problem; the MNIST folder loader's
 * test / validation split; and the bundled data/mnist-10k sample. */
#define _XOPEN_SOURCE 700
#include "data_files.h"

#include <stdint.h>

#include "evae/data/dataset.h"

/* An IDX file in memory: big-endian magic and dims, then the bytes of body. */
typedef struct {
    unsigned char *bytes;
    size_t len;
} idx_blob;

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static idx_blob idx_make(uint32_t magic, const uint32_t *dims, int ndims, const uint8_t *body,
                         size_t body_len)
{
    idx_blob b;
    b.len = 4 + 4 * (size_t)ndims + body_len;
    b.bytes = calloc(b.len + 1, 1);
    put_be32(b.bytes, magic);
    for (int k = 0; k < ndims; k++) put_be32(b.bytes + 4 + 4 * k, dims[k]);
    if (body_len) memcpy(b.bytes + 4 + 4 * ndims, body, body_len);
    return b;
}

/* A distinctive pixel pattern: image i, pixel k. */
static uint8_t pattern(int i, int k) { return (uint8_t)(i * 37 + k * 11 + (k >> 5)); }

/* images[n, rows*cols] with the pattern, plus labels[n] = (i * 3) % 10, as two IDX blobs. */
static void make_set(int n, int rows, int cols, uint8_t label_offset, idx_blob *img, idx_blob *lab)
{
    size_t dim = (size_t)rows * cols;
    uint8_t *pix = malloc((size_t)n * dim + 1), *lbl = malloc((size_t)n + 1);
    for (int i = 0; i < n; i++) {
        for (size_t k = 0; k < dim; k++) pix[i * dim + k] = pattern(i + label_offset, (int)k);
        lbl[i] = (uint8_t)((i * 3 + label_offset) % 10);
    }
    uint32_t idims[3] = {(uint32_t)n, (uint32_t)rows, (uint32_t)cols}, ldims[1] = {(uint32_t)n};
    *img = idx_make(0x00000803, idims, 3, pix, (size_t)n * dim);
    *lab = idx_make(0x00000801, ldims, 1, lbl, (size_t)n);
    free(pix);
    free(lbl);
}

/* The dataset holds exactly make_set(n, rows, cols, offset)'s contents. */
static int same_as_made(const evae_dataset *d, int n, int rows, int cols, uint8_t offset)
{
    if (d->n != n || d->channels != 1 || d->height != rows || d->width != cols) return 0;
    size_t dim = (size_t)rows * cols;
    for (int i = 0; i < n; i++) {
        if (d->labels[i] != (uint8_t)((i * 3 + offset) % 10)) return 0;
        for (size_t k = 0; k < dim; k++)
            if (d->pixels[i * dim + k] != pattern(i + offset, (int)k)) return 0;
    }
    return 1;
}

static void test_good_files(void)
{
    idx_blob img, lab;
    make_set(7, 28, 28, 0, &img, &lab);
    for (int gz = 0; gz < 2; gz++) {
        const char *ip = scratch_path(gz ? "good-img.gz" : "good-img");
        const char *lp = scratch_path(gz ? "good-lab.gz" : "good-lab");
        CHECK(write_file(ip, img.bytes, img.len, gz) == 0, "writing %s", ip);
        CHECK(write_file(lp, lab.bytes, lab.len, gz) == 0, "writing %s", lp);
        evae_dataset d;
        CHECK(evae_idx_load(ip, lp, &d) == 0, "good %s files load", gz ? "gzipped" : "plain");
        CHECK(same_as_made(&d, 7, 28, 28, 0), "good %s files read back", gz ? "gz" : "plain");
        CHECK(evae_dataset_dim(&d) == 784, "dim %d", evae_dataset_dim(&d));
        evae_dataset_free(&d);
        CHECK(d.pixels == NULL && d.labels == NULL && d.n == 0, "free zeroes the struct");
        evae_dataset_free(&d); /* a second free is harmless */
    }
    /* Mixed: gzipped images with plain labels. */
    evae_dataset d;
    CHECK(evae_idx_load(scratch_path("good-img.gz"), scratch_path("good-lab"), &d) == 0, "mixed");
    CHECK(same_as_made(&d, 7, 28, 28, 0), "mixed gz/plain reads back exactly");
    evae_dataset_free(&d);
    /* The IDX reader itself takes any image size; only the MNIST folder loader insists on 28x28. */
    idx_blob img2, lab2;
    make_set(3, 5, 9, 4, &img2, &lab2);
    write_file(scratch_path("small-img"), img2.bytes, img2.len, 0);
    write_file(scratch_path("small-lab"), lab2.bytes, lab2.len, 1);
    CHECK(evae_idx_load(scratch_path("small-img"), scratch_path("small-lab"), &d) == 0, "5x9");
    CHECK(same_as_made(&d, 3, 5, 9, 4), "5x9 reads back exactly");
    evae_dataset_free(&d);
    free(img.bytes), free(lab.bytes), free(img2.bytes), free(lab2.bytes);
}

static void test_malformed(void)
{
    idx_blob img, lab;
    make_set(5, 28, 28, 0, &img, &lab); /* 5 images: 16 + 3920 = 3936 bytes; labels 13 bytes */
    const char *lp = scratch_path("lab");
    write_file(lp, lab.bytes, lab.len, 0);
    evae_dataset d;

    for (int gz = 0; gz < 2; gz++) {
        const char *ip = scratch_path(gz ? "bad-img.gz" : "bad-img");

        /* Wrong magic: a different type byte, and a number that is not IDX at all. */
        idx_blob b = idx_make(0x00000903, (const uint32_t[]){5, 28, 28}, 3, img.bytes + 16, 3920);
        write_file(ip, b.bytes, b.len, gz);
        CHECK_FAILS(evae_idx_load(ip, lp, &d), ip, "bad magic number 0x00000903");
        free(b.bytes);
        b = idx_make(0x12345678, (const uint32_t[]){5, 28, 28}, 3, img.bytes + 16, 3920);
        write_file(ip, b.bytes, b.len, gz);
        CHECK_FAILS(evae_idx_load(ip, lp, &d), ip, "bad magic number");
        free(b.bytes);

        /* Wrong number of dims: a label file given as images, and a 2-dim file. */
        CHECK_FAILS(evae_idx_load(lp, lp, &d), lp, "wrong number of dims");
        b = idx_make(0x00000802, (const uint32_t[]){5, 784}, 2, img.bytes + 16, 3920);
        write_file(ip, b.bytes, b.len, gz);
        CHECK_FAILS(evae_idx_load(ip, lp, &d), ip, "wrong number of dims");
        free(b.bytes);

        /* Wrong dims: a zero size. */
        b = idx_make(0x00000803, (const uint32_t[]){5, 0, 28}, 3, NULL, 0);
        write_file(ip, b.bytes, b.len, gz);
        CHECK_FAILS(evae_idx_load(ip, lp, &d), ip, "dim 1 is 0");
        free(b.bytes);

        /* Truncated body: 100 bytes short. The message gives the header's and the file's sizes. */
        write_file(ip, img.bytes, img.len - 100, gz);
        CHECK_FAILS(evae_idx_load(ip, lp, &d), ip,
                    "truncated: header says 5 images of 28x28 (3936 bytes) but file has 3836");
        if (gz) CHECK_FAILS(evae_idx_load(ip, lp, &d), ip, "3836 (decompressed)");
        /* Truncated header. */
        write_file(ip, img.bytes, 10, gz);
        CHECK_FAILS(evae_idx_load(ip, lp, &d), ip, "truncated");

        /* Trailing bytes: 3 extra. */
        unsigned char *longer = calloc(img.len + 3, 1);
        memcpy(longer, img.bytes, img.len);
        write_file(ip, longer, img.len + 3, gz);
        CHECK_FAILS(evae_idx_load(ip, lp, &d), ip,
                    "trailing bytes: header says 5 images of 28x28 (3936 bytes) but file has 3939");
        free(longer);

        /* Empty file (for gz: a valid gzip stream of nothing). */
        write_file(ip, "", 0, gz);
        CHECK_FAILS(evae_idx_load(ip, lp, &d), ip, "empty file");
    }

    /* A gzip stream cut off in the middle: zlib's own error, naming the file. */
    const char *gp = scratch_path("cut.gz");
    write_file(gp, img.bytes, img.len, 1);
    unsigned char *gzbytes = NULL;
    long gzlen = read_file(gp, &gzbytes);
    CHECK(gzlen > 40, "gz length %ld", gzlen);
    if (gzlen > 40) {
        write_file(gp, gzbytes, (size_t)gzlen - 20, 0);
        CHECK_FAILS(evae_idx_load(gp, lp, &d), gp, "cut-off gzip");
    }
    free(gzbytes);

    /* Label count differs from image count. */
    const char *ip = scratch_path("img5");
    write_file(ip, img.bytes, img.len, 0);
    idx_blob lab4 = idx_make(0x00000801, (const uint32_t[]){4}, 1, lab.bytes + 8, 4);
    const char *lp4 = scratch_path("lab4");
    write_file(lp4, lab4.bytes, lab4.len, 0);
    CHECK_FAILS(evae_idx_load(ip, lp4, &d), "has 5 images but", "has 4 labels");
    free(lab4.bytes);

    /* A label outside 0..9. */
    idx_blob lab_bad = idx_make(0x00000801, (const uint32_t[]){5}, 1,
                                (const uint8_t[]){1, 2, 10, 3, 4}, 5);
    const char *lpb = scratch_path("lab-bad");
    write_file(lpb, lab_bad.bytes, lab_bad.len, 0);
    CHECK_FAILS(evae_idx_load(ip, lpb, &d), lpb, "label 10 of example 2");
    free(lab_bad.bytes);

    /* Missing files, images or labels. */
    const char *none = scratch_path("no-such-file");
    CHECK_FAILS(evae_idx_load(none, lp, &d), none, "cannot open");
    CHECK_FAILS(evae_idx_load(ip, none, &d), none, "cannot open");
    CHECK(d.n == 0 && d.pixels == NULL && d.labels == NULL, "failure leaves the output empty");
    free(img.bytes), free(lab.bytes);
}

/* Writes an MNIST pair named prefix-{images-idx3,labels-idx1}-ubyte[.gz] into folder. */
static void write_mnist_pair(const char *folder, const char *prefix, int n, int rows,
                             uint8_t offset, int gz)
{
    idx_blob img, lab;
    make_set(n, rows, 28, offset, &img, &lab);
    char p[600];
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte%s", folder, prefix, gz ? ".gz" : "");
    write_file(p, img.bytes, img.len, gz);
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte%s", folder, prefix, gz ? ".gz" : "");
    write_file(p, lab.bytes, lab.len, gz);
    free(img.bytes), free(lab.bytes);
}

static void test_mnist_folder(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/mnist", scratch_dir);
    mkdir(dir, 0700);
    evae_dataset train, held;
    const char *name = NULL;
    write_mnist_pair(dir, "train", 12, 28, 0, 1);

    /* validation = 0 needs t10k: absent is an error naming the missing file. */
    CHECK_FAILS(evae_mnist_load(dir, 0, &train, &held, &name), dir,
                "missing t10k-images-idx3-ubyte");

    /* validation > 0: the last N training images, t10k not needed. */
    CHECK(evae_mnist_load(dir, 4, &train, &held, &name) == 0, "validation split loads");
    CHECK(name && strcmp(name, "validation") == 0, "held-out name %s", name ? name : "(null)");
    CHECK(train.n == 8 && held.n == 4, "split sizes %d / %d", train.n, held.n);
    CHECK(held.height == 28 && held.width == 28 && held.channels == 1, "held-out shape");
    int last_ok = 1, first_ok = 1;
    for (int i = 0; i < 4; i++) {
        last_ok &= held.labels[i] == (uint8_t)(((8 + i) * 3) % 10);
        for (int k = 0; k < 784; k++) last_ok &= held.pixels[i * 784 + k] == pattern(8 + i, k);
    }
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 784; k++) first_ok &= train.pixels[i * 784 + k] == pattern(i, k);
    CHECK(last_ok, "validation set = the last 4 training images, in order");
    CHECK(first_ok, "training set = the first 8 images");
    evae_dataset_free(&train), evae_dataset_free(&held);

    /* The validation size must leave training data. */
    CHECK_FAILS(evae_mnist_load(dir, 12, &train, &held, &name), dir, "cannot hold out 12 of 12");
    CHECK_FAILS(evae_mnist_load(dir, -1, &train, &held, &name), dir, "negative");

    /* With t10k present: validation = 0 gives the test set; plain files win over .gz. */
    write_mnist_pair(dir, "t10k", 3, 28, 5, 0);
    write_mnist_pair(dir, "t10k", 2, 28, 7, 1); /* different contents in the .gz */
    name = NULL;
    CHECK(evae_mnist_load(dir, 0, &train, &held, &name) == 0, "train + t10k loads");
    CHECK(name && strcmp(name, "test") == 0, "held-out name %s", name ? name : "(null)");
    CHECK(same_as_made(&train, 12, 28, 28, 0), "train read back");
    CHECK(same_as_made(&held, 3, 28, 28, 5), "t10k read back from the plain file");
    evae_dataset_free(&train), evae_dataset_free(&held);

    /* MNIST needs 28x28. */
    char dir2[300];
    snprintf(dir2, sizeof dir2, "%s/mnist27", scratch_dir);
    mkdir(dir2, 0700);
    write_mnist_pair(dir2, "train", 4, 27, 0, 0);
    CHECK_FAILS(evae_mnist_load(dir2, 1, &train, &held, &name), dir2, "images are 27x28");
    CHECK(train.n == 0 && held.n == 0, "failure leaves outputs empty");
    CHECK_FAILS(evae_mnist_load(scratch_path("nowhere"), 1, &train, &held, &name), "nowhere",
                "missing train-images-idx3-ubyte");
}

/* The bundled sample (ctest runs with the repository root as working directory). */
static void test_bundled_sample(void)
{
    evae_dataset train, held, train2, val;
    const char *name = NULL;
    if (evae_mnist_load("data/mnist-10k", 0, &train, &held, &name)) {
        CHECK(0, "data/mnist-10k does not load (run from the repository root)");
        return;
    }
    CHECK(train.n == 9000 && held.n == 1000, "mnist-10k sizes %d / %d", train.n, held.n);
    CHECK(name && strcmp(name, "test") == 0, "held-out name");
    CHECK(train.channels == 1 && train.height == 28 && train.width == 28, "28x28");
    int counts[EVAE_NUM_CLASSES], sum = 0, hsum = 0, smallest = 1 << 30;
    evae_dataset_label_counts(&train, counts);
    printf("  mnist-10k train class counts:");
    for (int c = 0; c < EVAE_NUM_CLASSES; c++) {
        printf(" %d", counts[c]);
        sum += counts[c];
        if (counts[c] < smallest) smallest = counts[c];
    }
    printf("\n");
    CHECK(sum == 9000, "train histogram sums to %d", sum);
    /* A random sample of MNIST has roughly 9-11% of each digit; 5% would mean broken labels. */
    CHECK(smallest > 450, "smallest class has %d of 9000", smallest);
    evae_dataset_label_counts(&held, counts);
    for (int c = 0; c < EVAE_NUM_CLASSES; c++) hsum += counts[c];
    CHECK(hsum == 1000, "held-out histogram sums to %d", hsum);
    /* MNIST's mean intensity is 0.1307 * 255 = 33.3 over the official training set; a sample of
     * 9000 stays within a few tenths of it, so 30..37 catches garbled or mis-offset pixels. */
    double mean = 0;
    for (size_t k = 0; k < (size_t)train.n * 784; k++) mean += train.pixels[k];
    mean /= (double)train.n * 784;
    printf("  mnist-10k train mean pixel %.3f\n", mean);
    CHECK(mean > 30 && mean < 37, "mean pixel %.3f", mean);

    /* The validation split of the same folder: the last 1000 of the 9000. */
    CHECK(evae_mnist_load("data/mnist-10k", 1000, &train2, &val, &name) == 0, "validation load");
    CHECK(train2.n == 8000 && val.n == 1000, "split sizes %d / %d", train2.n, val.n);
    CHECK(memcmp(val.pixels, train.pixels + 8000 * 784, 1000 * 784) == 0 &&
              memcmp(val.labels, train.labels + 8000, 1000) == 0,
          "validation = last 1000 training images");
    CHECK(memcmp(train2.pixels, train.pixels, 8000 * 784) == 0, "train = first 8000");
    evae_dataset_free(&train), evae_dataset_free(&held);
    evae_dataset_free(&train2), evae_dataset_free(&val);
}

int main(void)
{
    scratch_make("evae-test-idx");
    test_good_files();
    test_malformed();
    test_mnist_folder();
    test_bundled_sample();
    scratch_remove();
    return check_report("test_idx");
}
