/* safetensors: round trip of several dtypes and shapes with metadata; the byte layout checked by
 * hand (header length, 8-byte alignment, JSON content, exact bytes of a small file); files made
 * by hand as another writer would; every kind of corruption; atomic replacement and failures. */
#define _POSIX_C_SOURCE 200809L

#include "check.h"
#include "evae/io/safetensors.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_dir[64];

static void path_in_tmp(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmp_dir, name);
}

static void write_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

/* Whole file (malloc'd) and its size; NULL when it cannot be read. */
static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

#include "capture_stderr.h"

static evae_st_tensor make_tensor(const char *name, const char *dtype, int ndim,
                                  const int64_t *shape, const void *data, size_t nbytes)
{
    evae_st_tensor t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    snprintf(t.dtype, sizeof t.dtype, "%s", dtype);
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    t.data = data;
    t.nbytes = nbytes;
    return t;
}

/* A file built by hand: 8-byte little-endian length, the header text as given (padded with
 * `pad` spaces), then the buffer. */
static void make_raw(const char *path, const char *header, int pad, const void *buffer, size_t blen)
{
    size_t hl = strlen(header) + (size_t)pad;
    size_t total = 8 + hl + blen;
    unsigned char *b = calloc(total, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, strlen(header));
    memset(b + 8 + strlen(header), ' ', (size_t)pad);
    if (blen) memcpy(b + 8 + hl, buffer, blen);
    write_bytes(path, b, total);
    free(b);
}

/* ---- the tensors of the round trip ---- */
static float enc_w[3 * 4];
static double theta[5];
static int64_t step_scalar = 123456789012LL;
static uint8_t mask[7] = {0, 1, 2, 3, 250, 254, 255};
static uint16_t half[3] = {0x3c00, 0xc000, 0x7bff}; /* F16 1, -2, 65504 as raw bits */
static int32_t cube[8] = {-4, -3, -2, -1, 0, 1, 2, INT32_MAX};
static float empty_dummy;

enum { N_ROUND = 7 };
static evae_st_tensor round_tensors[N_ROUND];
static const char *meta_keys[] = {"format", "config"};
static const char *meta_values[] = {"evae", "[train]\nepochs = 5 ; \"quoted\" \\ tab\t \xc3\xbc"};

static void setup_round_tensors(void)
{
    for (int i = 0; i < 12; i++) enc_w[i] = 0.5f * (float)i - 1.0f;
    for (int i = 0; i < 5; i++) theta[i] = 1.0 / (i + 3.0);
    const int64_t s_enc[] = {3, 4}, s_theta[] = {5}, s_mask[] = {7}, s_empty[] = {0, 3},
                  s_half[] = {3}, s_cube[] = {2, 2, 2};
    /* header order deliberately mixes element sizes: the writer reorders the data, not the list */
    round_tensors[0] = make_tensor("mask", "U8", 1, s_mask, mask, sizeof mask);
    round_tensors[1] = make_tensor("enc.w", "F32", 2, s_enc, enc_w, sizeof enc_w);
    round_tensors[2] = make_tensor("half", "F16", 1, s_half, half, sizeof half);
    round_tensors[3] = make_tensor("grbm.theta", "F64", 1, s_theta, theta, sizeof theta);
    round_tensors[4] = make_tensor("step", "I64", 0, NULL, &step_scalar, sizeof step_scalar);
    round_tensors[5] = make_tensor("empty", "F32", 2, s_empty, &empty_dummy, 0);
    round_tensors[6] = make_tensor("cube", "I32", 3, s_cube, cube, sizeof cube);
}

