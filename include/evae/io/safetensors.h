/* The safetensors file format (as written by huggingface `safetensors`, readable by PyTorch and
 * numpy):
 *   [8 bytes: N, little-endian u64] [N bytes: JSON header, padded with spaces so 8 + N is a
 *   multiple of 8] [byte buffer]
 * The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * into the byte buffer) and may hold "__metadata__": {string: string}. Data are little-endian,
 * row-major. The tensors tile the buffer exactly: no gaps, no overlaps. */
#ifndef EVAE_SAFETENSORS_H
#define EVAE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef struct evae_st_tensor {
    char name[128];
    char dtype[8];    /* "F32", "F64", "I64", "U8", ... (see evae_st_dtype_size) */
    int ndim;         /* 0..8; 0 = a scalar (one element) */
    int64_t shape[8]; /* shape[0..ndim) */
    const void *data; /* host bytes, row-major; aligned to the element size when read */
    size_t nbytes;    /* prod(shape) * element size */
} evae_st_tensor;

/* Bytes per element of a safetensors dtype name; 0 when unknown. Known: BOOL U8 I8 F8_E4M3
 * F8_E5M2 (1), I16 U16 F16 BF16 (2), I32 U32 F32 (4), I64 U64 F64 (8). */
size_t evae_st_dtype_size(const char *dtype);

/* Write tensors and string metadata to `path` atomically (evae_atomic_write: PATH.tmp is
 * written, flushed and fsync'ed, then renamed over PATH, then the folder is fsync'ed). In the file, the data are laid
 * out by decreasing element size (so each tensor is aligned to its element size); the header
 * lists the tensors in the given order. On any failure (bad tensor description, I/O error) prints
 * one line naming the path and the problem (errno text for I/O), removes the temporary file,
 * leaves an existing PATH untouched and returns non-zero. */
int evae_st_write(const char *path, const evae_st_tensor *tensors, int count,
                  const char *const *meta_keys, const char *const *meta_values, int meta_count);

typedef struct evae_st_file evae_st_file;

/* Read and validate a whole file: length >= 8, header inside the file, JSON object header, every
 * entry with a known dtype, a shape of non-negative integers, offsets inside the buffer with
 * end - begin == prod(shape) * element size, tensors tiling the buffer (no overlap, no gap), no
 * duplicate names, string metadata. On a problem prints "corrupt checkpoint 'PATH': ..." and
 * returns NULL. */
evae_st_file *evae_st_read(const char *path);

/* CRC-32 (zlib's, the same as Python's zlib.crc32) of the tensors' data concatenated in the byte
 * order (strcmp) of their names: the same for any layout of the file and any order of its
 * header. evae_st_file_crc32: the same over the tensors of a file read. */
uint32_t evae_st_crc32(const evae_st_tensor *tensors, int count);
uint32_t evae_st_file_crc32(const evae_st_file *f);

const evae_st_tensor *evae_st_find(const evae_st_file *f, const char *name); /* NULL if absent */
const char *evae_st_meta(const evae_st_file *f, const char *key);           /* NULL if absent */
int evae_st_count(const evae_st_file *f);                                   /* tensors */
const evae_st_tensor *evae_st_at(const evae_st_file *f, int i); /* header order, 0..count) */
void evae_st_close(evae_st_file *f);                             /* frees all data (NULL ok) */

#endif
