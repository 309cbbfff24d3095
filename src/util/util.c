#include "evae/util.h"

#define _DEFAULT_SOURCE /* POSIX.1-2008 and M_PI under -std=c11 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char error_tag[32]; /* "rank R of N: " in a run of several processes */

void evae_error_tag(int rank, int size)
{
    if (size > 1)
        snprintf(error_tag, sizeof error_tag, "rank %d of %d: ", rank, size);
    else
        error_tag[0] = '\0';
}

/* One write of the whole line: stderr is unbuffered, and the lines of several ranks that share
 * it (mpirun's) must not interleave within a line. */
static void report(const char *prefix, const char *fmt, va_list ap)
{
    char line[2048];
    int n = snprintf(line, sizeof line, "%s%s", prefix, error_tag);
    if (n < 0 || n >= (int)sizeof line - 1) n = 0;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = m < 0 ? (size_t)n : strnlen(line, sizeof line - 1);
    line[len] = '\n';
    fwrite(line, 1, len + 1, stderr);
}

void evae_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report("evae: ", fmt, ap);
    va_end(ap);
}

void evae_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report("evae: warning: ", fmt, ap);
    va_end(ap);
}

void *evae_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        evae_error("out of host memory allocating %zu x %zu bytes", count, size);
        abort();
    }
    return p;
}

double evae_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
