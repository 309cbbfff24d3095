/* What the fuzz targets share. Each target is one function `int fuzz_NAME(const uint8_t *data,
 * size_t size)` that hands the bytes to one of evae's parsers through the same entry point the
 * program uses (a file path) and returns 0 when the parser accepted them, 1 when it refused them.
 * It aborts when an accepted input breaks a promise of the parser's header (an invariant), so the
 * fuzzer reports it like a crash. Built two ways:
 *   - with libFuzzer (scripts/fuzz.sh: clang -fsanitize=fuzzer,address,undefined, EVAE_LIBFUZZER
 *     defined): EVAE_FUZZ_TARGET makes the function the fuzzer's entry point;
 *   - in the plain build, all four in one program (tests/fuzz/replay.c, the ctest fuzz_replay) that
 *     replays every file kept under tests/fuzz/regression/NAME/. */
#ifndef EVAE_FUZZ_INPUT_H
#define EVAE_FUZZ_INPUT_H

#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef EVAE_LIBFUZZER
#define EVAE_FUZZ_TARGET(fn)                                            \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);       \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)        \
    {                                                                   \
        fn(data, size);                                                 \
        return 0;                                                       \
    }
#else
#define EVAE_FUZZ_TARGET(fn)
#endif

/* An in-memory file (memfd) holding exactly bytes[0..size), named by a path the parsers can open
 * (/proc/self/fd/N, written into path[64]). slot: 0 or 1, for a target that needs two files. The
 * files stay open between calls and are rewritten each time. */
static inline const char *fuzz_file(int slot, const uint8_t *bytes, size_t size, char path[64])
{
    static int fds[2] = {-1, -1};
    if (fds[slot] < 0) fds[slot] = memfd_create(slot ? "evae-fuzz-1" : "evae-fuzz-0", 0);
    if (fds[slot] < 0 || ftruncate(fds[slot], 0) != 0) {
        perror("memfd");
        abort();
    }
    for (size_t done = 0; done < size;) {
        ssize_t n = pwrite(fds[slot], bytes + done, size - done, (off_t)done);
        if (n <= 0) {
            perror("memfd write");
            abort();
        }
        done += (size_t)n;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fds[slot]);
    return path;
}

/* An accepted input broke a promise of the parser: report it and abort (a crash to the fuzzer). */
#define FUZZ_ASSERT(cond, what)                                                       \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: invariant broken: %s (%s)\n", __FILE__, __LINE__, \
                    what, #cond);                                                     \
            abort();                                                                  \
        }                                                                             \
    } while (0)

int fuzz_idx(const uint8_t *data, size_t size);
int fuzz_cifar(const uint8_t *data, size_t size);
int fuzz_config(const uint8_t *data, size_t size);
int fuzz_checkpoint(const uint8_t *data, size_t size);

#endif
