/* Prior sampling and image decoding (evae/model/sampling.h). */
#include "evae/model/sampling.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "evae/math/grbm.h"
#include "evae/data/logit.h"
#include "evae/math/philox.h"
#include "evae/util.h"
#include "evae/math/vae_math.h"

int evae_sample_prior(const evae_model *m, evae_sampler sampler, int steps, float eta, int count,
                      uint64_t seed, float *z_dev)
{
    const evae_backend *be = m->be;
    int d = m->d, n = m->n;
    float *theta = evae_xcalloc(m->n_theta, sizeof(float));
    be->download(be, theta, m->theta, m->n_theta * sizeof(float));
    const float *mu = theta + evae_grbm_mu(d, n), *log_sigma = theta + evae_grbm_log_sigma(d, n);
    float *z = evae_xcalloc((size_t)count * d, sizeof(float)); /* z[count, d] */
    uint64_t init_stream = evae_stream(EVAE_STREAM_SAMPLER, 0);
    for (int c = 0; c < count; c++)
        for (int i = 0; i < d; i++) {
            size_t k = (size_t)c * d + i;
            z[k] = mu[i] + expf(log_sigma[i]) * evae_normal_at(seed, init_stream, k);
        }
    be->upload(be, z_dev, z, (size_t)count * d * sizeof(float));
    free(z);
    free(theta);
    uint64_t stream = evae_stream(EVAE_STREAM_SAMPLER, 1);
    switch (sampler) {
    case EVAE_SAMPLER_LANGEVIN:
        be->grbm_langevin(be, m->theta, d, n, z_dev, count, steps, eta, seed, stream);
        return 0;
    case EVAE_SAMPLER_GIBBS:
        be->grbm_gibbs(be, m->theta, d, n, z_dev, count, steps, 1.0f, seed, stream);
        return 0;
    }
    evae_error("unknown sampler %d", (int)sampler);
    return 1;
}

void evae_decode_images(const evae_model *m, evae_workspace *w, const float *z_dev, int count,
                        float *images_host)
{
    const evae_backend *be = m->be;
    if (z_dev != evae_ws_z(w))
        be->copy(be, evae_ws_z(w), z_dev, (size_t)count * m->d * sizeof(float));
    evae_net_forward(be, &m->dec, m->params, w->dec_act, count);
    size_t n = (size_t)count * m->x_dim;
    float *out = evae_xcalloc(n, sizeof(float));
    be->download(be, out, w->dec_act[m->dec.n_layers], n * sizeof(float));
    if (m->decoder == EVAE_DEC_BERNOULLI)
        for (size_t i = 0; i < n; i++) images_host[i] = evae_sigmoidf(out[i]);
    else
        evae_logit_to_unit(images_host, out, n, EVAE_LOGIT_ALPHA);
    free(out);
}
