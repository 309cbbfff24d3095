/* Denoising score matching (Vincent 2011), evae/model/prior_fit.h: with eps ~ N(0, I) and
 * z~ = z + s_n eps, the loss 0.5 |s(z~) + eps / s_n|^2 per example, s = -dE/dz. Its minimizer
 * is the score of the data smoothed by N(0, s_n^2 I); the backend's grbm_dsm is the
 * variance-reduced SSM's 0.5 |s|^2 term with the offset eps / s_n added to the score. */
#include "evae/model/prior_fit.h"

#include "evae/math/philox.h"

void evae_dsm_grad(evae_prior_fit *f, const evae_model *m, evae_workspace *w, int B,
                   uint64_t seed, uint64_t global_step)
{
    const evae_backend *be = f->be;
    const size_t count = (size_t)B * m->d;
    const float s_n = f->dsm_noise;
    /* offset <- eps; rows <- z + s_n eps; offset <- eps / s_n (as eps + (1/s_n - 1) eps) */
    be->rand_normal(be, f->offset, count, seed, evae_stream(EVAE_STREAM_DSM_NOISE, global_step), 0);
    be->copy(be, f->rows, evae_ws_z(w), count * sizeof(float));
    be->axpy(be, f->rows, f->offset, count, s_n);
    be->axpy(be, f->offset, f->offset, count, 1.0f / s_n - 1.0f);
    be->grbm_dsm(be, m->theta, m->d, m->n, f->rows, B, f->offset, w->J, m->theta_grad);
}
