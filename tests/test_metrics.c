/* metrics.jsonl on resume (evae_metrics_truncate): the lines of epochs after the checkpoint go;
 * a last line cut short by a crash or power loss while it was appended goes too, with a warning,
 * so that the next record starts a line of its own; a last line that is whole but lacks its
 * newline gets one. Afterwards every line is one JSON object. */
#include "run_helpers.h"

#include "capture_stderr.h"
#include "check.h"
#include "evae/io/metrics.h"

static char dir[64], path[128];

static void put(const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0) exit(1);
}

static const char *content(void)
{
    static char buf[4096];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Truncates to max_epoch, then appends {"epoch": max_epoch + 1}; returns the warning text. */
static const char *resume_and_append(int max_epoch)
{
    capture_begin();
    int rc = evae_metrics_truncate(path, max_epoch);
    const char *msg = capture_end();
    CHECK(rc == 0, "truncate failed");
    static char kept[sizeof captured];
    snprintf(kept, sizeof kept, "%s", msg);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "epoch", max_epoch + 1);
    CHECK(evae_metrics_append(path, o) == 0, "append failed");
    return kept;
}

/* Every line of the file is a JSON object; returns the number of lines. */
static int whole_lines(void)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    ssize_t len;
    while (f && (len = getline(&line, &cap, f)) > 0) {
        cJSON *o = cJSON_Parse(line);
        CHECK(cJSON_IsObject(o) && strlen(line) == (size_t)len && line[len - 1] == '\n',
              "line %d is not one JSON object with its newline: %s", n + 1, line);
        cJSON_Delete(o);
        n++;
    }
    free(line);
    if (f) fclose(f);
    return n;
}

int main(void)
{
    temp_dir(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);

    /* lines of later epochs go, the others stay as they were */
    put("{\"epoch\":1,\"step\":5}\n{\"epoch\":1,\"epoch_time_s\":1}\n{\"epoch\":2,\"step\":9}\n");
    const char *msg = resume_and_append(1);
    CHECK(strcmp(content(), "{\"epoch\":1,\"step\":5}\n{\"epoch\":1,\"epoch_time_s\":1}\n"
                            "{\"epoch\":2}\n") == 0, "kept lines: %s", content());
    CHECK(msg[0] == '\0', "no warning for a whole file: %s", msg);

    /* a torn last line (the append was cut off) is dropped, and the drop is reported */
    put("{\"epoch\":1,\"step\":5}\n{\"epoch\":1,\"epoch_time_s\":1}\n{\"epoch\":2,\"ste");
    msg = resume_and_append(1);
    CHECK(whole_lines() == 3, "after a torn last line: %s", content());
    CHECK(strstr(msg, path) && strstr(msg, "cut short") && strstr(msg, "15 bytes"),
          "the warning names the file, says the line was cut short and its length: %s", msg);

    /* the same when the torn line belongs to an epoch the checkpoint holds */
    put("{\"epoch\":1,\"step\":5}\n{\"epoch\":1,\"epo");
    resume_and_append(1);
    CHECK(whole_lines() == 2, "torn line of a kept epoch: %s", content());

    /* what a power loss may leave: zero bytes at the end */
    put("{\"epoch\":1,\"step\":5}\n");
    FILE *f = fopen(path, "ab");
    fwrite("\0\0\0\0", 1, 4, f);
    fclose(f);
    resume_and_append(1);
    CHECK(whole_lines() == 2, "zero bytes at the end: %s", content());

    /* a whole last record without its newline is kept and gets one */
    put("{\"epoch\":1,\"step\":5}\n{\"epoch\":1,\"epoch_time_s\":1}");
    msg = resume_and_append(1);
    CHECK(whole_lines() == 3 && strstr(content(), "\"epoch_time_s\":1}\n{\"epoch\":2}\n"),
          "a whole last line without a newline: %s", content());
    return check_report("test_metrics");
}
