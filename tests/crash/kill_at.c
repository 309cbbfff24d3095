/* Kills the process with SIGKILL at an exact moment of its file writes, for the crash test
 * (scripts/crash_test.sh): loaded with LD_PRELOAD, it wraps fopen, fwrite and rename and reads
 * the moment from EVAE_KILL_AT:
 *   open:PATTERN:N      as the N-th fopen of a path containing PATTERN is called (before it opens)
 *   write:PATTERN:N:K   at the K-th fwrite into the N-th file opened with a path containing
 *                       PATTERN, before that write (the file is cut off after K-1 writes)
 *   rename:PATTERN:N    right after the N-th successful rename onto a path containing PATTERN
 * Nothing is simulated: the process really dies by SIGKILL at that point, as under `kill -9`.
 * The variable LD_PRELOAD is removed at load, so child processes (git, for the manifest) run
 * without it; it is put back for evae's one re-execution of itself at start-up (execv of
 * /proc/self/exe, to choose the BLAS kernels and OpenMP waits), whose new image needs the shim
 * as much as the first: nothing has been written by then, so the counts start there. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char call[16], pattern[256];
static char preload[4096]; /* LD_PRELOAD as it was at load */
static long n_wanted, k_wanted;
static long seen;       /* matching calls so far (open, rename) or matching files opened (write) */
static FILE *watched;   /* write: the N-th matching file */
static long writes;     /* fwrite calls into it */

__attribute__((constructor)) static void kill_at_init(void)
{
    const char *spec = getenv("EVAE_KILL_AT"), *pre = getenv("LD_PRELOAD");
    if (pre) snprintf(preload, sizeof preload, "%s", pre);
    unsetenv("LD_PRELOAD");
    if (!spec) return;
    char c[16] = "", p[256] = "";
    long n = 0, k = 1;
    if (sscanf(spec, "%15[a-z]:%255[^:]:%ld:%ld", c, p, &n, &k) < 3 || n < 1 || k < 1 ||
        (strcmp(c, "open") && strcmp(c, "write") && strcmp(c, "rename"))) {
        fprintf(stderr, "kill_at: cannot read EVAE_KILL_AT='%s'\n", spec);
        abort();
    }
    strcpy(call, c);
    strcpy(pattern, p);
    n_wanted = n;
    k_wanted = k;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "kill_at: SIGKILL at %s '%s'\n", what, path);
    kill(getpid(), SIGKILL);
}

static FILE *wrapped_open(const char *name, const char *path, const char *mode)
{
    FILE *(*real)(const char *, const char *) = (FILE * (*)(const char *, const char *))
        dlsym(RTLD_NEXT, name);
    int match = call[0] && strstr(path, pattern) != NULL;
    if (match && strcmp(call, "open") == 0 && ++seen == n_wanted) die("fopen of", path);
    FILE *f = real(path, mode);
    if (match && f && strcmp(call, "write") == 0 && ++seen == n_wanted) watched = f;
    return f;
}

FILE *fopen(const char *path, const char *mode) { return wrapped_open("fopen", path, mode); }
FILE *fopen64(const char *path, const char *mode) { return wrapped_open("fopen64", path, mode); }

size_t fwrite(const void *data, size_t size, size_t count, FILE *f)
{
    static size_t (*real)(const void *, size_t, size_t, FILE *);
    if (!real) real = (size_t(*)(const void *, size_t, size_t, FILE *))dlsym(RTLD_NEXT, "fwrite");
    if (watched && f == watched && ++writes == k_wanted)
        die("fwrite into the file matching", pattern);
    return real(data, size, count, f);
}

int fclose(FILE *f)
{
    int (*real)(FILE *) = (int (*)(FILE *))dlsym(RTLD_NEXT, "fclose");
    if (f == watched) watched = NULL; /* closed with fewer than K writes: the moment is gone */
    return real(f);
}

int rename(const char *from, const char *to)
{
    int (*real)(const char *, const char *) = (int (*)(const char *, const char *))
        dlsym(RTLD_NEXT, "rename");
    int rc = real(from, to);
    if (rc == 0 && strcmp(call, "rename") == 0 && strstr(to, pattern) && ++seen == n_wanted)
        die("the end of rename to", to);
    return rc;
}

int execv(const char *path, char *const argv[])
{
    int (*real)(const char *, char *const[]) = (int (*)(const char *, char *const[]))
        dlsym(RTLD_NEXT, "execv");
    if (strcmp(path, "/proc/self/exe") == 0 && preload[0]) setenv("LD_PRELOAD", preload, 1);
    int rc = real(path, argv);
    unsetenv("LD_PRELOAD"); /* the exec failed: the process goes on without re-executing */
    return rc;
}