static void test_round_trip(void)
{
    char path[128];
    path_in_tmp(path, sizeof path, "round.safetensors");
    CHECK(evae_st_write(path, round_tensors, N_ROUND, meta_keys, meta_values, 2) == 0, "write");
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!file_exists(tmp), "no temporary file left behind");

    evae_st_file *f = evae_st_read(path);
    CHECK(f != NULL, "read back");
    if (!f) return;
    CHECK(evae_st_count(f) == N_ROUND, "count %d", evae_st_count(f));
    for (int i = 0; i < N_ROUND; i++) {
        const evae_st_tensor *want = &round_tensors[i];
        const evae_st_tensor *got = evae_st_find(f, want->name);
        CHECK(got != NULL, "find %s", want->name);
        if (!got) continue;
        CHECK(evae_st_at(f, i) == got, "header order kept for %s", want->name);
        CHECK(strcmp(got->dtype, want->dtype) == 0, "%s dtype %s", want->name, got->dtype);
        CHECK(got->ndim == want->ndim, "%s ndim %d", want->name, got->ndim);
        for (int d = 0; d < want->ndim; d++)
            CHECK(got->shape[d] == want->shape[d], "%s shape[%d]", want->name, d);
        CHECK(got->nbytes == want->nbytes, "%s nbytes %zu", want->name, got->nbytes);
        CHECK(got->nbytes == 0 || memcmp(got->data, want->data, want->nbytes) == 0,
              "%s bytes equal", want->name);
        size_t elem = evae_st_dtype_size(got->dtype);
        CHECK(elem && (uintptr_t)got->data % elem == 0, "%s data aligned to %zu", want->name, elem);
    }
    CHECK(evae_st_find(f, "nope") == NULL, "absent tensor");
    CHECK(evae_st_at(f, -1) == NULL && evae_st_at(f, N_ROUND) == NULL, "at out of range");
    CHECK(evae_st_meta(f, "format") && strcmp(evae_st_meta(f, "format"), "evae") == 0, "meta");
    CHECK(evae_st_meta(f, "config") && strcmp(evae_st_meta(f, "config"), meta_values[1]) == 0,
          "meta with newline, quotes, backslash, tab, UTF-8 survives");
    CHECK(evae_st_meta(f, "absent") == NULL, "absent meta");
    const float *w = evae_st_find(f, "enc.w")->data;
    CHECK(w[5] == 1.5f, "float value %g", (double)w[5]);
    evae_st_close(f);

    /* no metadata and no tensors at all: still a valid file */
    path_in_tmp(path, sizeof path, "nothing.safetensors");
    CHECK(evae_st_write(path, NULL, 0, NULL, NULL, 0) == 0, "empty write");
    f = evae_st_read(path);
    CHECK(f && evae_st_count(f) == 0 && evae_st_meta(f, "format") == NULL, "empty read");
    evae_st_close(f);
}

