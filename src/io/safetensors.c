/* safetensors reader and atomic writer. The header JSON goes through cJSON; integers in it are
 * written as plain decimal text (cJSON would print large doubles in exponent form, which strict
 * readers of the format reject). */
#define _POSIX_C_SOURCE 200809L

#include "evae/io/safetensors.h"

#include "evae/io/atomic_file.h"
#include "evae/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* A header larger than this is taken as corruption (the reference implementation's limit). */
#define ST_MAX_HEADER 100000000ULL
/* JSON numbers are doubles: integers above 2^53 cannot be represented exactly. */
#define ST_MAX_JSON_INT 9007199254740992.0

size_t evae_st_dtype_size(const char *dtype)
{
    static const struct { const char *name; size_t size; } dtypes[] = {
        {"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2},
        {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},     {"U32", 4},     {"F32", 4},
        {"I64", 8},  {"U64", 8}, {"F64", 8},
    };
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, dtype) == 0) return dtypes[i].size;
    return 0;
}

/* prod(shape) * element size, or false on overflow. */
static bool tensor_bytes(const int64_t *shape, int ndim, size_t elem, uint64_t *out)
{
    uint64_t n = elem;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)shape[i], &n)) return false;
    }
    *out = n;
    return true;
}

/* ---- writing ---- */

static void put_u64_le(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static cJSON *json_uint(uint64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, v);
    return cJSON_CreateRaw(text);
}

/* Check what the caller passed; prints the problem and returns non-zero. */
static int check_tensors(const char *path, const evae_st_tensor *t, int count,
                         const char *const *mk, const char *const *mv, int meta_count)
{
    if (count < 0 || meta_count < 0 || (count > 0 && !t) ||
        (meta_count > 0 && (!mk || !mv))) {
        evae_error("cannot write checkpoint '%s': bad tensor or metadata list", path);
        return 1;
    }
    for (int i = 0; i < count; i++) {
        size_t nl = strnlen(t[i].name, sizeof t[i].name);
        if (nl < sizeof t[i].name && evae_utf8_valid_prefix(t[i].name, nl) < nl) {
            evae_error("cannot write checkpoint '%s': the name of tensor %d is not UTF-8", path,
                       i);
            return 1;
        }
        size_t elem = evae_st_dtype_size(strnlen(t[i].dtype, sizeof t[i].dtype) <
                                                 sizeof t[i].dtype
                                             ? t[i].dtype
                                             : "");
        uint64_t want;
        if (nl == 0 || nl == sizeof t[i].name || strcmp(t[i].name, "__metadata__") == 0) {
            evae_error("cannot write checkpoint '%s': tensor %d has an empty, unterminated or "
                       "reserved name", path, i);
            return 1;
        }
        if (elem == 0) {
            evae_error("cannot write checkpoint '%s': tensor '%s' has unknown dtype '%.8s'", path,
                       t[i].name, t[i].dtype);
            return 1;
        }
        if (t[i].ndim < 0 || t[i].ndim > 8 || !tensor_bytes(t[i].shape, t[i].ndim, elem, &want) ||
            want != t[i].nbytes || (t[i].nbytes > 0 && !t[i].data)) {
            evae_error("cannot write checkpoint '%s': tensor '%s': shape and nbytes (%zu) "
                       "disagree or data is missing", path, t[i].name, t[i].nbytes);
            return 1;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(t[i].name, t[j].name) == 0) {
                evae_error("cannot write checkpoint '%s': tensor name '%s' used twice", path,
                           t[i].name);
                return 1;
            }
        }
    }
    for (int i = 0; i < meta_count; i++) {
        if (!mk[i] || !mv[i]) {
            evae_error("cannot write checkpoint '%s': metadata entry %d is NULL", path, i);
            return 1;
        }
        /* the header is JSON, which readers of the format accept only as UTF-8 */
        size_t kl = strlen(mk[i]), vl = strlen(mv[i]), kv = evae_utf8_valid_prefix(mk[i], kl),
               vv = evae_utf8_valid_prefix(mv[i], vl);
        if (kv < kl) {
            evae_error("cannot write checkpoint '%s': metadata key %d is not UTF-8", path, i);
            return 1;
        }
        if (vv < vl) {
            evae_error("cannot write checkpoint '%s': metadata '%s': byte %zu (0x%02x) is not "
                       "UTF-8", path, mk[i], vv + 1, (unsigned char)mv[i][vv]);
            return 1;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(mk[i], mk[j]) == 0) {
                evae_error("cannot write checkpoint '%s': metadata key '%s' used twice", path,
                           mk[i]);
                return 1;
            }
        }
    }
    return 0;
}

