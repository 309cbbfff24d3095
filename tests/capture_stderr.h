/* Capturing what evae_error() prints, so a test can check that a message names the file or key
 * and the problem. The captured text is echoed back to stderr to stay visible in the test log. */
#ifndef EVAE_TESTS_CAPTURE_STDERR_H
#define EVAE_TESTS_CAPTURE_STDERR_H

#include <stdio.h>
#include <unistd.h>

static char captured[8192];
static int capture_saved = -1;
static FILE *capture_file;

static inline void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    capture_saved = dup(2);
    dup2(fileno(capture_file), 2);
}

/* What was printed to stderr since capture_begin. */
static inline const char *capture_end(void)
{
    fflush(stderr);
    dup2(capture_saved, 2);
    close(capture_saved);
    rewind(capture_file);
    size_t n = fread(captured, 1, sizeof captured - 1, capture_file);
    captured[n] = '\0';
    fclose(capture_file);
    fputs(captured, stderr);
    return captured;
}

#endif
