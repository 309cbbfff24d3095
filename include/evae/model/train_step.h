/* One step of Algorithm 1 on a batch already gathered into w->p: model input (binarization or
 * dequantization), one Adam step of the encoder and decoder on the ALB, then one Adam step of
 * the GRBM prior by its objective (evae/model/prior_fit.h: sliced score matching by default) on
 * the same z, detached. Shared by the trainer, the epoch benchmark and the test that compares
 * backends. */
#ifndef EVAE_TRAIN_STEP_H
#define EVAE_TRAIN_STEP_H

#include "evae/io/config.h"
#include "evae/model/objective.h"
#include "evae/model/prior_fit.h"

/* global_step names the step's random draws (with cfg->train.seed). fit: the prior's objective
 * (NULL for prior=gaussian, whose prior is fixed). Returns the Laplace decoder's calibrated
 * scale of this batch (the model's scale for the Bernoulli decoder). Afterwards w->alb, w->ll
 * and w->J (the objective's loss) hold the batch's per-example terms. */
float evae_train_step(evae_model *m, evae_workspace *w, evae_prior_fit *fit, int B,
                      const evae_config *cfg, uint64_t global_step);

#endif
