/* Shared by the tests that train: a temporary folder, a small config, reading metrics. */
#ifndef EVAE_TESTS_RUN_HELPERS_H
#define EVAE_TESTS_RUN_HELPERS_H

#define _DEFAULT_SOURCE /* mkdtemp, getline under -std=c11 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/cli/train.h"
#include "evae/dist/comm.h"
#include "evae/io/config.h"

/* The communicator of a test that trains in its own process: one rank. */
static inline evae_comm *one_process(void)
{
    static evae_comm *c;
    if (!c) c = evae_comm_none();
    return c;
}

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

/* evae train on the ranks of c into dir for `epochs` epochs: a fresh run of ini with overrides,
 * or (resume) what `evae train --resume DIR train.epochs=N` does. Returns evae_train's status. */
static inline int train_run(evae_comm *c, const char *ini, const char *const *overrides,
                            const char *dir, int epochs, int resume)
{
    evae_config cfg;
    char kv_dir[300], kv_ep[64];
    snprintf(kv_dir, sizeof kv_dir, "run.dir=%s", dir);
    snprintf(kv_ep, sizeof kv_ep, "train.epochs=%d", epochs);
    if (resume) {
        char ini_path[4096];
        snprintf(ini_path, sizeof ini_path, "%s/config.ini", dir);
        const char *o[] = {kv_ep, NULL};
        test_config(&cfg, ini_path, o);
        return evae_train(&cfg, dir, 0, NULL, c);
    }
    test_config(&cfg, ini, overrides);
    if (evae_config_set(&cfg, kv_dir) || evae_config_set(&cfg, kv_ep)) exit(1);
    return evae_train(&cfg, NULL, 0, NULL, c);
}

/* dir/eval.json parsed (NULL when it is missing or not JSON); free with cJSON_Delete */
static inline cJSON *read_eval_json(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/eval.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return cJSON_Parse(buf);
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
