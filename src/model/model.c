/* Architectures of docs/DESIGN.md section 2 and the parameter buffers of the energy-prior VAE. */
#define _DEFAULT_SOURCE /* POSIX.1-2008 and M_PI under -std=c11 */
#include "evae/model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/math/grbm.h"
#include "evae/model/grbm_init.h"
#include "evae/util.h"

static void build_mlp(evae_model *m, size_t *off)
{
    int h = m->shape.hidden;
    evae_net_begin(&m->enc, off); /* 784-512-512-2d, ReLU between */
    evae_net_linear(&m->enc, off, m->x_dim, h, 1);
    evae_net_linear(&m->enc, off, h, h, 1);
    evae_net_linear(&m->enc, off, h, 2 * m->d, 0);
    evae_net_begin(&m->dec, off); /* d-512-512-784 logits */
    evae_net_linear(&m->dec, off, m->d, h, 1);
    evae_net_linear(&m->dec, off, h, h, 1);
    evae_net_linear(&m->dec, off, h, m->x_dim, 0);
}

static void build_conv(evae_model *m, size_t *off)
{
    /* encoder: four 4x4 stride-2 pad-1 convolutions 3-32-64-128-256 (ReLU), linear to 2d.
     * decoder: z as 128 x s x s, four 4x4 stride-2 pad-1 transposed convolutions 128-128-64-32-3,
     * ReLU after all but the last; s = H/16 (2 for 32x32 images, so d = 512) */
    int c = m->shape.channels, hw = m->shape.height;
    evae_net_begin(&m->enc, off);
    const int ch[5] = {c, 32, 64, 128, 256};
    for (int i = 0; i < 4; i++) evae_net_conv(&m->enc, off, ch[i], hw >> i, hw >> i, ch[i + 1], 4, 2, 1, 1);
    evae_net_linear(&m->enc, off, 256 * (hw >> 4) * (hw >> 4), 2 * m->d, 0);
    evae_net_begin(&m->dec, off);
    const int dch[5] = {128, 128, 64, 32, c};
    int s = hw >> 4;
    for (int i = 0; i < 4; i++)
        evae_net_deconv(&m->dec, off, dch[i], s << i, s << i, dch[i + 1], 4, 2, 1, i < 3);
}

int evae_model_create(evae_model *m, const evae_backend *be, const evae_model_shape *shape)
{
    memset(m, 0, sizeof *m);
    m->be = be;
    m->shape = *shape;
    m->x_dim = shape->channels * shape->height * shape->width;
    m->d = shape->latent;
    m->n = shape->prior_grbm ? shape->grbm_hidden : 1;
    size_t off = 0;
    if (shape->arch == EVAE_ARCH_MLP) {
        m->decoder = EVAE_DEC_BERNOULLI;
        build_mlp(m, &off);
    } else {
        if (shape->height != shape->width || shape->height % 16 != 0) {
            evae_error("the convolutional model needs square images with a side divisible by 16, "
                       "got %dx%d", shape->height, shape->width);
            return 1;
        }
        int s = shape->height / 16;
        if (m->d != 128 * s * s) {
            evae_error("the convolutional decoder reshapes z to 128x%dx%d, so model.latent must "
                       "be %d (got %d)", s, s, 128 * s * s, m->d);
            return 1;
        }
        m->decoder = EVAE_DEC_LAPLACE;
        build_conv(m, &off);
    }
    m->n_params = off;
    m->n_theta = evae_grbm_size(m->d, m->n);
    size_t pb = m->n_params * sizeof(float), tb = m->n_theta * sizeof(float);
    m->params = be->alloc(be, pb);
    m->grads = be->alloc(be, pb);
    m->adam_m = be->alloc(be, pb);
    m->adam_v = be->alloc(be, pb);
    m->theta = be->alloc(be, tb);
    m->theta_grad = be->alloc(be, tb);
    m->theta_m = be->alloc(be, tb);
    m->theta_v = be->alloc(be, tb);
    m->laplace_scale = 1.0f;
    return 0;
}

