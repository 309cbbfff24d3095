/* One step of Algorithm 1 on a batch already gathered into w->p: model input (binarization or
 * dequantization), one Adam step of the encoder and decoder on the ALB, then one Adam step of
 * the GRBM prior by sliced score matching on the same z, detached. Shared by the trainer, the
 * epoch benchmark and the test that compares backends. */
#ifndef EVAE_TRAIN_STEP_H
#define EVAE_TRAIN_STEP_H

#include "evae/io/config.h"
#include "evae/model/objective.h"

/* global_step names the step's random draws (with cfg->train.seed). Returns the Laplace
 * decoder's calibrated scale of this batch (the model's scale for the Bernoulli decoder).
 * Afterwards w->alb, w->ll and w->J hold the batch's per-example terms. */
float evae_train_step(evae_model *m, evae_workspace *w, int B, const evae_config *cfg,
                      uint64_t global_step);

#endif
