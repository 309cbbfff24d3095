#include "evae/model/train_step.h"

#include "evae/math/philox.h"
#include "evae/model/input.h"

float evae_train_step(evae_model *m, evae_workspace *w, evae_prior_fit *fit, int B,
                      const evae_config *cfg, uint64_t global_step)
{
    const evae_backend *be = m->be;
    const uint64_t seed = (uint64_t)cfg->train.seed;
    const float b1 = (float)cfg->train.beta1, b2 = (float)cfg->train.beta2;
    const float eps = (float)cfg->train.adam_eps;
    evae_prepare_input(m, w, B, seed, evae_stream(EVAE_STREAM_BINARIZE, global_step));
    float scale = m->laplace_scale;
    evae_alb_forward(m, w, B, seed, evae_stream(EVAE_STREAM_REPARAM, global_step),
                     m->decoder == EVAE_DEC_LAPLACE ? &scale : NULL);
    evae_alb_backward(m, w, B);
    be->adam(be, m->params, m->adam_m, m->adam_v, m->grads, m->n_params, (float)cfg->train.lr, b1,
             b2, eps, ++m->vae_steps);
    if (m->shape.prior_grbm) evae_prior_fit_step(fit, m, w, B, cfg, global_step);
    return scale;
}
