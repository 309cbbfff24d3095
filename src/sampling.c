/* Prior sampling and image decoding (evae/sampling.h). */
#include "evae/sampling.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/grbm.h"
#include "evae/image_grid.h"
#include "evae/logit.h"
#include "evae/philox.h"
#include "evae/util.h"
#include "evae/vae_math.h"

int evae_sample_prior(const evae_model *m, const char *sampler, int steps, float eta, int count,
                      uint64_t seed, float *z_dev)
{
    const evae_backend *be = m->be;
    int d = m->d, n = m->n;
    float *theta = evae_xcalloc(m->n_theta, sizeof(float));
    be->download(theta, m->theta, m->n_theta * sizeof(float));
    const float *mu = theta + evae_grbm_mu(d, n), *log_sigma = theta + evae_grbm_log_sigma(d, n);
    float *z = evae_xcalloc((size_t)count * d, sizeof(float)); /* z[count, d] */
    uint64_t init_stream = evae_stream(EVAE_STREAM_SAMPLER, 0);
    for (int c = 0; c < count; c++)
        for (int i = 0; i < d; i++) {
            size_t k = (size_t)c * d + i;
            z[k] = mu[i] + expf(log_sigma[i]) * evae_normal_at(seed, init_stream, k);
        }
    be->upload(z_dev, z, (size_t)count * d * sizeof(float));
    free(z);
    free(theta);
    uint64_t stream = evae_stream(EVAE_STREAM_SAMPLER, 1);
    if (strcmp(sampler, "langevin") == 0)
        be->grbm_langevin(m->theta, d, n, z_dev, count, steps, eta, seed, stream);
    else if (strcmp(sampler, "gibbs") == 0)
        be->grbm_gibbs(m->theta, d, n, z_dev, count, steps, 1.0f, seed, stream);
    else {
        evae_error("unknown sampler '%s' (expected langevin or gibbs)", sampler);
        return 1;
    }
    return 0;
}

void evae_decode_images(const evae_model *m, evae_workspace *w, const float *z_dev, int count,
                        float *images_host)
{
    const evae_backend *be = m->be;
    if (z_dev != evae_ws_z(w)) be->copy(evae_ws_z(w), z_dev, (size_t)count * m->d * sizeof(float));
    evae_net_forward(be, &m->dec, m->params, w->dec_act, count);
    size_t n = (size_t)count * m->x_dim;
    float *out = evae_xcalloc(n, sizeof(float));
    be->download(out, w->dec_act[m->dec.n_layers], n * sizeof(float));
    if (m->decoder == EVAE_DEC_BERNOULLI)
        for (size_t i = 0; i < n; i++) images_host[i] = evae_sigmoidf(out[i]);
    else
        evae_logit_to_unit(images_host, out, n, EVAE_LOGIT_ALPHA);
    free(out);
}

int evae_write_grids(const evae_model *m, evae_workspace *w, const char *dir, const char *tag,
                     const char *sampler, int steps, float eta, int n_samples, uint64_t seed,
                     const float *heldout_x_dev, int n_recon)
{
    int C = m->shape.channels, H = m->shape.height, W = m->shape.width, D = m->x_dim;
    char path[4096];
    int rc = 0;
    if (n_samples > w->cap) n_samples = w->cap;
    if (n_recon > w->cap) n_recon = w->cap;

    float *z_dev = m->be->alloc((size_t)n_samples * m->d * sizeof(float));
    float *img = evae_xcalloc((size_t)2 * (n_samples > n_recon ? n_samples : n_recon), D * sizeof(float));
    rc = evae_sample_prior(m, sampler, steps, eta, n_samples, seed, z_dev);
    if (!rc) {
        evae_decode_images(m, w, z_dev, n_samples, img);
        snprintf(path, sizeof path, "%s/samples_%s.png", dir, tag);
        rc = evae_png_grid(path, img, n_samples, C, H, W, (int)ceil(sqrt((double)n_samples)));
    }
    m->be->free(z_dev);

    if (!rc && n_recon > 0) {
        /* paper Figure 1: test images in the top half, their reconstructions below */
        const int cols = 8;
        m->be->copy(evae_ws_x(w), heldout_x_dev, (size_t)n_recon * D * sizeof(float));
        evae_alb_forward(m, w, n_recon, seed, evae_stream(EVAE_STREAM_EVAL, 1), NULL);
        float *x = evae_xcalloc((size_t)n_recon * D, sizeof(float));
        m->be->download(x, evae_ws_x(w), (size_t)n_recon * D * sizeof(float));
        if (m->decoder == EVAE_DEC_LAPLACE)
            evae_logit_to_unit(img, x, (size_t)n_recon * D, EVAE_LOGIT_ALPHA);
        else
            memcpy(img, x, (size_t)n_recon * D * sizeof(float));
        free(x);
        evae_decode_images(m, w, evae_ws_z(w), n_recon, img + (size_t)n_recon * D);
        snprintf(path, sizeof path, "%s/recon_%s.png", dir, tag);
        rc = evae_png_grid(path, img, 2 * n_recon, C, H, W, cols);
    }
    free(img);
    return rc;
}
