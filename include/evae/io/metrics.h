/* metrics.jsonl: one JSON object per line, appended and flushed as training goes. */
#ifndef EVAE_METRICS_H
#define EVAE_METRICS_H

#include <cjson/cJSON.h>

/* Appends obj as one line to PATH (takes ownership of obj). */
int evae_metrics_append(const char *path, cJSON *obj);

/* Keeps only the lines whose "epoch" is <= max_epoch (resume after an interruption: lines of
 * epochs that were not checkpointed are dropped, since they will be run again). A last line that
 * is not a whole JSON object (cut short while it was appended) is dropped with a warning; a whole
 * last record that lost its newline gets one. The file is replaced atomically
 * (evae_atomic_write). */
int evae_metrics_truncate(const char *path, int max_epoch);

#endif
