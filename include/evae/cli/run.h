/* A run folder: where training writes its configuration, manifest, metrics, checkpoint and grids
 * (docs/DESIGN.md section 6), and the pieces shared by `train`, `sample` and `eval`. */
#ifndef EVAE_RUN_H
#define EVAE_RUN_H

#include <stdio.h>

#include "evae/dist/comm.h"
#include "evae/io/config.h"
#include "evae/data/dataset.h"
#include "evae/model/model.h"
#include "evae/model/objective.h"

#define EVAE_CHECKPOINT_FILE "checkpoint.safetensors"

/* The backend of a device setting: auto = CUDA when it is usable, else the CPU; cuda = CUDA or
 * NULL with the reason printed. */
const evae_backend *evae_backend_for(evae_device device);

/* The backend of a device setting for rank comm->rank of a run: on CUDA the GPU of its local rank
 * (one GPU per rank on each host), and comm bound to it (NCCL where it applies). NULL with a
 * message on failure. */
const evae_backend *evae_backend_for_rank(evae_device device, evae_comm *comm);

/* mkdir -p PATH; non-zero with a message when it cannot be created or written. */
int evae_mkdirs(const char *path);

/* Removes from run folder dir the temporary files that writes cut off by a crash leave behind
 * (NAME.tmp, evae_atomic_write) for the files a run folder holds: checkpoint, config.ini,
 * manifest.json, metrics.jsonl, eval.json, eval.md, eval_examples.csv and, in grids/, the PNG
 * grids of every epoch; a warning names each. Other files stay. Non-zero with a message when one
 * cannot be removed. */
int evae_run_remove_temporaries(const char *dir);

/* Writes manifest.json into dir: program version, git commit of the source, seed, device,
 * library versions, host name, start time, command line, and the ranks (world size, the
 * communicator and its libraries). */
int evae_write_manifest(const char *dir, const evae_config *cfg, int argc, char **argv,
                        const evae_comm *comm);

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

#endif
