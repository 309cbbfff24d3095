/* Maximum likelihood with a self-normalized importance-sampled negative phase (the paper's
 * eq. 5), see evae/model/prior_fit.h. Each z_b ~ q(z|x_b) gives exp(-E(z_b)) / q(z_b|x_b), an
 * unbiased estimate of Z, so with l_b = -E(z_b) - ln q(z_b|x_b) the batch gives
 *   ln Zhat = logmeanexp_b l_b   and   E_p[dE/dtheta] ~ sum_b wt_b dE/dtheta(z_b),
 * wt = softmax(l). The gradient mean_b dE/dtheta(z_b) - sum_b wt_b dE/dtheta(z_b) is the exact
 * gradient of J = mean_b E(z_b) + ln Zhat (one grbm_param_grad with weights 1/B - wt_b). Since
 * E[Zhat] = Z, E[ln Zhat] <= ln Z: ln Zhat underestimates ln Z, by much when q(z|x) covers
 * little of the prior. */
#define _DEFAULT_SOURCE /* M_PI under -std=c11 */
#include "evae/model/prior_fit.h"

#include <math.h>
#include <stdlib.h>

#include "evae/util.h"

void evae_snis_grad(evae_prior_fit *f, const evae_model *m, evae_workspace *w, int B)
{
    const evae_backend *be = f->be;
    const int d = m->d;
    const float *z = evae_ws_z(w);                       /* [B, d] */
    const float *enc = w->enc_act[m->enc.n_layers];      /* [B, 2d] = [mean | logvar] */
    be->grbm_energy(be, m->theta, d, m->n, 1.0f, z, B, f->E, NULL);
    be->download(be, f->h_E, f->E, (size_t)B * sizeof(float));
    be->download(be, f->h_rows, w->eps, (size_t)B * d * sizeof(float));
    be->download(be, f->h_enc, enc, (size_t)B * 2 * d * sizeof(float));
    /* l_b = -E_b - ln q(z_b|x_b), ln q = -sum_i [0.5 eps_i^2 + 0.5 ln 2pi + 0.5 logvar_i] of
     * the reparameterized sample z = mean + exp(logvar / 2) eps */
    double *l = evae_xcalloc((size_t)B, sizeof(double)); /* l[B] */
    double mx = -INFINITY;
    for (int b = 0; b < B; b++) {
        const float *eps = f->h_rows + (size_t)b * d, *logvar = f->h_enc + (size_t)b * 2 * d + d;
        double log_q = 0.0;
        for (int i = 0; i < d; i++)
            log_q -= 0.5 * (double)eps[i] * eps[i] + 0.5 * log(2.0 * M_PI) + 0.5 * logvar[i];
        l[b] = -(double)f->h_E[b] - log_q;
        if (l[b] > mx) mx = l[b];
    }
    double s = 0.0;
    for (int b = 0; b < B; b++) s += exp(l[b] - mx);
    const double lse = mx + log(s), log_z_hat = lse - log((double)B);
    for (int b = 0; b < B; b++) {
        double wt = exp(l[b] - lse);
        f->h_w[b] = (float)(1.0 / B - wt);
        f->h_J[b] = (float)(f->h_E[b] + log_z_hat);
    }
    free(l);
    be->upload(be, f->weights, f->h_w, (size_t)B * sizeof(float));
    be->upload(be, w->J, f->h_J, (size_t)B * sizeof(float));
    be->grbm_param_grad(be, m->theta, d, m->n, z, B, f->weights, 0.0f, m->theta_grad);
    f->aux_last = log_z_hat;
    f->aux_sum += log_z_hat;
    f->aux_count++;
}