/* The layout of the round-trip file, read with an independent JSON parse. */
static void test_byte_layout(void)
{
    char path[128];
    path_in_tmp(path, sizeof path, "round.safetensors");
    size_t size = 0;
    unsigned char *b = read_bytes(path, &size);
    CHECK(b && size >= 8, "file read");
    if (!b || size < 8) return;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
    CHECK(n % 8 == 0, "header length %llu is a multiple of 8", (unsigned long long)n);
    CHECK(n + 8 <= size, "header inside file");
    size_t buffer_len = size - 8 - (size_t)n;
    size_t total = 0;
    for (int i = 0; i < N_ROUND; i++) total += round_tensors[i].nbytes;
    CHECK(buffer_len == total, "buffer %zu bytes = sum of tensors %zu", buffer_len, total);

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)b + 8, (size_t)n, &end, 0);
    CHECK(root && cJSON_IsObject(root), "header JSON parses");
    if (!root) {
        free(b);
        return;
    }
    for (const char *p = end; p < (const char *)b + 8 + n; p++)
        CHECK(*p == ' ', "padding is spaces (byte %td is 0x%02x)", p - (const char *)b,
              (unsigned)*p);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(meta, "format")), "metadata in JSON");
    CHECK(cJSON_GetArraySize(root) == N_ROUND + 1, "one entry per tensor plus __metadata__");

    unsigned char *covered = calloc(buffer_len + 1, 1);
    const unsigned char *buffer = b + 8 + n;
    for (int i = 0; i < N_ROUND; i++) {
        const evae_st_tensor *t = &round_tensors[i];
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, t->name);
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        CHECK(cJSON_IsString(dt) && strcmp(dt->valuestring, t->dtype) == 0, "%s dtype in JSON",
              t->name);
        CHECK(cJSON_GetArraySize(sh) == t->ndim, "%s shape length in JSON", t->name);
        for (int d = 0; d < t->ndim; d++)
            CHECK(cJSON_GetArrayItem(sh, d)->valuedouble == (double)t->shape[d], "%s shape[%d]",
                  t->name, d);
        CHECK(cJSON_GetArraySize(off) == 2, "%s offsets pair", t->name);
        if (cJSON_GetArraySize(off) != 2) continue;
        size_t begin = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble;
        size_t stop = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
        CHECK(stop - begin == t->nbytes && stop <= buffer_len, "%s offsets [%zu, %zu]", t->name,
              begin, stop);
        size_t elem = evae_st_dtype_size(t->dtype);
        CHECK(begin % elem == 0, "%s starts at %zu, a multiple of its element size %zu", t->name,
              begin, elem);
        if (stop - begin == t->nbytes && stop <= buffer_len) {
            CHECK(t->nbytes == 0 || memcmp(buffer + begin, t->data, t->nbytes) == 0,
                  "%s bytes in place", t->name);
            for (size_t k = begin; k < stop; k++) covered[k]++;
        }
    }
    int bad = 0;
    for (size_t k = 0; k < buffer_len; k++) bad += covered[k] != 1;
    CHECK(bad == 0, "every buffer byte belongs to exactly one tensor (%d do not)", bad);
    free(covered);
    cJSON_Delete(root);
    free(b);

    /* a tiny file, byte for byte: the header text is what the reference writer produces for the
     * same content (metadata first, compact JSON, padded with spaces) */
    const float v[2] = {1.0f, -2.0f};
    const int64_t shape[1] = {2};
    evae_st_tensor t = make_tensor("w", "F32", 1, shape, v, sizeof v);
    const char *mk[] = {"k"}, *mv[] = {"v"};
    path_in_tmp(path, sizeof path, "tiny.safetensors");
    CHECK(evae_st_write(path, &t, 1, mk, mv, 1) == 0, "tiny write");
    const char *json =
        "{\"__metadata__\":{\"k\":\"v\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t jl = strlen(json); /* 80 */
    size_t hl = (jl + 7) / 8 * 8;
    unsigned char want[256];
    memset(want, 0, sizeof want);
    want[0] = (unsigned char)hl;
    memcpy(want + 8, json, jl);
    memset(want + 8 + jl, ' ', hl - jl);
    const unsigned char data[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0}; /* LE floats */
    memcpy(want + 8 + hl, data, 8);
    b = read_bytes(path, &size);
    CHECK(b && size == 8 + hl + 8, "tiny size %zu, want %zu", size, 8 + hl + 8);
    CHECK(b && size == 8 + hl + 8 && memcmp(b, want, size) == 0, "tiny file bytes as expected");
    free(b);
}

/* Files as another writer might make them: entries out of offset order, whitespace in the JSON,
 * extra entry fields, a header length that leaves the buffer misaligned in memory. */
static void test_foreign_files(void)
{
    char path[128];
    path_in_tmp(path, sizeof path, "foreign.safetensors");
    /* buffer: b (U8 [3]) at 0..3, a (F64 [2]) at 3..19 -- the F64 is misaligned */
    unsigned char buffer[19];
    buffer[0] = 7;
    buffer[1] = 8;
    buffer[2] = 9;
    const double a[2] = {3.25, -1e300};
    memcpy(buffer + 3, a, sizeof a);
    make_raw(path,
             "{ \"a\" : {\"data_offsets\": [3, 19], \"dtype\": \"F64\", \"shape\": [2], "
             "\"extra\": 1},\n \"b\": {\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}",
             1, buffer, sizeof buffer);
    evae_st_file *f = evae_st_read(path);
    CHECK(f != NULL, "foreign file reads");
    if (!f) return;
    const evae_st_tensor *ta = evae_st_find(f, "a"), *tb = evae_st_find(f, "b");
    CHECK(ta && tb && evae_st_at(f, 0) == ta, "entries found, header order");
    if (ta && tb) {
        CHECK((uintptr_t)ta->data % 8 == 0, "misaligned F64 handed out aligned");
        const double *pa = ta->data;
        const unsigned char *pb = tb->data;
        CHECK(pa[0] == 3.25 && pa[1] == -1e300, "F64 values");
        CHECK(pb[0] == 7 && pb[2] == 9, "U8 values");
    }
    evae_st_close(f);
}

