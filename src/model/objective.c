/* The ALB objective and the prior's score matching step over backend ops (evae/model/objective.h). */
#include "evae/model/objective.h"

#include <math.h>
#include <string.h>

#include "evae/model/laplace.h"

static float *balloc(const evae_model *m, size_t floats)
{
    return m->be->alloc(m->be, floats * sizeof(float));
}

void evae_workspace_create(evae_workspace *w, const evae_model *m, int cap, int projections)
{
    memset(w, 0, sizeof *w);
    w->cap = cap;
    w->projections = projections;
    size_t B = (size_t)cap, d = (size_t)m->d, D = (size_t)m->x_dim;
    w->p = balloc(m, B * D);
    w->u = balloc(m, B * D);
    w->enc_act[0] = balloc(m, B * D);
    for (int l = 0; l < m->enc.n_layers; l++)
        w->enc_act[l + 1] = balloc(m, B * (size_t)m->enc.layers[l].out_dim);
    w->dec_act[0] = balloc(m, B * d);
    for (int l = 0; l < m->dec.n_layers; l++)
        w->dec_act[l + 1] = balloc(m, B * (size_t)m->dec.layers[l].out_dim);
    w->eps = balloc(m, B * d);
    w->dout = balloc(m, B * D);
    w->ll = balloc(m, B);
    w->E = balloc(m, B);
    w->ent = balloc(m, B);
    w->alb = balloc(m, B);
    w->J = balloc(m, B);
    w->dEdz = balloc(m, B * d);
    w->dz = balloc(m, B * d);
    w->denc = balloc(m, B * 2 * d);
    int maxw = evae_net_max_dim(&m->enc);
    if (evae_net_max_dim(&m->dec) > maxw) maxw = evae_net_max_dim(&m->dec);
    w->scratch[0] = balloc(m, B * (size_t)maxw);
    w->scratch[1] = balloc(m, B * (size_t)maxw);
    w->v = balloc(m, B * (size_t)projections * d);
}

void evae_workspace_free(evae_workspace *w, const evae_model *m)
{
    float *bufs[] = {w->p, w->u, w->dec_act[0], w->eps, w->dout, w->ll, w->E, w->ent, w->alb,
                     w->J, w->dEdz, w->dz, w->denc, w->scratch[0], w->scratch[1], w->v};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i]) m->be->free(m->be, bufs[i]);
    for (int l = 0; l <= m->enc.n_layers; l++)
        if (w->enc_act[l]) m->be->free(m->be, w->enc_act[l]);
    for (int l = 1; l <= m->dec.n_layers; l++)
        if (w->dec_act[l]) m->be->free(m->be, w->dec_act[l]);
    memset(w, 0, sizeof *w);
}

void evae_alb_encode_decode(const evae_model *m, evae_workspace *w, evae_share s, uint64_t seed,
                            uint64_t eps_stream)
{
    const evae_backend *be = m->be;
    int B = s.count, d = m->d;
    evae_net_forward(be, &m->enc, m->params, w->enc_act, B);
    const float *enc_out = w->enc_act[m->enc.n_layers]; /* [B, 2d] = [mean | logvar] */
    be->rand_normal(be, w->eps, (size_t)B * d, seed, eps_stream, (uint64_t)s.offset * d);
    be->reparam(be, evae_ws_z(w), enc_out, w->eps, B, d);
    evae_net_forward(be, &m->dec, m->params, w->dec_act, B);
}

double evae_alb_l1(const evae_model *m, evae_workspace *w, int count)
{
    const evae_backend *be = m->be;
    int D = m->x_dim;
    const float *out = w->dec_act[m->dec.n_layers]; /* [count, D] */
    /* with scale 1, ll_b = -sum|y - mean| - D ln 2, so the L1 error is recovered */
    be->laplace_ll(be, w->ll, NULL, out, evae_ws_x(w), count, D, 1.0f, 0.0f);
    return -be->sum(be, w->ll, (size_t)count) - (double)count * D * log(2.0);
}

