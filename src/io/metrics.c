/* metrics.jsonl: appending records, and trimming the file to a checkpoint on resume. */
#define _DEFAULT_SOURCE /* getline under -std=c11 */
#include "evae/io/metrics.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/io/atomic_file.h"
#include "evae/util.h"

int evae_metrics_append(const char *path, cJSON *obj)
{
    char *line = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    FILE *f = fopen(path, "a");
    int rc = 0;
    if (!f || fprintf(f, "%s\n", line) < 0 || fclose(f) != 0) {
        evae_error("%s: cannot append metrics: %s", path, strerror(errno));
        rc = 1;
    }
    free(line);
    return rc;
}

typedef struct kept_lines {
    FILE *in;          /* the metrics as logged so far */
    int max_epoch;     /* lines of later epochs are dropped */
    size_t torn_bytes; /* length of a last line that was cut short, dropped; 0 if none */
} kept_lines;

/* The line (len bytes, with its newline if any) as a JSON object, or NULL: a line cut short, or
 * holding anything else. */
static cJSON *parse_line(const char *line, size_t len)
{
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    bool rest_blank = end && strspn(end, " \t\r\n") == len - (size_t)(end - line);
    if (cJSON_IsObject(o) && rest_blank) return o;
    cJSON_Delete(o);
    return NULL;
}

static int copy_kept_lines(FILE *out, void *ctx)
{
    kept_lines *k = ctx;
    char *line = NULL, *next = NULL;
    size_t cap = 0, next_cap = 0;
    ssize_t len = getline(&line, &cap, k->in);
    while (len > 0) {
        ssize_t next_len = getline(&next, &next_cap, k->in); /* to know the last line */
        cJSON *o = parse_line(line, (size_t)len);
        cJSON *e = o ? cJSON_GetObjectItemCaseSensitive(o, "epoch") : NULL;
        if (!o && next_len <= 0) {
            /* the last record, cut short while it was appended: it would glue onto the next */
            k->torn_bytes = (size_t)len;
        } else if (!e || !cJSON_IsNumber(e) || e->valuedouble <= k->max_epoch) {
            fwrite(line, 1, (size_t)len, out);
            if (line[len - 1] != '\n') fputc('\n', out); /* a whole record, its newline lost */
        }
        cJSON_Delete(o);
        char *swap = line;
        line = next;
        next = swap;
        size_t swap_cap = cap;
        cap = next_cap;
        next_cap = swap_cap;
        len = next_len;
    }
    free(line);
    free(next);
    return ferror(k->in) != 0; /* a read error must not cut the file short */
}

int evae_metrics_truncate(const char *path, int max_epoch)
{
    FILE *in = fopen(path, "r");
    if (!in) return 0; /* nothing logged yet */
    kept_lines k = {in, max_epoch, 0};
    int rc = evae_atomic_write(path, copy_kept_lines, &k);
    fclose(in);
    if (!rc && k.torn_bytes)
        evae_warn("%s: dropped its last line, which was cut short (%zu bytes that are not a "
                  "whole JSON record: the run stopped while it was being appended)", path,
                  k.torn_bytes);
    return rc;
}