/* Each corruption must give NULL and a message naming the file and the problem. */
static void expect_corrupt(const char *what, const char *path, const char *needle)
{
    capture_begin();
    evae_st_file *f = evae_st_read(path);
    const char *msg = capture_end();
    CHECK(f == NULL, "%s: must be rejected", what);
    evae_st_close(f);
    CHECK(strstr(msg, path) != NULL, "%s: message names the file: %s", what, msg);
    CHECK(strstr(msg, needle) != NULL, "%s: message '%s' lacks '%s'", what, msg, needle);
}

static void corrupt_raw(const char *what, const char *header, const void *buffer, size_t blen,
                        const char *needle)
{
    char path[128];
    path_in_tmp(path, sizeof path, "corrupt.safetensors");
    make_raw(path, header, 0, buffer, blen);
    expect_corrupt(what, path, needle);
}

static void test_corrupt(void)
{
    char path[128];
    path_in_tmp(path, sizeof path, "corrupt.safetensors");
    const unsigned char buf16[16] = {0};

    /* a good raw file first, so that the corrupt ones below differ from it in one thing only */
    make_raw(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 0, buf16,
             16);
    evae_st_file *ok = evae_st_read(path);
    CHECK(ok != NULL, "control file is valid");
    evae_st_close(ok);

    write_bytes(path, "\x10\x00\x00", 3);
    expect_corrupt("short file", path, "corrupt checkpoint");
    expect_corrupt("short file", path, "shorter than the 8-byte header length");
    {
        unsigned char b[24] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
        write_bytes(path, b, sizeof b);
        expect_corrupt("header length beyond file", path, "header length 200 goes beyond");
        unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
        write_bytes(path, huge, sizeof huge);
        expect_corrupt("header length 2^64-1", path, "goes beyond the file");
    }
    corrupt_raw("bad JSON", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}",
                buf16, 16, "not valid JSON");
    corrupt_raw("not an object", "[1, 2]", NULL, 0, "does not start with '{'");
    corrupt_raw("garbage after JSON", "{}xx", NULL, 0, "bytes after its JSON");
    corrupt_raw("offsets out of range",
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,32]}}", buf16, 16,
                "outside the 16-byte buffer");
    corrupt_raw("offsets reversed",
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,0]}}", buf16, 16,
                "outside");
    corrupt_raw("shape/size mismatch",
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", buf16, 16,
                "need 24");
    corrupt_raw("dtype/size mismatch",
                "{\"x\":{\"dtype\":\"F64\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", buf16, 16,
                "need 32");
    corrupt_raw("unknown dtype",
                "{\"x\":{\"dtype\":\"F31\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", buf16, 16,
                "unknown dtype 'F31'");
    corrupt_raw("missing dtype", "{\"x\":{\"shape\":[2,2],\"data_offsets\":[0,16]}}", buf16, 16,
                "lacks a string dtype");
    corrupt_raw("negative shape",
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[-2,-2],\"data_offsets\":[0,16]}}", buf16, 16,
                "not a non-negative integer");
    corrupt_raw("fractional offset",
                "{\"x\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16.5]}}", buf16, 16,
                "data_offsets is not two");
    corrupt_raw("too many dims",
                "{\"x\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,16],\"data_offsets\":[0,16]}}",
                buf16, 16, "9 dimensions");
    corrupt_raw("overlap",
                "{\"x\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[0,10]},"
                "\"y\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[6,16]}}",
                buf16, 16, "overlap");
    corrupt_raw("gap", "{\"x\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[8,16]}}", buf16,
                16, "buffer bytes [0, 8) belong to no tensor");
    corrupt_raw("uncovered tail",
                "{\"x\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", buf16, 16,
                "buffer has 16 bytes but the tensors cover 8");
    corrupt_raw("duplicate name",
                "{\"x\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                "\"x\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[8,16]}}",
                buf16, 16, "appears twice");
    corrupt_raw("non-string metadata",
                "{\"__metadata__\":{\"epoch\":3},"
                "\"x\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]}}",
                buf16, 16, "metadata 'epoch' is not a string");

    /* a good file written by evae_st_write, truncated by one byte */
    char good[128];
    path_in_tmp(good, sizeof good, "round.safetensors");
    size_t size = 0;
    unsigned char *b = read_bytes(good, &size);
    if (b) {
        write_bytes(path, b, size - 1);
        expect_corrupt("truncated buffer", path, "outside the");
        free(b);
    }

    capture_begin();
    evae_st_file *f = evae_st_read("no/such/file.safetensors");
    const char *msg = capture_end();
    CHECK(f == NULL && strstr(msg, "no/such/file.safetensors") && strstr(msg, "No such file"),
          "missing file: %s", msg);
    capture_begin();
    f = evae_st_read(tmp_dir);
    msg = capture_end();
    CHECK(f == NULL && strstr(msg, "not a regular file"), "a folder is no checkpoint: %s", msg);
}

