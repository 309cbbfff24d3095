#include "evae/io/metrics.h"

#define _DEFAULT_SOURCE /* POSIX.1-2008 and M_PI under -std=c11 */
#include <errno.h>
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
    FILE *in;      /* the metrics as logged so far */
    int max_epoch; /* lines of later epochs are dropped */
} kept_lines;

static int copy_kept_lines(FILE *out, void *ctx)
{
    kept_lines *k = ctx;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, k->in) > 0) {
        cJSON *o = cJSON_Parse(line);
        cJSON *e = o ? cJSON_GetObjectItemCaseSensitive(o, "epoch") : NULL;
        if (!e || !cJSON_IsNumber(e) || e->valuedouble <= k->max_epoch) fputs(line, out);
        cJSON_Delete(o);
    }
    free(line);
    return ferror(k->in) != 0; /* a read error must not cut the file short */
}

int evae_metrics_truncate(const char *path, int max_epoch)
{
    FILE *in = fopen(path, "r");
    if (!in) return 0; /* nothing logged yet */
    kept_lines k = {in, max_epoch};
    int rc = evae_atomic_write(path, copy_kept_lines, &k);
    fclose(in);
    return rc;
}