/* The header JSON, given the offset of each tensor in the buffer (begin[i], begin[i] + nbytes). */
static char *header_json(const evae_st_tensor *t, int count, const uint64_t *begin,
                         const char *const *mk, const char *const *mv, int meta_count)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && meta_count > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && i < meta_count; i++) ok = cJSON_AddStringToObject(meta, mk[i], mv[i]);
    }
    for (int i = 0; ok && i < count; i++) {
        cJSON *entry = cJSON_AddObjectToObject(root, t[i].name);
        cJSON *shape = entry ? cJSON_CreateArray() : NULL;
        cJSON *offsets = shape ? cJSON_CreateArray() : NULL;
        ok = offsets && cJSON_AddStringToObject(entry, "dtype", t[i].dtype);
        if (shape) cJSON_AddItemToObject(entry, "shape", shape);
        if (offsets) cJSON_AddItemToObject(entry, "data_offsets", offsets);
        for (int d = 0; ok && d < t[i].ndim; d++)
            ok = cJSON_AddItemToArray(shape, json_uint((uint64_t)t[i].shape[d]));
        ok = ok && cJSON_AddItemToArray(offsets, json_uint(begin[i])) &&
             cJSON_AddItemToArray(offsets, json_uint(begin[i] + t[i].nbytes));
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return json;
}

/* What evae_st_write puts in the file: length, header, padding, then the tensors in layout
 * order. */
typedef struct st_body {
    const evae_st_tensor *tensors;
    const int *order; /* [count] tensor indices in file order */
    int count;
    const char *json;
} st_body;

static int write_body(FILE *f, void *ctx)
{
    const st_body *b = ctx;
    size_t json_len = strlen(b->json);
    uint64_t header_len = (json_len + 7) & ~(uint64_t)7; /* spaces pad 8 + N to a multiple of 8 */
    unsigned char len_bytes[8];
    put_u64_le(len_bytes, header_len);
    static const char spaces[9] = "        ";
    bool ok = fwrite(len_bytes, 1, 8, f) == 8 && fwrite(b->json, 1, json_len, f) == json_len &&
              fwrite(spaces, 1, header_len - json_len, f) == header_len - json_len;
    for (int k = 0; ok && k < b->count; k++) {
        const evae_st_tensor *t = &b->tensors[b->order[k]];
        ok = t->nbytes == 0 || fwrite(t->data, 1, t->nbytes, f) == t->nbytes;
    }
    return ok ? 0 : 1;
}

int evae_st_write(const char *path, const evae_st_tensor *tensors, int count,
                  const char *const *meta_keys, const char *const *meta_values, int meta_count)
{
    if (check_tensors(path, tensors, count, meta_keys, meta_values, meta_count)) return 1;

    /* layout: larger elements first (stable), so every tensor starts at a multiple of its
     * element size once the buffer starts at a multiple of 8 */
    int *order = evae_xcalloc(count > 0 ? (size_t)count : 1, sizeof *order);
    uint64_t *begin = evae_xcalloc(count > 0 ? (size_t)count : 1, sizeof *begin);
    int placed = 0;
    uint64_t pos = 0;
    for (size_t elem = 8; elem >= 1; elem /= 2) {
        for (int i = 0; i < count; i++) {
            if (evae_st_dtype_size(tensors[i].dtype) != elem) continue;
            order[placed++] = i;
            begin[i] = pos;
            pos += tensors[i].nbytes;
        }
    }

    char *json = header_json(tensors, count, begin, meta_keys, meta_values, meta_count);
    int rc = 1;
    if (!json) {
        evae_error("cannot write checkpoint '%s': out of memory building the header", path);
    } else {
        st_body body = {tensors, order, placed, json};
        rc = evae_atomic_write(path, write_body, &body);
    }
    cJSON_free(json);
    free(order);
    free(begin);
    return rc;
}

