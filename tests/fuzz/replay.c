/* Replays every file kept under tests/fuzz/regression/NAME/ through fuzz target NAME: the seed
 * corpus (real files cut down from data/ and from checkpoints a run writes) and every reproducer
 * a fuzzer found. A crash, a sanitizer report (in the sanitizer build, scripts/sanitize.sh) or a
 * broken invariant fails the test, and each file named valid-* must be accepted by its parser.
 * Usage: fuzz_replay [REGRESSION_DIR] (default: the source tree's). */
#define _DEFAULT_SOURCE /* DT_REG */
#include "fuzz_input.h"

#include <dirent.h>
#include <string.h>

#include "check.h"

static const struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} targets[] = {
    {"idx", fuzz_idx}, {"cifar", fuzz_cifar}, {"config", fuzz_config},
    {"checkpoint", fuzz_checkpoint},
};

static uint8_t *read_whole(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    *size = b && n >= 0 ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    return b;
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : EVAE_SOURCE_DIR "/tests/fuzz/regression";
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, targets[t].name);
        DIR *d = opendir(dir);
        CHECK(d != NULL, "%s: cannot open the regression folder", dir);
        if (!d) continue;
        int files = 0, valid = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            size_t size = 0;
            uint8_t *bytes = read_whole(path, &size);
            CHECK(bytes != NULL, "%s: unreadable", path);
            if (!bytes) continue;
            int accepted = targets[t].fn(bytes, size) == 0;
            free(bytes);
            files++;
            if (strncmp(e->d_name, "valid-", 6) == 0) {
                CHECK(accepted, "%s: a valid file was refused by its parser", path);
                valid++;
            }
        }
        closedir(d);
        printf("fuzz_replay: %s: %d files replayed, %d of them valid\n", targets[t].name, files,
               valid);
        CHECK(valid > 0, "%s: no valid seed file (valid-*)", dir);
    }
    return check_report("fuzz_replay");
}
