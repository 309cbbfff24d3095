/* Training (Algorithm 1): `evae train`. */
#ifndef EVAE_TRAIN_H
#define EVAE_TRAIN_H

#include "evae/dist/comm.h"
#include "evae/io/config.h"

/* Trains per cfg into its run folder. resume_dir: continue the run in that folder from its
 * checkpoint (NULL for a fresh run). argc/argv go into the manifest. comm: the run's ranks
 * (evae_comm_init), each computing its share of every batch; rank 0 writes the run folder.
 * Returns 0, 1 on bad input or I/O errors, 3 when the loss became NaN/Inf (the last checkpoint
 * is kept untouched). */
int evae_train(evae_config *cfg, const char *resume_dir, int argc, char **argv,
               evae_comm *comm);

#endif
