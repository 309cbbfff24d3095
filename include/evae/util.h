/* Small shared helpers: error reporting, checked allocation on the host, UTF-8 validation, the
 * clock. */
#ifndef EVAE_UTIL_H
#define EVAE_UTIL_H

#include <stddef.h>

/* Print "evae: <message>" to stderr. Functions that fail print one such line naming the file
 * or key and the problem, then return non-zero; main() turns that into a non-zero exit. */
void evae_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "evae: warning: <message>" to stderr: something was repaired or skipped, and the run goes
 * on. */
void evae_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* In a run of size > 1 processes, every later message says which rank it comes from:
 * "evae: rank 1 of 4: <message>". */
void evae_error_tag(int rank, int size);

/* Host allocation that aborts with a message on failure (zero-filled). */
void *evae_xcalloc(size_t count, size_t size);

/* Length of the longest prefix of s[0..len) that is valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), cut before the first bad sequence: len when all of it is
 * valid, else the offset of the first byte that is not. Text that ends up in a JSON file (the
 * checkpoint's header, manifest.json) must be valid UTF-8 for other readers to accept it. */
size_t evae_utf8_valid_prefix(const char *s, size_t len);

/* Wall clock in seconds (monotonic). */
double evae_now(void);

#endif
