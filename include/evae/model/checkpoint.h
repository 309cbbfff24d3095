/* Checkpoints of a run: the model's weights under readable names, both Adam states, the step
 * counters and the random state, in one safetensors file written atomically. The tensor names and
 * metadata keys are listed in the README ("Checkpoint format"). */
#ifndef EVAE_CHECKPOINT_H
#define EVAE_CHECKPOINT_H

#include "evae/model/model.h"
#include "evae/model/prior_fit.h"

typedef struct evae_train_state {
    int epoch;        /* epochs completed */
    long global_step; /* optimizer steps taken; with the seed it is the whole random state */
    long seed;
} evae_train_state;

/* Writes PATH atomically (the previous file stays intact on any failure). config_ini: the run's
 * resolved configuration text, stored as metadata so a checkpoint is self-describing. fit: the
 * prior's objective (NULL for a fixed prior): its name and settings are written as metadata
 * ("objective", "objective_settings") and its persistent state as tensors. */
int evae_checkpoint_save(const char *path, const evae_model *m, const evae_train_state *st,
                         const char *config_ini, const evae_prior_fit *fit);

/* Reads the configuration text stored in a checkpoint (malloc'd), to rebuild the model. */
char *evae_checkpoint_config(const char *path);

/* The image shape the checkpoint's model was built for (metadata "image_shape", CxHxW). */
int evae_checkpoint_image_shape(const char *path, int *channels, int *height, int *width);

/* Loads weights, optimizer states and counters into a model created with the same shape; every
 * tensor must be present with the expected shape, or a message names the first mismatch. With
 * fit (NULL: the objective's state is not read), the checkpoint's objective must be fit's (one
 * without the "objective" metadata is sliced score matching's) and its state is loaded too. */
int evae_checkpoint_load(const char *path, evae_model *m, evae_train_state *st,
                         evae_prior_fit *fit);

#endif