/* ---- reading ---- */

struct evae_st_file {
    unsigned char *bytes; /* the whole file */
    int count;
    evae_st_tensor *tensors; /* header order */
    void **aligned_copies;   /* [count]: own copy of a tensor whose bytes are misaligned, or NULL */
    int meta_count;
    char **meta_keys, **meta_values;
};

static void corrupt(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void corrupt(const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    evae_error("corrupt checkpoint '%s': %s", path, msg);
}

/* A JSON number that is a non-negative integer representable exactly. */
static bool read_uint(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= ST_MAX_JSON_INT) || v != (double)(uint64_t)v) return false;
    *out = (uint64_t)v;
    return true;
}

typedef struct span { uint64_t begin, end; int index; } span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    const evae_st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Whole file into memory; prints the problem and returns NULL on failure. */
static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        evae_error("cannot read checkpoint '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        evae_error("cannot read checkpoint '%s': not a regular file", path);
        fclose(f);
        return NULL;
    }
    *size = (size_t)st.st_size;
    unsigned char *bytes = malloc(*size ? *size : 1);
    if (!bytes) {
        evae_error("cannot read checkpoint '%s': out of memory for %zu bytes", path, *size);
        fclose(f);
        return NULL;
    }
    if (fread(bytes, 1, *size, f) != *size) {
        evae_error("cannot read checkpoint '%s': %s", path,
                   ferror(f) ? strerror(errno) : "file shrank while reading");
        free(bytes);
        fclose(f);
        return NULL;
    }
    fclose(f);
    return bytes;
}

/* Fill one tensor from its header entry; returns false after reporting the problem. */
static bool parse_entry(const char *path, const cJSON *entry, evae_st_tensor *t, span *s,
                        uint64_t buffer_len)
{
    const char *name = entry->string;
    if (strlen(name) >= sizeof t->name) {
        corrupt(path, "tensor name '%.40s...' is longer than %zu characters", name,
                sizeof t->name - 1);
        return false;
    }
    strcpy(t->name, name);
    if (!cJSON_IsObject(entry)) {
        corrupt(path, "entry '%s' is not an object", name);
        return false;
    }
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offsets)) {
        corrupt(path, "tensor '%s' lacks a string dtype, a shape array or a data_offsets array",
                name);
        return false;
    }
    size_t elem = evae_st_dtype_size(dtype->valuestring);
    if (elem == 0 || strlen(dtype->valuestring) >= sizeof t->dtype) {
        corrupt(path, "tensor '%s' has unknown dtype '%.20s'", name, dtype->valuestring);
        return false;
    }
    strcpy(t->dtype, dtype->valuestring);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > 8) {
        corrupt(path, "tensor '%s' has %d dimensions (at most 8)", name, ndim);
        return false;
    }
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        uint64_t v;
        if (!read_uint(cJSON_GetArrayItem(shape, d), &v) || v > (uint64_t)INT64_MAX) {
            corrupt(path, "tensor '%s': shape entry %d is not a non-negative integer", name, d);
            return false;
        }
        t->shape[d] = (int64_t)v;
    }
    uint64_t want, begin, end;
    if (!tensor_bytes(t->shape, ndim, elem, &want) || want > SIZE_MAX) {
        corrupt(path, "tensor '%s': shape is too large", name);
        return false;
    }
    if (cJSON_GetArraySize(offsets) != 2 || !read_uint(cJSON_GetArrayItem(offsets, 0), &begin) ||
        !read_uint(cJSON_GetArrayItem(offsets, 1), &end)) {
        corrupt(path, "tensor '%s': data_offsets is not two non-negative integers", name);
        return false;
    }
    if (begin > end || end > buffer_len) {
        corrupt(path,
                "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] lie outside the %" PRIu64
                "-byte buffer",
                name, begin, end, buffer_len);
        return false;
    }
    if (end - begin != want) {
        corrupt(path,
                "tensor '%s': data_offsets span %" PRIu64 " bytes but shape and dtype %s need "
                "%" PRIu64,
                name, end - begin, t->dtype, want);
        return false;
    }
    t->nbytes = (size_t)want;
    s->begin = begin;
    s->end = end;
    return true;
}

