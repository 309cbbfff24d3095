/* A run folder: where training writes its configuration, manifest, metrics, checkpoint and grids
 * (DESIGN.md section 5), and the pieces shared by `train`, `sample` and `eval`. */
#ifndef EVAE_RUN_H
#define EVAE_RUN_H

#include <stdio.h>

#include "evae/config.h"
#include "evae/data.h"
#include "evae/model.h"
#include "evae/objective.h"

#define EVAE_CHECKPOINT_FILE "checkpoint.safetensors"

/* mkdir -p PATH; non-zero with a message when it cannot be created or written. */
int evae_mkdirs(const char *path);

/* Writes manifest.json into dir: program version, git commit of the source, seed, device,
 * library versions, host name, start time, command line. */
int evae_write_manifest(const char *dir, const evae_config *cfg, int argc, char **argv);

/* The model shape a config describes for a data set of the given image shape. */
evae_model_shape evae_shape_from_config(const evae_config *cfg, int channels, int height,
                                        int width);

/* Loads the training and held-out sets named by cfg->data; *heldout_name is "test" or
 * "validation". */
int evae_load_data(const evae_config *cfg, evae_dataset *train, evae_dataset *heldout,
                   const char **heldout_name);

/* Resolves ARG, a run folder or a checkpoint file, to the checkpoint path (malloc'd) and loads
 * its stored configuration into cfg. */
char *evae_resolve_checkpoint(const char *arg, evae_config *cfg);

/* Uploads a data set as floats into backend memory: [n, dim]; MNIST as intensities in [0,1],
 * CIFAR-10 as pixel values 0..255 (the logit transform adds the dequantization noise). */
float *evae_upload_dataset(const evae_backend *be, const evae_dataset *d, int as_unit);

/* Prepares the model input of a batch in w->enc_act[0] from the raw batch in w->p: dynamic
 * binarization (MNIST) or dequantization + logit (CIFAR-10), noise from (seed, stream). */
void evae_prepare_input(const evae_model *m, evae_workspace *w, int B, uint64_t seed,
                        uint64_t stream);

#endif
