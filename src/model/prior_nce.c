/* Noise-contrastive estimation (Gutmann & Hyvarinen 2010, 2012), see evae/model/prior_fit.h.
 * The model ln p(u) = -E(u) - c with c a learned estimate of ln Z; noise nu = N(0, I)
 * (nce.noise = standard) or N(m, diag v) with m, v the batch's mean and variance of the
 * detached z (fitted); K = ratio B noise samples y_k = m + sqrt(v) eps_k. With
 * G'(u) = -E(u) - c - ln nu(u) - ln ratio, the posterior probability that u is data is
 * h(u) = sigmoid(G'(u)), and the loss
 *   L = -(1/B) [sum_b ln h(z_b) + sum_k ln(1 - h(y_k))]
 *     = (1/B) [sum_b softplus(-G'(z_b)) + sum_k softplus(G'(y_k))]
 * (the ratio-scaled NCE loss; ratio 1 gives -mean_b ln sigmoid(G) - mean_k ln sigmoid(-G)).
 * With dG'/dtheta = -dE/dtheta and dG'/dc = -1:
 *   dL/dtheta = (1/B) sum_b (1 - h_b) dE/dtheta(z_b) - (1/B) sum_k h_k dE/dtheta(y_k)
 *   dL/dc     = (1/B) sum_b (1 - h_b) - (1/B) sum_k h_k,
 * both sum_rows w_r (.) with w = (1 - h)/B on the data rows and -h/B on the noise rows. At the
 * optimum of an exact model family, c = ln Z. Noise sample k = r B + b (r < ratio) belongs to
 * example b, whose per-example loss J_b gathers its terms, so mean_b J_b = L. */
#define _DEFAULT_SOURCE /* M_PI under -std=c11 */
#include "evae/model/prior_fit.h"

#include <math.h>
#include <stdlib.h>

#include "evae/math/logistic.h"
#include "evae/math/philox.h"
#include "evae/util.h"

/* a batch's variance floor, so that a constant coordinate (a one-example batch) keeps a noise
 * density */
#define NCE_MIN_VARIANCE 1e-6

void evae_nce_grad(evae_prior_fit *f, const evae_model *m, evae_workspace *w, int B,
                   uint64_t seed, uint64_t global_step)
{
    const evae_backend *be = f->be;
    const int d = m->d, K = f->nce_ratio * B, R = B + K;
    float *z = f->h_rows, *y = f->h_rows + (size_t)B * d; /* [B, d] and [K, d], host */
    double *mean = evae_xcalloc((size_t)d, sizeof(double)); /* [d] noise mean */
    double *var = evae_xcalloc((size_t)d, sizeof(double));  /* [d] noise variance */
    be->download(be, z, evae_ws_z(w), (size_t)B * d * sizeof(float));
    for (int i = 0; i < d; i++) {
        if (f->nce_noise == EVAE_NCE_NOISE_STANDARD) {
            var[i] = 1.0;
            continue;
        }
        double s = 0.0, s2 = 0.0;
        for (int b = 0; b < B; b++) s += z[(size_t)b * d + i];
        mean[i] = s / B;
        for (int b = 0; b < B; b++) {
            double r = z[(size_t)b * d + i] - mean[i];
            s2 += r * r;
        }
        var[i] = fmax(s2 / B, NCE_MIN_VARIANCE);
    }
    evae_fill_normal(y, (size_t)K * d, seed, evae_stream(EVAE_STREAM_NCE_NOISE, global_step), 0);
    for (int k = 0; k < K; k++)
        for (int i = 0; i < d; i++) {
            size_t e = (size_t)k * d + i;
            y[e] = (float)(mean[i] + sqrt(var[i]) * y[e]);
        }
    be->copy(be, f->rows, evae_ws_z(w), (size_t)B * d * sizeof(float));
    be->upload(be, f->rows + (size_t)B * d, y, (size_t)K * d * sizeof(float));
    be->grbm_energy(be, m->theta, d, m->n, 1.0f, f->rows, R, f->E, NULL);
    be->download(be, f->h_E, f->E, (size_t)R * sizeof(float));
    float c;
    be->download(be, &c, f->log_z, sizeof c);

    double log_norm = 0.0; /* ln nu(u) = -0.5 sum_i (u_i - m_i)^2 / v_i - log_norm */
    for (int i = 0; i < d; i++) log_norm += 0.5 * log(2.0 * M_PI * var[i]);
    const double log_ratio = log((double)f->nce_ratio);
    double dc = 0.0;
    for (int r = 0; r < R; r++) {
        const float *u = f->h_rows + (size_t)r * d;
        double q = 0.0;
        for (int i = 0; i < d; i++) {
            double t = u[i] - mean[i];
            q += 0.5 * t * t / var[i];
        }
        double g = -(double)f->h_E[r] - c + q + log_norm - log_ratio; /* G'(u) */
        double h = evae_sigmoidf((float)g);
        int data = r < B;
        double wr = data ? (1.0 - h) / B : -h / B;
        f->h_w[r] = (float)wr;
        dc += wr;
        /* J_b: softplus(-G') of the example, softplus(G') of each of its noise samples */
        double term = evae_softplusf((float)(data ? -g : g));
        int b = r % B;
        f->h_J[b] = (float)(data ? term : f->h_J[b] + term);
    }
    free(mean);
    free(var);
    float dcf = (float)dc;
    be->upload(be, f->weights, f->h_w, (size_t)R * sizeof(float));
    be->upload(be, w->J, f->h_J, (size_t)B * sizeof(float));
    be->upload(be, f->log_z_grad, &dcf, sizeof dcf);
    be->grbm_param_grad(be, m->theta, d, m->n, f->rows, R, f->weights, 0.0f, m->theta_grad);
    f->aux_last = c;
    f->aux_sum += c;
    f->aux_count++;
}
