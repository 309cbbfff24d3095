/* Small shared helpers: error reporting and checked allocation on the host. */
#ifndef EVAE_UTIL_H
#define EVAE_UTIL_H

#include <stddef.h>

/* Print "evae: <message>" to stderr. Functions that fail print one such line naming the file
 * or key and the problem, then return non-zero; main() turns that into a non-zero exit. */
void evae_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* In a run of size > 1 processes, every later message says which rank it comes from:
 * "evae: rank 1 of 4: <message>". */
void evae_error_tag(int rank, int size);

/* Host allocation that aborts with a message on failure (zero-filled). */
void *evae_xcalloc(size_t count, size_t size);

/* Wall clock in seconds (monotonic). */
double evae_now(void);

#endif
