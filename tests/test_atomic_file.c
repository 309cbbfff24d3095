/* evae_atomic_write: a file is replaced whole or not at all. Each way a write can fail (the
 * writer gives up midway, the disk refuses more bytes, the temporary file cannot be created, the
 * rename fails, the folder is missing or read-only) must leave the earlier file byte for byte,
 * no temporary file, a non-zero result and one message naming the path and the errno text. */
#define _DEFAULT_SOURCE /* mkdtemp */

#include "capture_stderr.h"
#include "check.h"
#include "evae/io/atomic_file.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The whole file as a string (static buffer); "" when it cannot be read. */
static const char *content(const char *path)
{
    static char buf[1 << 16];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Exactly one line of text. */
static int one_line(const char *msg)
{
    const char *nl = strchr(msg, '\n');
    return nl && nl[1] == '\0' && nl > msg;
}

/* Writes part of the content, then fails (as a producer whose input breaks off would). */
static int fail_midway(FILE *f, void *text)
{
    fputs(text, f);
    return 1;
}

/* 64 KiB of 'x': more than the file-size limit set below. */
static int write_big(FILE *f, void *unused)
{
    static char block[1 << 16];
    memset(block, 'x', sizeof block);
    return fwrite(block, 1, sizeof block, f) != sizeof block;
}

/* Replace `path` (holding "old\n") by `writer` and check that the failure leaves it as it was. */
static void expect_failure(const char *path, evae_file_writer writer, void *ctx,
                           const char *errno_text, const char *what)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    capture_begin();
    int rc = evae_atomic_write(path, writer, ctx);
    const char *msg = capture_end();
    CHECK(rc != 0, "%s: reports failure", what);
    CHECK(strcmp(content(path), "old\n") == 0, "%s: the earlier file is intact: '%s'", what,
          content(path));
    CHECK(!exists(tmp), "%s: no temporary file left behind", what);
    CHECK(strstr(msg, path) && strstr(msg, errno_text) && one_line(msg),
          "%s: one line naming the path and '%s': %s", what, errno_text, msg);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/evae_test_atomic_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[128], tmp[160];
    snprintf(path, sizeof path, "%s/file.txt", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);

    /* a new file, then a replacement: the content is exactly what was written */
    CHECK(evae_atomic_write_text(path, "first\n") == 0, "create");
    CHECK(strcmp(content(path), "first\n") == 0, "created content '%s'", content(path));
    CHECK(evae_atomic_write_text(path, "old\n") == 0, "replace");
    CHECK(strcmp(content(path), "old\n") == 0, "replaced content '%s'", content(path));
    CHECK(!exists(tmp), "no temporary file after success");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "k", 5);
    char json_path[160];
    snprintf(json_path, sizeof json_path, "%s/doc.json", dir);
    CHECK(evae_atomic_write_json(json_path, j) == 0 &&
              strcmp(content(json_path), "{\n\t\"k\":\t5\n}\n") == 0,
          "JSON document and a newline: '%s'", content(json_path));
    cJSON_Delete(j);

    /* the writer fails after writing part of the new content */
    expect_failure(path, fail_midway, "new content, cut ", "Input/output error",
                   "writer fails midway");

    /* the disk refuses bytes: a file-size limit makes the write itself fail with EFBIG (this
     * works for root too, unlike permission bits) */
    struct rlimit saved, small;
    getrlimit(RLIMIT_FSIZE, &saved);
    small = saved;
    small.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &small) == 0) {
        expect_failure(path, write_big, NULL, "File too large", "write beyond the size limit");
        setrlimit(RLIMIT_FSIZE, &saved);
    } else {
        CHECK(0, "cannot lower RLIMIT_FSIZE");
    }

    /* the temporary file cannot be created (its name is taken by a folder) */
    mkdir(tmp, 0755);
    capture_begin();
    int rc = evae_atomic_write_text(path, "new\n");
    const char *msg = capture_end();
    CHECK(rc != 0 && strcmp(content(path), "old\n") == 0, "creation fails, earlier file intact");
    CHECK(strstr(msg, path) && strstr(msg, "creating") && strstr(msg, "Is a directory"),
          "message names the path, the step and the errno text: %s", msg);
    rmdir(tmp);

    /* the rename fails (the target is a folder): the temporary file goes, the folder stays */
    char folder[128], folder_tmp[160];
    snprintf(folder, sizeof folder, "%s/a_folder", dir);
    snprintf(folder_tmp, sizeof folder_tmp, "%s.tmp", folder);
    mkdir(folder, 0755);
    capture_begin();
    rc = evae_atomic_write_text(folder, "new\n");
    msg = capture_end();
    struct stat st;
    CHECK(rc != 0 && stat(folder, &st) == 0 && S_ISDIR(st.st_mode), "rename over a folder fails");
    CHECK(!exists(folder_tmp), "temporary file removed after the failed rename");
    CHECK(strstr(msg, folder) && strstr(msg, "renaming") && strstr(msg, "Is a directory"),
          "rename message: %s", msg);
    rmdir(folder);

    /* folders that cannot take the file */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no_such_folder/x.txt", dir);
    capture_begin();
    rc = evae_atomic_write_text(missing, "new\n");
    msg = capture_end();
    CHECK(rc != 0 && strstr(msg, missing) && strstr(msg, "No such file or directory"),
          "missing folder: %s", msg);
    if (geteuid() != 0) { /* root writes through permission bits; the checks above still ran */
        char ro[128], ro_file[160];
        snprintf(ro, sizeof ro, "%s/read_only", dir);
        mkdir(ro, 0555);
        snprintf(ro_file, sizeof ro_file, "%s/x.txt", ro);
        capture_begin();
        rc = evae_atomic_write_text(ro_file, "new\n");
        msg = capture_end();
        CHECK(rc != 0 && strstr(msg, "Permission denied") && !exists(ro_file),
              "read-only folder: %s", msg);
        rmdir(ro);
    }

    remove(path);
    remove(json_path);
    rmdir(dir);
    return check_report("test_atomic_file");
}
