/* Write-to-temporary, fsync, rename, fsync the folder (evae/io/atomic_file.h). */
#define _POSIX_C_SOURCE 200809L

#include "evae/io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evae/util.h"

/* fsync the folder holding `path`, so that the rename itself is durable. 0 or an errno value. */
static int sync_folder(const char *path)
{
    char *dir = strdup(path);
    if (!dir) return ENOMEM;
    char *slash = strrchr(dir, '/');
    const char *name = ".";
    if (slash == dir)
        name = "/";
    else if (slash) {
        *slash = '\0';
        name = dir;
    }
    int err = 0;
    int fd = open(name, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        err = errno;
    else {
        /* some file systems cannot sync folders; the data are already on disk then */
        if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) err = errno;
        close(fd);
    }
    free(dir);
    return err;
}

int evae_atomic_write(const char *path, evae_file_writer writer, void *ctx)
{
    size_t len = strlen(path);
    char *tmp = evae_xcalloc(len + 5, 1);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);

    const char *step = "creating";
    int err = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        err = errno;
        goto fail;
    }
    step = "writing";
    errno = 0;
    int bad = writer(f, ctx) != 0;
    err = errno;
    if (fflush(f) != 0 || ferror(f)) {
        bad = 1;
        err = errno ? errno : err;
    }
    if (!bad) {
        step = "syncing";
        if (fsync(fileno(f)) != 0) {
            bad = 1;
            err = errno;
        }
    }
    if (fclose(f) != 0 && !bad) {
        step = "closing";
        bad = 1;
        err = errno;
    }
    if (bad) goto fail;
    step = "renaming";
    if (rename(tmp, path) != 0) {
        err = errno;
        goto fail;
    }
    free(tmp);
    err = sync_folder(path);
    if (err) {
        evae_error("wrote '%s' but could not sync its folder: %s", path, strerror(err));
        return 1;
    }
    return 0;

fail:
    remove(tmp);
    evae_error("cannot write '%s': %s '%s' failed: %s", path, step, tmp,
               strerror(err ? err : EIO));
    free(tmp);
    return 1;
}

static int put_text(FILE *f, void *text) { return fputs(text, f) < 0; }

int evae_atomic_write_text(const char *path, const char *text)
{
    return evae_atomic_write(path, put_text, (void *)text);
}

static int put_json(FILE *f, void *root)
{
    char *text = cJSON_Print(root);
    int bad = !text || fprintf(f, "%s\n", text) < 0;
    cJSON_free(text);
    return bad;
}

int evae_atomic_write_json(const char *path, const cJSON *root)
{
    return evae_atomic_write(path, put_json, (void *)root);
}