evae_st_file *evae_st_read(const char *path)
{
    size_t size = 0;
    unsigned char *bytes = read_all(path, &size);
    if (!bytes) return NULL;
    evae_st_file *f = evae_xcalloc(1, sizeof *f);
    f->bytes = bytes;
    cJSON *root = NULL;
    span *spans = NULL;
    const evae_st_tensor **by_name = NULL;

    if (size < 8) {
        corrupt(path, "file is %zu bytes, shorter than the 8-byte header length", size);
        goto fail;
    }
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | bytes[i];
    if (header_len > size - 8 || header_len > ST_MAX_HEADER) {
        corrupt(path, "header length %" PRIu64 " goes beyond the file (%zu bytes)", header_len,
                size);
        goto fail;
    }
    const char *json = (const char *)bytes + 8;
    const unsigned char *buffer = bytes + 8 + header_len;
    uint64_t buffer_len = size - 8 - header_len;
    if (header_len == 0 || json[0] != '{') {
        corrupt(path, "header does not start with '{'");
        goto fail;
    }
    const char *json_end = NULL;
    root = cJSON_ParseWithLengthOpts(json, (size_t)header_len, &json_end, 0);
    if (!root || !cJSON_IsObject(root)) {
        corrupt(path, "header is not valid JSON (at byte %td of the header)",
                json_end ? json_end - json : (ptrdiff_t)0);
        goto fail;
    }
    for (const char *p = json_end; p < json + header_len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            corrupt(path, "header has bytes after its JSON object");
            goto fail;
        }
    }

    int entries = cJSON_GetArraySize(root);
    f->tensors = evae_xcalloc((size_t)entries + 1, sizeof *f->tensors);
    f->aligned_copies = evae_xcalloc((size_t)entries + 1, sizeof *f->aligned_copies);
    spans = evae_xcalloc((size_t)entries + 1, sizeof *spans);
    bool have_meta = false;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (have_meta || !cJSON_IsObject(e)) {
                corrupt(path, "__metadata__ is repeated or not an object");
                goto fail;
            }
            have_meta = true;
            int n = cJSON_GetArraySize(e);
            f->meta_keys = evae_xcalloc((size_t)n + 1, sizeof *f->meta_keys);
            f->meta_values = evae_xcalloc((size_t)n + 1, sizeof *f->meta_values);
            for (const cJSON *m = e->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    corrupt(path, "metadata '%s' is not a string", m->string);
                    goto fail;
                }
                for (int j = 0; j < f->meta_count; j++) {
                    if (strcmp(f->meta_keys[j], m->string) == 0) {
                        corrupt(path, "metadata key '%s' appears twice", m->string);
                        goto fail;
                    }
                }
                f->meta_keys[f->meta_count] = strdup(m->string);
                f->meta_values[f->meta_count] = strdup(m->valuestring);
                f->meta_count++;
                if (!f->meta_keys[f->meta_count - 1] || !f->meta_values[f->meta_count - 1]) {
                    evae_error("cannot read checkpoint '%s': out of memory", path);
                    goto fail;
                }
            }
            continue;
        }
        evae_st_tensor *t = &f->tensors[f->count];
        if (!parse_entry(path, e, t, &spans[f->count], buffer_len)) goto fail;
        spans[f->count].index = f->count;
        f->count++;
    }

    /* names unique */
    by_name = evae_xcalloc((size_t)f->count + 1, sizeof *by_name);
    for (int i = 0; i < f->count; i++) by_name[i] = &f->tensors[i];
    qsort(by_name, (size_t)f->count, sizeof *by_name, name_cmp);
    for (int i = 1; i < f->count; i++) {
        if (strcmp(by_name[i]->name, by_name[i - 1]->name) == 0) {
            corrupt(path, "tensor '%s' appears twice", by_name[i]->name);
            goto fail;
        }
    }

    /* the tensors tile the buffer: sorted by offset, each begins where the previous ended */
    qsort(spans, (size_t)f->count, sizeof *spans, span_cmp);
    uint64_t pos = 0;
    for (int i = 0; i < f->count; i++) {
        if (spans[i].begin < pos) {
            corrupt(path, "tensors '%s' and '%s' overlap", f->tensors[spans[i - 1].index].name,
                    f->tensors[spans[i].index].name);
            goto fail;
        }
        if (spans[i].begin > pos) {
            corrupt(path, "buffer bytes [%" PRIu64 ", %" PRIu64 ") belong to no tensor", pos,
                    spans[i].begin);
            goto fail;
        }
        pos = spans[i].end;
    }
    if (pos != buffer_len) {
        corrupt(path, "buffer has %" PRIu64 " bytes but the tensors cover %" PRIu64, buffer_len,
                pos);
        goto fail;
    }

    /* data pointers; a tensor that does not start at a multiple of its element size in memory
     * (possible with files from other writers) gets its own aligned copy */
    for (int i = 0; i < f->count; i++) {
        const span *s = &spans[i];
        evae_st_tensor *t = &f->tensors[s->index];
        const unsigned char *p = buffer + s->begin;
        size_t elem = evae_st_dtype_size(t->dtype);
        if ((uintptr_t)p % elem != 0) {
            f->aligned_copies[s->index] = evae_xcalloc(t->nbytes, 1); /* malloc: max alignment */
            memcpy(f->aligned_copies[s->index], p, t->nbytes);
            p = f->aligned_copies[s->index];
        }
        t->data = p;
    }
    free(spans);
    free(by_name);
    cJSON_Delete(root);
    return f;

