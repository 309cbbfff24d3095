#include "evae/model/train_step.h"

#include "evae/math/philox.h"
#include "evae/model/input.h"
#include "evae/model/laplace.h"

double evae_step_forward(const evae_model *m, evae_workspace *w, evae_share s,
                         const evae_config *cfg, uint64_t global_step)
{
    if (s.count == 0) return 0.0;
    const uint64_t seed = (uint64_t)cfg->train.seed;
    evae_prepare_input(m, w, s, seed, evae_stream(EVAE_STREAM_BINARIZE, global_step));
    evae_alb_encode_decode(m, w, s, seed, evae_stream(EVAE_STREAM_REPARAM, global_step));
    return m->decoder == EVAE_DEC_LAPLACE ? evae_alb_l1(m, w, s.count) : 0.0;
}

float evae_step_scale(const evae_model *m, double batch_l1, int total)
{
    if (m->decoder != EVAE_DEC_LAPLACE) return m->laplace_scale;
    return (float)evae_laplace_scale_from_l1(batch_l1, (size_t)total * m->x_dim);
}

void evae_step_gradients(const evae_model *m, evae_workspace *w, evae_prior_fit *fit,
                         evae_share s, const evae_config *cfg, uint64_t global_step, float scale)
{
    const evae_backend *be = m->be;
    if (s.count == 0) { /* more ranks than examples: this rank adds nothing to the sums */
        be->zero(be, m->grads, m->n_params * sizeof(float));
        if (m->shape.prior_grbm) be->zero(be, m->theta_grad, m->n_theta * sizeof(float));
        return;
    }
    evae_alb_terms(m, w, s, scale);
    evae_alb_backward(m, w, s);
    if (fit) evae_prior_fit_grad(fit, m, w, s, (uint64_t)cfg->train.seed, global_step);
}

void evae_step_update(evae_model *m, evae_prior_fit *fit, const evae_config *cfg,
                      const evae_comm *comm)
{
    const evae_backend *be = m->be;
    const float b1 = (float)cfg->train.beta1, b2 = (float)cfg->train.beta2;
    const float eps = (float)cfg->train.adam_eps;
    comm->allreduce_sum(comm, m->grads, m->n_params);
    be->adam(be, m->params, m->adam_m, m->adam_v, m->grads, m->n_params, (float)cfg->train.lr, b1,
             b2, eps, ++m->vae_steps);
    if (fit) {
        comm->allreduce_sum(comm, m->theta_grad, m->n_theta);
        if (fit->log_z_grad) comm->allreduce_sum(comm, fit->log_z_grad, 1);
        evae_prior_fit_update(fit, m, cfg);
    }
}

float evae_train_step(evae_model *m, evae_workspace *w, evae_prior_fit *fit, evae_share s,
                      const evae_config *cfg, uint64_t global_step, const evae_comm *comm)
{
    double l1 = evae_step_forward(m, w, s, cfg, global_step);
    if (m->decoder == EVAE_DEC_LAPLACE) comm->allreduce_host(comm, &l1, 1);
    float scale = evae_step_scale(m, l1, s.total);
    evae_step_gradients(m, w, fit, s, cfg, global_step, scale);
    evae_step_update(m, fit, cfg, comm);
    return scale;
}