void evae_alb_terms(const evae_model *m, evae_workspace *w, evae_share s, float scale)
{
    const evae_backend *be = m->be;
    int B = s.count, d = m->d, D = m->x_dim;
    const float *enc_out = w->enc_act[m->enc.n_layers]; /* [B, 2d] = [mean | logvar] */
    const float *out = w->dec_act[m->dec.n_layers];     /* [B, D] */
    float inv_b = 1.0f / (float)s.total;
    /* dout = dL/d(out) = -(1/total) d ll / d out */
    if (m->decoder == EVAE_DEC_BERNOULLI)
        be->bernoulli_ll(be, w->ll, w->dout, out, evae_ws_x(w), B, D, -inv_b);
    else
        be->laplace_ll(be, w->ll, w->dout, out, evae_ws_x(w), B, D, scale, -inv_b);
    be->grbm_energy(be, m->theta, d, m->n, 1.0f, evae_ws_z(w), B, w->E, w->dEdz);
    be->gauss_posterior(be, w->ent, NULL, enc_out, w->eps, NULL, B, d, 0.0f);
    /* alb = ll - E + ent */
    be->copy(be, w->alb, w->ll, (size_t)B * sizeof(float));
    be->axpy(be, w->alb, w->E, (size_t)B, -1.0f);
    be->axpy(be, w->alb, w->ent, (size_t)B, 1.0f);
}

void evae_alb_forward(const evae_model *m, evae_workspace *w, int B, uint64_t seed,
                      uint64_t eps_stream, float *calibrated_scale)
{
    evae_share all = evae_share_whole(B);
    evae_alb_encode_decode(m, w, all, seed, eps_stream);
    float scale = m->laplace_scale;
    if (m->decoder == EVAE_DEC_LAPLACE && calibrated_scale) {
        scale = (float)evae_laplace_scale_from_l1(evae_alb_l1(m, w, B), (size_t)B * m->x_dim);
        *calibrated_scale = scale;
    }
    evae_alb_terms(m, w, all, scale);
}

void evae_alb_backward(const evae_model *m, evae_workspace *w, evae_share s)
{
    const evae_backend *be = m->be;
    int B = s.count, d = m->d;
    float inv_b = 1.0f / (float)s.total;
    /* decoder: dL/dz from the likelihood term; dout is consumed as scratch */
    evae_net_backward(be, &m->dec, m->params, w->dec_act, w->dout, m->grads, w->dz, w->scratch, B);
    /* prior term: L contains +(1/B) E(z), and dE/dz flows into the encoder through z */
    be->axpy(be, w->dz, w->dEdz, (size_t)B * d, inv_b);
    /* through z = mean + exp(logvar/2) eps, and the entropy term -(1/B) ent */
    const float *enc_out = w->enc_act[m->enc.n_layers];
    be->gauss_posterior(be, NULL, w->denc, enc_out, w->eps, w->dz, B, d, -inv_b);
    evae_net_backward(be, &m->enc, m->params, w->enc_act, w->denc, m->grads, NULL, w->scratch, B);
}

void evae_ssm_step(const evae_model *m, evae_workspace *w, evae_share s, int rademacher,
                   int variance_reduced, uint64_t seed, uint64_t stream)
{
    const evae_backend *be = m->be;
    int B = s.count;
    size_t per = (size_t)w->projections * m->d; /* draws per example */
    if (rademacher)
        be->rand_rademacher(be, w->v, (size_t)B * per, seed, stream, (uint64_t)s.offset * per);
    else
        be->rand_normal(be, w->v, (size_t)B * per, seed, stream, (uint64_t)s.offset * per);
    be->grbm_ssm(be, m->theta, m->d, m->n, evae_ws_z(w), B, w->v, w->projections, variance_reduced,
                 w->J, m->theta_grad);
    /* the op's mean is over the share: weigh it by the share's part of the batch */
    if (B != s.total) be->scale(be, m->theta_grad, m->n_theta, (float)B / (float)s.total);
}
