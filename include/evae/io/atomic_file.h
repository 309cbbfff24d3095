/* Replacing a file whole or not at all: every file evae rewrites (checkpoint, config.ini,
 * manifest.json, PNG grids, metrics.jsonl on resume, eval.json, eval.md) goes through here, so a
 * crash or a full disk never leaves a half-written file where a good one was. */
#ifndef EVAE_ATOMIC_FILE_H
#define EVAE_ATOMIC_FILE_H

#include <cjson/cJSON.h>
#include <stdio.h>

/* Writes the file's content to f; returns non-zero on failure (errno may say why). Write errors
 * of f itself need no check here: they are caught when f is flushed. */
typedef int (*evae_file_writer)(FILE *f, void *ctx);

/* Writes PATH.tmp (next to PATH) with writer(f, ctx), flushes and fsyncs it, renames it over PATH
 * and fsyncs the folder. On any failure before the rename: removes PATH.tmp, leaves an existing
 * PATH untouched, prints one line naming PATH, the failed step and the errno text, and returns
 * non-zero. A failed folder sync after the rename (PATH then holds the new content) is reported
 * and returns non-zero too. */
int evae_atomic_write(const char *path, evae_file_writer writer, void *ctx);

/* The same with text as the whole content. */
int evae_atomic_write_text(const char *path, const char *text);

/* The same with the JSON document root, indented, and a final newline. */
int evae_atomic_write_json(const char *path, const cJSON *root);

#endif
