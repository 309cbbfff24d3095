/* Maximum likelihood with persistent chains (Tieleman 2008; the paper's eq. 6), see
 * evae/model/prior_fit.h: the gradient of the mean negative log-likelihood of the batch,
 * mean_b dE/dtheta(z_b) - E_p[dE/dtheta], with the model expectation taken over pcd.chains
 * chains that persist across updates and are advanced pcd.steps sampler steps under the
 * current theta before each gradient. The logged loss is the energy gap mean_b E(z_b) -
 * mean_c E(y_c), which is zero in expectation at the maximum-likelihood fit and is not a
 * likelihood. */
#include "evae/model/prior_fit.h"

#include <math.h>
#include <stdlib.h>

#include "evae/math/grbm.h"
#include "evae/math/philox.h"
#include "evae/util.h"

void evae_pcd_start(evae_prior_fit *f, const float *theta_host, uint64_t seed)
{
    const int d = f->d, C = f->pcd_chains;
    const float *mu = theta_host + evae_grbm_mu(d, f->n);
    const float *log_sigma = theta_host + evae_grbm_log_sigma(d, f->n);
    float *y = evae_xcalloc((size_t)C * d, sizeof(float)); /* y[C, d] host */
    evae_fill_normal(y, (size_t)C * d, seed, evae_stream(EVAE_STREAM_PCD_START, 0), 0);
    for (int c = 0; c < C; c++)
        for (int i = 0; i < d; i++) {
            size_t k = (size_t)c * d + i;
            y[k] = mu[i] + expf(log_sigma[i]) * y[k];
        }
    f->be->upload(f->be, f->chains, y, (size_t)C * d * sizeof(float));
    free(y);
}

void evae_pcd_grad(evae_prior_fit *f, const evae_model *m, evae_workspace *w, int B,
                   uint64_t seed, uint64_t global_step)
{
    const evae_backend *be = f->be;
    const int d = m->d, n = m->n, C = f->pcd_chains;
    const uint64_t stream = evae_stream(EVAE_STREAM_PCD_CHAINS, global_step);
    const float *z = evae_ws_z(w); /* [B, d] */
    if (f->pcd_sampler == EVAE_SAMPLER_GIBBS)
        be->grbm_gibbs(be, m->theta, d, n, f->chains, C, f->pcd_steps, 1.0f, seed, stream);
    else
        be->grbm_langevin(be, m->theta, d, n, f->chains, C, f->pcd_steps, f->pcd_eta, seed,
                          stream);
    /* positive phase: mean over the batch (w NULL); negative phase: weights -1/C */
    be->grbm_param_grad(be, m->theta, d, n, z, B, NULL, 0.0f, m->theta_grad);
    be->grbm_param_grad(be, m->theta, d, n, f->chains, C, f->weights, 1.0f, m->theta_grad);
    /* J_b = E(z_b) - mean_c E(y_c) */
    be->grbm_energy(be, m->theta, d, n, 1.0f, f->chains, C, f->E, NULL);
    double mean_chains = be->sum(be, f->E, (size_t)C) / C;
    be->grbm_energy(be, m->theta, d, n, 1.0f, z, B, f->E, NULL);
    be->download(be, f->h_E, f->E, (size_t)B * sizeof(float));
    for (int b = 0; b < B; b++) f->h_J[b] = (float)(f->h_E[b] - mean_chains);
    be->upload(be, w->J, f->h_J, (size_t)B * sizeof(float));
}
