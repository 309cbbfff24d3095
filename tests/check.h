/* Minimal test harness: CHECK records a failure and goes on; main returns check_report(). */
#ifndef EVAE_TESTS_CHECK_H
#define EVAE_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures = 0;
static int check_count = 0;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        check_count++;                                                                     \
        if (!(cond)) {                                                                     \
            check_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
        }                                                                                  \
    } while (0)

/* |got - want| <= atol + rtol * |want| */
#define CHECK_CLOSE(got, want, atol, rtol, what)                                            \
    do {                                                                                   \
        double g_ = (double)(got), w_ = (double)(want);                                    \
        CHECK(fabs(g_ - w_) <= (atol) + (rtol) * fabs(w_) && g_ == g_,                     \
              "%s: got %.9g want %.9g (diff %.3g)", what, g_, w_, fabs(g_ - w_));         \
    } while (0)

static inline int check_report(const char *name)
{
    if (check_count == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
