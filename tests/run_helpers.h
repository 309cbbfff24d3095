/* Shared by the tests that train: a temporary folder, a small config, reading metrics. */
#ifndef EVAE_TESTS_RUN_HELPERS_H
#define EVAE_TESTS_RUN_HELPERS_H

#define _DEFAULT_SOURCE /* mkdtemp, getline under -std=c11 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/io/config.h"

/* A fresh folder under /tmp; the name is written into buf. */
static inline const char *temp_dir(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "/tmp/evae-%s-XXXXXX", tag);
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(1);
    }
    return buf;
}

/* Loads an experiment file and applies overrides (NULL-terminated); exits on a config error,
 * which is a broken test, not a finding. */
static inline void test_config(evae_config *cfg, const char *ini, const char *const *overrides)
{
    evae_config_defaults(cfg);
    if (evae_config_load(cfg, ini)) exit(1);
    for (int i = 0; overrides && overrides[i]; i++)
        if (evae_config_set(cfg, overrides[i])) exit(1);
}

/* The number `key` of the metrics.jsonl line of epoch `epoch` (an epoch summary: it has
 * "epoch_time_s"), NAN when absent. */
static inline double metric_at(const char *run_dir, int epoch, const char *key)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    FILE *f = fopen(path, "r");
    double v = NAN;
    if (!f) return v;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *o = cJSON_Parse(line);
        cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "epoch");
        cJSON *k = cJSON_GetObjectItemCaseSensitive(o, key);
        if (cJSON_GetObjectItemCaseSensitive(o, "epoch_time_s") && cJSON_IsNumber(e) &&
            (int)e->valuedouble == epoch && cJSON_IsNumber(k))
            v = k->valuedouble;
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    return v;
}

static inline int file_exists(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

#endif
