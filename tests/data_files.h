/* Helpers for the data-reader tests: a scratch folder under /tmp, writing small files plain or
 * gzipped, and capturing what a loader prints to stderr so a test can check the message names the
 * file and the problem. Include after defining _XOPEN_SOURCE 700 (mkdtemp, nftw, dup). */
#ifndef EVAE_TESTS_DATA_FILES_H
#define EVAE_TESTS_DATA_FILES_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"

static char scratch_dir[256];
static char *scratch_paths[256]; /* the strings handed out by scratch_path */
static int scratch_npaths = 0;

/* Makes the scratch folder; exits the test on failure (nothing else can run without it). */
static inline void scratch_make(const char *name)
{
    snprintf(scratch_dir, sizeof scratch_dir, "/tmp/%s.XXXXXX", name);
    if (!mkdtemp(scratch_dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static inline int scratch_remove_one(const char *path, const struct stat *st, int flag,
                                     struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static inline void scratch_remove(void)
{
    nftw(scratch_dir, scratch_remove_one, 16, FTW_DEPTH | FTW_PHYS);
    for (int i = 0; i < scratch_npaths; i++) free(scratch_paths[i]);
    scratch_npaths = 0;
}

/* path = scratch_dir/name; the strings live until scratch_remove. */

static inline const char *scratch_path(const char *name)
{
    size_t len = strlen(scratch_dir) + strlen(name) + 2;
    char *p = malloc(len);
    snprintf(p, len, "%s/%s", scratch_dir, name);
    if (scratch_npaths < 256) scratch_paths[scratch_npaths++] = p;
    return p;
}

/* Writes data[len] to path, gzip-compressed when gz != 0. Returns 0 on success. */
static inline int write_file(const char *path, const void *data, size_t len, int gz)
{
    if (gz) {
        gzFile g = gzopen(path, "wb");
        if (!g) return 1;
        int ok = len == 0 || gzwrite(g, data, (unsigned)len) == (int)len;
        return (gzclose(g) != Z_OK) || !ok;
    }
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    int ok = fwrite(data, 1, len, f) == len;
    return (fclose(f) != 0) || !ok;
}

/* Reads a whole plain file into *data (malloc'ed); returns its length or -1. */
static inline long read_file(const char *path, unsigned char **data)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc(len > 0 ? (size_t)len : 1);
    long got = (long)fread(*data, 1, (size_t)len, f);
    fclose(f);
    return got == len ? len : -1;
}

#include "capture_stderr.h"

/* A call that must fail: non-zero return and one message containing both needles (the file name
 * and the problem). */
#define CHECK_FAILS(call, needle1, needle2)                                                  \
    do {                                                                                   \
        capture_begin();                                                                   \
        int rc_ = (call);                                                                  \
        const char *msg_ = capture_end();                                                  \
        CHECK(rc_ != 0, "%s returned 0", #call);                                           \
        CHECK(strstr(msg_, (needle1)) != NULL, "message lacks \"%s\": %s", (needle1), msg_); \
        CHECK(strstr(msg_, (needle2)) != NULL, "message lacks \"%s\": %s", (needle2), msg_); \
    } while (0)

#endif
