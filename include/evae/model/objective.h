/* The per-batch objectives of Algorithm 1 (paper section 2):
 *  - the encoder/decoder loss L = -(1/B) sum_b ALB(x_b), ALB = ln p(x|z) - E(z) - ln q(z|x) with
 *    one reparameterized z per example and the analytic entropy for -E_q[ln q];
 *  - the prior's sliced score matching loss on the same z, detached.
 * The workspace holds every activation of one batch, in backend memory. In a data-parallel run it
 * holds one rank's share of the batch (evae/dist/share.h): the functions that take a share draw
 * the noise those examples get in the whole batch and normalize by the whole batch's size. */
#ifndef EVAE_OBJECTIVE_H
#define EVAE_OBJECTIVE_H

#include "evae/dist/share.h"
#include "evae/model/model.h"

typedef struct evae_workspace {
    int cap;         /* batch capacity */
    int projections; /* M, SSM projections per example */
    float *p;        /* [cap, x_dim] data batch before noise (intensities in [0,1]) */
    float *u;        /* [cap, x_dim] uniform noise (binarization / dequantization) */
    float *enc_act[EVAE_MAX_LAYERS + 1]; /* [0] = x [cap, x_dim] model input; last [cap, 2d] */
    float *dec_act[EVAE_MAX_LAYERS + 1]; /* [0] = z [cap, d]; last [cap, x_dim] logits/means */
    float *eps;      /* [cap, d] reparameterization noise */
    float *dout;     /* [cap, x_dim] dL/d(decoder output) */
    float *ll;       /* [cap] ln p(x|z) */
    float *E;        /* [cap] prior energy E(z) */
    float *ent;      /* [cap] entropy of q(z|x) */
    float *alb;      /* [cap] ALB per example */
    float *dEdz;     /* [cap, d] */
    float *dz;       /* [cap, d] dL/dz */
    float *denc;     /* [cap, 2d] dL/d(encoder output) */
    float *scratch[2]; /* [cap, max layer width] backward scratch */
    float *v;        /* [cap, M, d] SSM projections */
    float *J;        /* [cap] SSM loss per example */
} evae_workspace;

/* Allocates every buffer for batches of up to cap examples and M = projections; nothing to
 * report: the backend's alloc aborts with a message when memory runs out. */
void evae_workspace_create(evae_workspace *w, const evae_model *m, int cap, int projections);
void evae_workspace_free(evae_workspace *w, const evae_model *m);

static inline float *evae_ws_x(const evae_workspace *w) { return w->enc_act[0]; }
static inline float *evae_ws_z(const evae_workspace *w) { return w->dec_act[0]; }

/* The forward in two parts, because the calibrated Laplace scale is a function of the whole
 * batch's L1 error, which a rank knows only after the ranks have summed their shares':
 * 1. evae_alb_encode_decode: encoder, z = mean + sigma * eps, decoder for the share's s.count
 *    examples in x; eps are draws s.offset * d ... of (seed, eps_stream);
 * 2. evae_alb_terms: ll (with the decoder scale `scale`, Laplace only), dout = dL/d(decoder
 *    output) of L = -(1/s.total) sum alb, prior energy E and dEdz, entropy, alb.
 * evae_alb_l1 between them gives the share's L1 error sum_b sum_j |x - mean| (Laplace). */
void evae_alb_encode_decode(const evae_model *m, evae_workspace *w, evae_share s, uint64_t seed,
                            uint64_t eps_stream);
double evae_alb_l1(const evae_model *m, evae_workspace *w, int count);
void evae_alb_terms(const evae_model *m, evae_workspace *w, evae_share s, float scale);

/* Both parts for a whole batch of B examples in one process: fills enc_act, eps, z, dec_act, ll,
 * E, dEdz, ent and alb. Laplace decoder: with calibrated_scale non-NULL, the scale is computed
 * from this batch's L1 error (the calibrated decoder, treated as a constant) and written there;
 * with NULL the model's frozen m->laplace_scale is used (evaluation). */
void evae_alb_forward(const evae_model *m, evae_workspace *w, int B, uint64_t seed,
                      uint64_t eps_stream, float *calibrated_scale);

/* This share's part of the gradient of L = -(1/s.total) sum alb w.r.t. the encoder and decoder
 * parameters, into m->grads (summed over the shares, the gradient of the batch mean). Needs the
 * buffers of the forward. The prior's parameters get no gradient from here. */
void evae_alb_backward(const evae_model *m, evae_workspace *w, evae_share s);

/* Sliced score matching on z (the forward's samples, treated as data): J[s.count] and
 * m->theta_grad = this share's part of d mean_b(J_b) / d theta over the s.total examples of the
 * batch. Projections: draws s.offset * M * d ... of (seed, stream). */
void evae_ssm_step(const evae_model *m, evae_workspace *w, evae_share s, int rademacher,
                   int variance_reduced, uint64_t seed, uint64_t stream);

#endif