void evae_model_init(evae_model *m, uint64_t seed)
{
    float *p = evae_xcalloc(m->n_params, sizeof(float));
    evae_net_init(&m->enc, p, seed, 1);
    evae_net_init(&m->dec, p, seed, 2);
    m->be->upload(m->be, m->params, p, m->n_params * sizeof(float));
    free(p);
    float *t = evae_xcalloc(m->n_theta, sizeof(float)); /* zeros: the N(0, I) prior */
    if (m->shape.prior_grbm) evae_grbm_init(t, m->d, m->n, seed);
    m->be->upload(m->be, m->theta, t, m->n_theta * sizeof(float));
    free(t);
    size_t pb = m->n_params * sizeof(float), tb = m->n_theta * sizeof(float);
    m->be->zero(m->be, m->adam_m, pb);
    m->be->zero(m->be, m->adam_v, pb);
    m->be->zero(m->be, m->theta_m, tb);
    m->be->zero(m->be, m->theta_v, tb);
    m->vae_steps = m->prior_steps = 0;
    m->laplace_scale = 1.0f;
}

void evae_model_free(evae_model *m)
{
    float *bufs[] = {m->params, m->grads, m->adam_m, m->adam_v,
                     m->theta, m->theta_grad, m->theta_m, m->theta_v};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i]) m->be->free(m->be, bufs[i]);
    memset(m, 0, sizeof *m);
}

double evae_model_exact_log_z(const evae_model *m)
{
    if (m->shape.prior_grbm) return NAN;
    return 0.5 * m->d * log(2.0 * M_PI) + log(2.0); /* mu 0, sigma 1, one free hidden unit */
}

double evae_model_param_sum(const evae_model *m)
{
    return m->be->sum(m->be, m->params, m->n_params) + m->be->sum(m->be, m->theta, m->n_theta);
}

static void each_net(const evae_network *net, const char *prefix, evae_tensor_fn fn, void *ctx)
{
    char name[96];
    for (int l = 0; l < net->n_layers; l++) {
        const evae_layer *L = &net->layers[l];
        long ws[4], bs[1] = {(long)L->b_len};
        int nd;
        if (L->kind == EVAE_LINEAR) {
            /* stored [in, out] (y = x W); PyTorch's nn.Linear holds the transpose */
            ws[0] = L->in_dim;
            ws[1] = L->out_dim;
            nd = 2;
        } else {
            ws[0] = L->conv.K;
            ws[1] = L->conv.C;
            ws[2] = L->conv.R;
            ws[3] = L->conv.S;
            nd = 4;
        }
        snprintf(name, sizeof name, "%s.%d.weight", prefix, l);
        fn(ctx, name, 0, L->w_off, L->w_len, nd, ws);
        snprintf(name, sizeof name, "%s.%d.bias", prefix, l);
        fn(ctx, name, 0, L->b_off, L->b_len, 1, bs);
    }
}

void evae_model_each_tensor(const evae_model *m, evae_tensor_fn fn, void *ctx)
{
    each_net(&m->enc, "encoder", fn, ctx);
    each_net(&m->dec, "decoder", fn, ctx);
    long d[1] = {m->d}, n[1] = {m->n}, dn[2] = {m->d, m->n};
    fn(ctx, "prior.mu", 1, evae_grbm_mu(m->d, m->n), (size_t)m->d, 1, d);
    fn(ctx, "prior.log_sigma", 1, evae_grbm_log_sigma(m->d, m->n), (size_t)m->d, 1, d);
    fn(ctx, "prior.W", 1, evae_grbm_W(m->d, m->n), (size_t)m->d * m->n, 2, dn);
    fn(ctx, "prior.b", 1, evae_grbm_b(m->d, m->n), (size_t)m->n, 1, n);
}
