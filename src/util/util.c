#include "evae/util.h"

#define _DEFAULT_SOURCE /* POSIX.1-2008 and M_PI under -std=c11 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void report(const char *prefix, const char *fmt, va_list ap)
{
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
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