fail:
    free(spans);
    free(by_name);
    cJSON_Delete(root);
    evae_st_close(f);
    return NULL;
}

uint32_t evae_st_crc32(const evae_st_tensor *tensors, int count)
{
    const evae_st_tensor **by_name = evae_xcalloc(count > 0 ? (size_t)count : 1, sizeof *by_name);
    for (int i = 0; i < count; i++) by_name[i] = &tensors[i];
    qsort(by_name, (size_t)count, sizeof *by_name, name_cmp);
    uLong crc = crc32_z(0L, Z_NULL, 0);
    for (int i = 0; i < count; i++)
        if (by_name[i]->nbytes) crc = crc32_z(crc, by_name[i]->data, by_name[i]->nbytes);
    free(by_name);
    return (uint32_t)crc;
}

uint32_t evae_st_file_crc32(const evae_st_file *f) { return evae_st_crc32(f->tensors, f->count); }

const evae_st_tensor *evae_st_find(const evae_st_file *f, const char *name)
{
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *evae_st_meta(const evae_st_file *f, const char *key)
{
    for (int i = 0; i < f->meta_count; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

int evae_st_count(const evae_st_file *f) { return f->count; }

const evae_st_tensor *evae_st_at(const evae_st_file *f, int i)
{
    return i >= 0 && i < f->count ? &f->tensors[i] : NULL;
}

void evae_st_close(evae_st_file *f)
{
    if (!f) return;
    for (int i = 0; f->aligned_copies && i < f->count; i++) free(f->aligned_copies[i]);
    for (int i = 0; i < f->meta_count; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->aligned_copies);
    free(f->tensors);
    free(f->bytes);
    free(f);
}
