/* One step of Algorithm 1 on a batch already gathered into w->p: model input (binarization or
 * dequantization), one Adam step of the encoder and decoder on the ALB, then one Adam step of
 * the GRBM prior by its objective (evae/model/prior_fit.h: sliced score matching by default) on
 * the same z, detached. Shared by the trainer, the epoch benchmark and the tests that compare
 * backends and rank counts.
 *
 * Data parallelism: each rank holds its share s of the global batch in w (evae/dist/share.h),
 * draws the noise those examples get in the whole batch, and computes its part of the
 * gradients of the batch means; comm sums the parts, and every rank takes the same Adam steps on
 * the same sums. With one rank (s the whole batch, comm none) this is the plain step. Only
 * sliced score matching splits a batch across ranks (the other objectives need the whole batch:
 * evae_prior_fit_grad). */
#ifndef EVAE_TRAIN_STEP_H
#define EVAE_TRAIN_STEP_H

#include "evae/dist/comm.h"
#include "evae/io/config.h"
#include "evae/model/objective.h"
#include "evae/model/prior_fit.h"

/* global_step names the step's random draws (with cfg->train.seed). fit: the prior's objective
 * (NULL for prior=gaussian, whose prior is fixed). Returns the Laplace decoder's calibrated
 * scale of the global batch (the model's scale for the Bernoulli decoder). Afterwards w->alb,
 * w->ll and w->J (the objective's loss) hold the share's per-example terms. */
float evae_train_step(evae_model *m, evae_workspace *w, evae_prior_fit *fit, evae_share s,
                      const evae_config *cfg, uint64_t global_step, const evae_comm *comm);

/* The step in its parts, for evae_train_step and for tests that add the shares up themselves:
 * 1. evae_step_forward: input, encoder, decoder; returns the share's L1 error (Laplace decoder;
 *    0 otherwise), whose sum over the batch evae_step_scale turns into the calibrated scale;
 * 2. evae_step_gradients: the rest of the forward with that scale, and the share's parts of the
 *    gradients in m->grads and (GRBM prior, fit) m->theta_grad; zero for an empty share;
 * 3. evae_step_update: sums the parts over the ranks, then the Adam steps. */
double evae_step_forward(const evae_model *m, evae_workspace *w, evae_share s,
                         const evae_config *cfg, uint64_t global_step);
float evae_step_scale(const evae_model *m, double batch_l1, int total);
void evae_step_gradients(const evae_model *m, evae_workspace *w, evae_prior_fit *fit,
                         evae_share s, const evae_config *cfg, uint64_t global_step, float scale);
void evae_step_update(evae_model *m, evae_prior_fit *fit, const evae_config *cfg,
                      const evae_comm *comm);

#endif
