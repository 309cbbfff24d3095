/* MNIST in IDX format (gzipped or plain): a big-endian header -- magic 0x000008NN (unsigned bytes,
 * NN dims), then NN 32-bit sizes -- followed by the values. Every way a file can be wrong (magic,
 * dims, length, labels) is reported with the file name, since a silently short data set would
 * quietly change every number measured on it. */
#include "evae/data/dataset.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "evae/util.h"

enum { IDX_TYPE_UBYTE = 0x08, IDX_IMAGE_DIMS = 3, IDX_LABEL_DIMS = 1, MNIST_SIDE = 28 };

/* 1 when the file starts with the gzip magic 1f 8b, 0 when not, -1 (reported) when unreadable. */
static int idx_is_gzip(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        evae_error("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    unsigned char m[2] = {0, 0};
    size_t got = fread(m, 1, 2, f);
    fclose(f);
    return got == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

static uint32_t idx_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* zlib's message for the last error on g, without the "path: " it puts in front. */
static const char *idx_zlib_message(gzFile g, const char *path, int *code)
{
    const char *msg = gzerror(g, code);
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') msg += n + 2;
    return msg;
}

/* Reads up to len bytes; returns the count read, or -1 after reporting a zlib error (a damaged or
 * cut-off gzip stream). */
static long long idx_read(gzFile g, const char *path, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        size_t want = len - done;
        if (want > (1u << 30)) want = 1u << 30;
        int got = gzread(g, (unsigned char *)buf + done, (unsigned)want);
        if (got < 0 || (got == 0 && !gzeof(g))) {
            int code;
            const char *msg = idx_zlib_message(g, path, &code);
            evae_error("%s: cannot read (damaged or cut-off gzip data?): %s", path, msg);
            return -1;
        }
        if (got == 0) break;
        done += (size_t)got;
    }
    /* zlib reports a gzip stream that ends mid-member only through gzerror. */
    int code;
    const char *msg = idx_zlib_message(g, path, &code);
    if (code != Z_OK) {
        evae_error("%s: damaged or cut-off gzip data: %s", path, msg);
        return -1;
    }
    return (long long)done;
}

/* One IDX file of unsigned bytes with `want_dims` dims, whose contents are "what" (images or
 * labels). On success dims[want_dims] holds the sizes and *body[prod(dims)] the values. */
static int idx_read_file(const char *path, int want_dims, const char *what, uint32_t *dims,
                         uint8_t **body)
{
    *body = NULL;
    int gz = idx_is_gzip(path);
    if (gz < 0) return 1;
    const char *suffix = gz ? " (decompressed)" : "";
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g) {
        evae_error("%s: cannot open: %s", path, errno ? strerror(errno) : "zlib out of memory");
        return 1;
    }
    gzbuffer(g, 1u << 17);
    int rc = 1;
    uint8_t *data = NULL;

    unsigned char header[4 + 4 * IDX_IMAGE_DIMS];
    size_t header_len = 4 + 4 * (size_t)want_dims;
    long long got = idx_read(g, path, header, header_len);
    if (got < 0) goto done;
    if (got == 0) {
        evae_error("%s: empty file (expected IDX %s)", path, what);
        goto done;
    }
    if (got < 4) {
        evae_error("%s: truncated: %lld bytes, shorter than the 4-byte IDX magic", path, got);
        goto done;
    }
    uint32_t magic = idx_be32(header);
    uint32_t want_magic = (IDX_TYPE_UBYTE << 8) | (uint32_t)want_dims;
    if (header[0] != 0 || header[1] != 0 || header[2] != IDX_TYPE_UBYTE) {
        evae_error("%s: bad magic number 0x%08x (expected 0x%08x, IDX unsigned-byte %s)", path,
                   magic, want_magic, what);
        goto done;
    }
    if (header[3] != want_dims) {
        evae_error("%s: wrong number of dims: magic 0x%08x says %d, IDX %s need %d (0x%08x)", path,
                   magic, header[3], what, want_dims, want_magic);
        goto done;
    }
    if ((size_t)got < header_len) {
        evae_error("%s: truncated: %lld bytes, shorter than the %zu-byte IDX header of %d dims",
                   path, got, header_len, want_dims);
        goto done;
    }
    /* Sizes: every one positive; the count and the per-example size must fit an int. */
    unsigned long long per_example = 1;
    for (int k = 0; k < want_dims; k++) {
        dims[k] = idx_be32(header + 4 + 4 * k);
        if (dims[k] == 0 || dims[k] > INT_MAX) {
            evae_error("%s: dim %d is %u (must be 1..%d)", path, k, dims[k], INT_MAX);
            goto done;
        }
        if (k > 0) per_example *= dims[k];
    }
    if (per_example > INT_MAX) {
        evae_error("%s: %llu values per example is too large", path, per_example);
        goto done;
    }
    size_t body_len = (size_t)dims[0] * (size_t)per_example;
    size_t want_len = header_len + body_len;
    char desc[96];
    if (want_dims == IDX_IMAGE_DIMS)
        snprintf(desc, sizeof desc, "%u %s of %ux%u", dims[0], what, dims[1], dims[2]);
    else
        snprintf(desc, sizeof desc, "%u %s", dims[0], what);

    /* Grow the buffer as data arrives, so a corrupt header cannot demand gigabytes up front. */
    size_t cap = body_len < (1u << 20) ? body_len : (1u << 20), have = 0;
    data = evae_xcalloc(cap, 1);
    while (have < body_len) {
        if (have == cap) {
            cap = cap * 2 < body_len ? cap * 2 : body_len;
            uint8_t *bigger = realloc(data, cap);
            if (!bigger) {
                evae_error("%s: out of host memory reading %s", path, desc);
                goto done;
            }
            data = bigger;
        }
        got = idx_read(g, path, data + have, cap - have);
        if (got < 0) goto done;
        have += (size_t)got;
        if (have < cap) break; /* idx_read stops short only at the end of the file */
    }
    if (have < body_len) {
        evae_error("%s: truncated: header says %s (%zu bytes) but file has %zu%s", path, desc,
                   want_len, header_len + have, suffix);
        goto done;
    }
    /* Anything after the last value is an error too: count it for the message. */
    size_t extra = 0;
    unsigned char scratch[4096];
    while ((got = idx_read(g, path, scratch, sizeof scratch)) > 0) extra += (size_t)got;
    if (got < 0) goto done;
    if (extra) {
        evae_error("%s: trailing bytes: header says %s (%zu bytes) but file has %zu%s", path, desc,
                   want_len, want_len + extra, suffix);
        goto done;
    }
    *body = data;
    data = NULL;
    rc = 0;
done:
    free(data);
    gzclose(g);
    return rc;
}