/* Writing one tensor t (and one metadata entry when mk) must fail with both needles in the
 * message. */
static void expect_refused(const char *path, const evae_st_tensor *t, const char *const *mk,
                           const char *const *mv, const char *needle1, const char *needle2)
{
    capture_begin();
    int rc = evae_st_write(path, t, 1, mk, mv, mk ? 1 : 0);
    const char *msg = capture_end();
    CHECK(rc != 0 && strstr(msg, needle1) && strstr(msg, needle2), "write should be refused "
          "with '%s' and '%s': %s", needle1, needle2, msg);
}

static void test_atomic_write(void)
{
    char path[128], tmp[160];
    path_in_tmp(path, sizeof path, "model.safetensors");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    float v1[4] = {1, 2, 3, 4}, v2[4] = {5, 6, 7, 8};
    const int64_t shape[1] = {4};
    evae_st_tensor t1 = make_tensor("v", "F32", 1, shape, v1, sizeof v1);
    evae_st_tensor t2 = make_tensor("v", "F32", 1, shape, v2, sizeof v2);

    /* replacing an existing file works */
    CHECK(evae_st_write(path, &t1, 1, NULL, NULL, 0) == 0, "first write");
    CHECK(evae_st_write(path, &t2, 1, NULL, NULL, 0) == 0, "overwrite");
    evae_st_file *f = evae_st_read(path);
    CHECK(f && memcmp(evae_st_find(f, "v")->data, v2, sizeof v2) == 0, "new content in place");
    evae_st_close(f);
    size_t before_size = 0;
    unsigned char *before = read_bytes(path, &before_size);

    /* the target is a folder: the rename fails, the temporary file is removed */
    char folder[128], folder_tmp[160];
    path_in_tmp(folder, sizeof folder, "is_a_folder");
    snprintf(folder_tmp, sizeof folder_tmp, "%s.tmp", folder);
    mkdir(folder, 0755);
    capture_begin();
    int rc = evae_st_write(folder, &t1, 1, NULL, NULL, 0);
    const char *msg = capture_end();
    struct stat st;
    CHECK(rc != 0, "writing over a folder fails");
    CHECK(stat(folder, &st) == 0 && S_ISDIR(st.st_mode), "the folder is untouched");
    CHECK(!file_exists(folder_tmp), "temporary file removed after the failed rename");
    CHECK(strstr(msg, folder) && strstr(msg, "renaming") && strstr(msg, "Is a directory"),
          "message names path, step and errno text: %s", msg);

    /* the temporary file cannot be created: the earlier file stays as it was */
    mkdir(tmp, 0755);
    capture_begin();
    rc = evae_st_write(path, &t1, 1, NULL, NULL, 0);
    msg = capture_end();
    CHECK(rc != 0, "failed write reports failure");
    CHECK(strstr(msg, path) && strstr(msg, "Is a directory"), "message: %s", msg);
    rmdir(tmp);
    size_t after_size = 0;
    unsigned char *after = read_bytes(path, &after_size);
    CHECK(before && after && before_size == after_size &&
              memcmp(before, after, before_size) == 0,
          "earlier file intact after a failed write");
    free(after);

    /* bad descriptions are refused before anything is written */
    evae_st_tensor bad = t1;
    bad.nbytes = 12;
    capture_begin();
    rc = evae_st_write(path, &bad, 1, NULL, NULL, 0);
    msg = capture_end();
    CHECK(rc != 0 && strstr(msg, "disagree"), "nbytes/shape mismatch refused: %s", msg);
    bad = t1;
    snprintf(bad.dtype, sizeof bad.dtype, "F12");
    capture_begin();
    rc = evae_st_write(path, &bad, 1, NULL, NULL, 0);
    msg = capture_end();
    CHECK(rc != 0 && strstr(msg, "unknown dtype 'F12'"), "unknown dtype refused: %s", msg);
    evae_st_tensor twice[2] = {t1, t2};
    capture_begin();
    rc = evae_st_write(path, twice, 2, NULL, NULL, 0);
    msg = capture_end();
    CHECK(rc != 0 && strstr(msg, "used twice"), "duplicate names refused: %s", msg);
    /* the header is JSON text, which readers of the format refuse unless it is UTF-8: a name, a
     * metadata key or a metadata value that is not is refused, naming it */
    bad = t1;
    snprintf(bad.name, sizeof bad.name, "w\xe9ight");
    const char *latin1_key[] = {"r\xe9sum\xe9"}, *utf8_value[] = {"caf\xc3\xa9"};
    const char *cfg_key[] = {"config"}, *latin1_value[] = {"name = caf\xe9"};
    expect_refused(path, &bad, NULL, NULL, "tensor 0", "not UTF-8");
    expect_refused(path, &t1, latin1_key, utf8_value, "metadata key 0", "not UTF-8");
    expect_refused(path, &t1, cfg_key, latin1_value, "metadata 'config'", "byte 11 (0xe9)");
    after = read_bytes(path, &after_size);
    CHECK(before && after && before_size == after_size &&
              memcmp(before, after, before_size) == 0 && !file_exists(tmp),
          "earlier file intact after refused writes, no temporary file");
    free(after);
    free(before);

    /* folders that cannot take the file */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no_such_folder/x.safetensors", tmp_dir);
    capture_begin();
    rc = evae_st_write(missing, &t1, 1, NULL, NULL, 0);
    msg = capture_end();
    CHECK(rc != 0 && strstr(msg, missing) && strstr(msg, "No such file or directory"),
          "missing folder: %s", msg);
    char under_file[160];
    snprintf(under_file, sizeof under_file, "%s/x.safetensors", path); /* path is a regular file */
    capture_begin();
    rc = evae_st_write(under_file, &t1, 1, NULL, NULL, 0);
    msg = capture_end();
    CHECK(rc != 0 && strstr(msg, under_file) && strstr(msg, "Not a directory"),
          "folder that is a file: %s", msg);
    if (geteuid() != 0) { /* root writes through permission bits; the checks above still ran */
        char ro[128], ro_file[160];
        path_in_tmp(ro, sizeof ro, "read_only");
        mkdir(ro, 0555);
        snprintf(ro_file, sizeof ro_file, "%s/x.safetensors", ro);
        capture_begin();
        rc = evae_st_write(ro_file, &t1, 1, NULL, NULL, 0);
        msg = capture_end();
        CHECK(rc != 0 && strstr(msg, "Permission denied"), "read-only folder: %s", msg);
        rmdir(ro);
    }
    rmdir(folder);
}

int main(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/evae_test_st_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    CHECK(evae_st_dtype_size("F32") == 4 && evae_st_dtype_size("F64") == 8 &&
              evae_st_dtype_size("I64") == 8 && evae_st_dtype_size("U8") == 1 &&
              evae_st_dtype_size("BF16") == 2 && evae_st_dtype_size("F32 ") == 0 &&
              evae_st_dtype_size("f32") == 0,
          "dtype sizes");
    setup_round_tensors();
    test_round_trip();
    test_byte_layout();
    test_foreign_files();
    test_corrupt();
    test_atomic_write();

    const char *files[] = {"round.safetensors", "nothing.safetensors", "tiny.safetensors",
                           "foreign.safetensors", "corrupt.safetensors", "model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[128];
        path_in_tmp(p, sizeof p, files[i]);
        remove(p);
    }
    rmdir(tmp_dir);
    return check_report("test_safetensors");
}
