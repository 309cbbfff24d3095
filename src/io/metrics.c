#include "evae/io/metrics.h"

#define _DEFAULT_SOURCE /* POSIX.1-2008 and M_PI under -std=c11 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int evae_metrics_truncate(const char *path, int max_epoch)
{
    FILE *in = fopen(path, "r");
    if (!in) return 0; /* nothing logged yet */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        evae_error("%s: cannot rewrite metrics: %s", tmp, strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, in) > 0) {
        cJSON *o = cJSON_Parse(line);
        cJSON *e = o ? cJSON_GetObjectItemCaseSensitive(o, "epoch") : NULL;
        if (!e || !cJSON_IsNumber(e) || e->valuedouble <= max_epoch) fputs(line, out);
        cJSON_Delete(o);
    }
    free(line);
    fclose(in);
    if (fclose(out) != 0 || rename(tmp, path) != 0) {
        evae_error("%s: cannot rewrite metrics: %s", path, strerror(errno));
        return 1;
    }
    return 0;
}