int evae_idx_load(const char *images_path, const char *labels_path, evae_dataset *out)
{
    memset(out, 0, sizeof *out);
    uint32_t idims[IDX_IMAGE_DIMS], ldims[IDX_LABEL_DIMS];
    uint8_t *pixels = NULL, *labels = NULL;
    if (idx_read_file(images_path, IDX_IMAGE_DIMS, "images", idims, &pixels)) return 1;
    if (idx_read_file(labels_path, IDX_LABEL_DIMS, "labels", ldims, &labels)) {
        free(pixels);
        return 1;
    }
    if (idims[0] != ldims[0]) {
        evae_error("%s has %u images but %s has %u labels", images_path, idims[0], labels_path,
                   ldims[0]);
        goto fail;
    }
    for (uint32_t i = 0; i < ldims[0]; i++) {
        if (labels[i] >= EVAE_NUM_CLASSES) {
            evae_error("%s: label %u of example %u is out of range 0..%d", labels_path, labels[i],
                       i, EVAE_NUM_CLASSES - 1);
            goto fail;
        }
    }
    out->n = (int)idims[0];
    out->channels = 1;
    out->height = (int)idims[1];
    out->width = (int)idims[2];
    out->pixels = pixels; /* [n, height*width] */
    out->labels = labels; /* [n] */
    return 0;
fail:
    free(pixels);
    free(labels);
    return 1;
}

/* path = dir/base, or dir/base.gz when only that exists. The plain name is kept when it exists
 * or fails to open for any reason but absence, so the loader reports the real problem. Returns 0
 * when a file was chosen, 1 when neither exists, 2 when the path does not fit. */
static int mnist_pick(const char *dir, const char *base, char *path, size_t size)
{
    int found = evae_data_file(dir, base, path, size);
    if (found != 1) return found;
    char gz[80];
    snprintf(gz, sizeof gz, "%s.gz", base);
    return evae_data_file(dir, gz, path, size);
}

/* MNIST images of the pair named by prefix ("train" or "t10k"); absent files are an error. */
static int mnist_load_pair(const char *dir, const char *prefix, const char *why, evae_dataset *out)
{
    char base[64], ipath[4096], lpath[4096];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", prefix);
    int found = mnist_pick(dir, base, ipath, sizeof ipath);
    if (found == 1) evae_error("%s: missing %s[.gz] (%s)", dir, base, why);
    if (found) return 1;
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", prefix);
    found = mnist_pick(dir, base, lpath, sizeof lpath);
    if (found == 1) evae_error("%s: missing %s[.gz] (%s)", dir, base, why);
    if (found) return 1;
    if (evae_idx_load(ipath, lpath, out)) return 1;
    if (out->height != MNIST_SIDE || out->width != MNIST_SIDE) {
        evae_error("%s: images are %dx%d, MNIST needs %dx%d", ipath, out->height, out->width,
                   MNIST_SIDE, MNIST_SIDE);
        evae_dataset_free(out);
        return 1;
    }
    return 0;
}

static int mnist_load_train(const char *dir, evae_dataset *out)
{
    return mnist_load_pair(dir, "train", "the MNIST training set", out);
}

static int mnist_load_test(const char *dir, evae_dataset *out)
{
    return mnist_load_pair(dir, "t10k", "the test set when validation = 0", out);
}

int evae_mnist_load(const char *dir, int validation, evae_dataset *train, evae_dataset *heldout,
                    const char **heldout_name)
{
    return evae_dataset_load_split(dir, validation, mnist_load_train, mnist_load_test, train,
                                   heldout, heldout_name);
}
