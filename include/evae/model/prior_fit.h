/* How the GRBM prior is fitted to the latent samples (prior.objective; paper section 2: the ALB
 * needs no normalizer, so any objective can fit the energy to the aggregate posterior). Each
 * training step, after the encoder and decoder's step, one objective turns the batch's z
 * (detached, Algorithm 1 line 5) into theta's gradient, then Adam steps theta:
 *   ssm   sliced score matching, plain or variance-reduced (ssm.*; evae_ssm_step);
 *   dsm   denoising score matching (Vincent 2011): z~ = z + s_n eps, loss
 *         0.5 |s(z~) + eps / s_n|^2, s = -dE/dz (dsm.noise = s_n; backend op grbm_dsm);
 *   pcd   maximum likelihood (paper eq. 6): mean_batch dE/dtheta(z) - mean_chains dE/dtheta(y)
 *         with pcd.chains persistent chains y, advanced pcd.steps Gibbs sweeps (or Langevin
 *         steps) per update before the gradient; logged: the energy gap mean E(z) - mean E(y),
 *         which is not a likelihood;
 *   snis  maximum likelihood with the negative phase self-normalized over the batch's own
 *         posterior samples (paper eq. 5): weights wt_b = softmax_b(-E(z_b) - ln q(z_b|x_b)),
 *         gradient mean_b dE/dtheta(z_b) - sum_b wt_b dE/dtheta(z_b), which is the gradient of
 *         mean_b E(z_b) + ln Zhat with ln Zhat = logmeanexp_b(-E(z_b) - ln q(z_b|x_b)); logged:
 *         that loss and ln Zhat;
 *   nce   noise-contrastive estimation (Gutmann & Hyvarinen 2010) with ln p(z) = -E(z) - c and
 *         c = ln Z learned (Adam, step counter of the prior, step size nce.log_z_lr): noise nu =
 *         N(0, I) or the batch's diagonal Gaussian (nce.noise), K = nce.ratio B noise samples y,
 *         G'(u) = -E(u) - c - ln nu(u) - ln ratio, loss
 *         L = (1/B) [sum_b softplus(-G'(z_b)) + sum_k softplus(G'(y_k))];
 *         dL/dtheta = sum_rows w_r dE/dtheta(u_r) with w = (1 - sigmoid(G'))/B on the data rows
 *         and -sigmoid(G')/B on the noise rows, dL/dc = sum_rows w_r; logged: L and c.
 * pcd, snis and nce weight dE/dtheta with the backend op grbm_param_grad. snis and nce compute
 * their weights on the host (B energies and the few numbers they need come down, the weights go
 * up), and pcd reads its energy gap there: one synchronization per step on a device.
 *
 * Random draws (evae/math/philox.h): dsm EVAE_STREAM_DSM_NOISE, pcd EVAE_STREAM_PCD_START (the
 * chains' start) and EVAE_STREAM_PCD_CHAINS, nce EVAE_STREAM_NCE_NOISE, each at the global step;
 * ssm keeps EVAE_STREAM_PROJECTIONS. The persistent state (pcd's chains, nce's c and its Adam
 * moments) is saved in checkpoints (evae_prior_fit_each_state), so resume stays exact. */
#ifndef EVAE_PRIOR_FIT_H
#define EVAE_PRIOR_FIT_H

#include <stddef.h>
#include <stdint.h>

#include "evae/io/config.h"
#include "evae/model/objective.h"

typedef struct evae_prior_fit {
    const evae_backend *be;
    evae_prior_objective objective;
    int d, n, cap;    /* GRBM visible and hidden units; batch capacity */
    char settings[256]; /* the objective's section of the configuration, "key=value ..." */
    /* settings of the objectives (copied from the configuration) */
    int ssm_rademacher, ssm_variance_reduced;
    float dsm_noise;
    int pcd_chains, pcd_steps;
    evae_sampler pcd_sampler;
    float pcd_eta;
    evae_nce_noise nce_noise;
    int nce_ratio;
    float nce_log_z_lr;

    /* persistent state, backend memory, saved in checkpoints */
    float *chains;   /* pcd: [pcd_chains, d] */
    float *log_z;    /* nce: [1] c, the learned ln Z */
    float *log_z_m;  /* nce: [1] its Adam first moment */
    float *log_z_v;  /* nce: [1] its Adam second moment */
    /* scratch, backend memory */
    float *log_z_grad; /* nce: [1] dL/dc */
    float *rows;     /* dsm: [cap, d] z~; nce: [(1 + ratio) cap, d] the batch, then the noise */
    float *offset;   /* dsm: [cap, d] eps / s_n */
    float *weights;  /* pcd: [pcd_chains] -1/C; snis: [cap]; nce: [(1 + ratio) cap] */
    float *E;        /* pcd: [max(cap, pcd_chains)]; snis: [cap]; nce: [(1 + ratio) cap] */
    /* scratch, host memory: the numbers snis, nce and pcd work with on the host */
    float *h_E;      /* [rows of E] */
    float *h_w;      /* [rows of weights] */
    float *h_J;      /* [cap] */
    float *h_rows;   /* snis: [cap, d] eps; nce: [(1 + ratio) cap, d] as rows */
    float *h_enc;    /* snis: [cap, 2d] encoder output [mean | logvar] */

    /* the objective's second logged number (see evae_prior_fit_aux) */
    double aux_last, aux_sum;
    long aux_count;
    /* TEST ONLY: every gradient of the objective is multiplied by this (-1 flips it: a
     * deliberately broken objective that the learning test must reject); 1 for real use. */
    float test_gradient_sign;
} evae_prior_fit;

/* The objective of cfg (prior.objective and its section) for m's GRBM and batches of up to cap
 * examples (cap 0: the state alone, to load a checkpoint into). Nothing to report: the
 * backend's alloc aborts with a message when memory runs out. */
void evae_prior_fit_create(evae_prior_fit *f, const evae_model *m, const evae_config *cfg,
                           int cap);
void evae_prior_fit_free(evae_prior_fit *f);

/* The state of a fresh run, from theta (m's prior, freshly initialized) and the seed: pcd's
 * chains drawn from N(mu, sigma^2), nce's c = ln Z_0 = (d/2) ln 2pi + sum_i log sigma_i + n ln 2
 * (the log normalizer of the GRBM without its coupling), its Adam moments 0. */
void evae_prior_fit_start(evae_prior_fit *f, const evae_model *m, uint64_t seed);

/* Whether the objective splits a batch across data-parallel ranks: only sliced score matching,
 * whose gradient is a sum of per-example terms; dsm, pcd, snis and nce run on one rank (snis
 * normalizes its weights over the whole batch, pcd's chains and nce's noise are drawn per
 * batch). The trainer refuses the others with more than one rank. */
int evae_prior_fit_splits(const evae_prior_fit *f);

/* The objective's gradient on the share s of the batch that the forward left in w (z detached,
 * and for snis the eps and encoder output that give ln q(z|x)): this share's part of
 * m->theta_grad (and nce's dL/dc), and w->J[s.count] the per-example loss whose batch mean is
 * the logged loss. Draws at global_step. A share that is not the whole batch: ssm only. */
void evae_prior_fit_grad(evae_prior_fit *f, const evae_model *m, evae_workspace *w, evae_share s,
                         uint64_t seed, uint64_t global_step);

/* One Adam step of theta (train.prior_lr) and for nce of c (nce.log_z_lr) on the gradients
 * (summed over the ranks), both at the prior's step counter ++m->prior_steps. */
void evae_prior_fit_update(evae_prior_fit *f, evae_model *m, const evae_config *cfg);

/* evae_prior_fit_grad on a whole batch of B examples in one process, then
 * evae_prior_fit_update. */
void evae_prior_fit_step(evae_prior_fit *f, evae_model *m, evae_workspace *w, int B,
                         const evae_config *cfg, uint64_t global_step);

/* Names of the logged loss: the metric keys are batch_<name> and train_<name> ("ssm", "dsm",
 * "pcd_gap", "snis", "nce"); the label is for the printed lines ("SSM", ..., "PCD gap"). */
const char *evae_prior_fit_loss_name(const evae_prior_fit *f);
const char *evae_prior_fit_loss_label(const evae_prior_fit *f);

/* The objective's second logged number: "snis_log_z" (ln Zhat of the batch) or "nce_log_z"
 * (the c the step used); NULL for the others. *batch: the last step's value; *epoch: the mean
 * over the steps since evae_prior_fit_epoch_begin. */
const char *evae_prior_fit_aux(const evae_prior_fit *f, double *batch, double *epoch);
void evae_prior_fit_epoch_begin(evae_prior_fit *f);

/* nce's learned ln Z (downloaded); NAN for the other objectives. */
double evae_prior_fit_log_z(const evae_prior_fit *f);

/* The sum of the persistent state (0 when there is none): non-finite when any of it is, for the
 * trainer's check before it saves. */
double evae_prior_fit_state_sum(const evae_prior_fit *f);

/* The persistent state as named tensors, for checkpoints: fn once per tensor with its backend
 * buffer, element count and shape ("objective.pcd.chains" [C, d]; "objective.nce.log_z",
 * "optim.nce.exp_avg", "optim.nce.exp_avg_sq" [1]). */
typedef void (*evae_state_tensor_fn)(void *ctx, const char *name, float *buf, size_t count,
                                     int ndim, const long *shape);
void evae_prior_fit_each_state(const evae_prior_fit *f, evae_state_tensor_fn fn, void *ctx);

/* ---- the objectives, one file each (src/model/prior_<name>.c), called by the above ---- */

void evae_dsm_grad(evae_prior_fit *f, const evae_model *m, evae_workspace *w, int B,
                   uint64_t seed, uint64_t global_step);
void evae_pcd_start(evae_prior_fit *f, const float *theta_host, uint64_t seed);
void evae_pcd_grad(evae_prior_fit *f, const evae_model *m, evae_workspace *w, int B,
                   uint64_t seed, uint64_t global_step);
void evae_snis_grad(evae_prior_fit *f, const evae_model *m, evae_workspace *w, int B);
void evae_nce_grad(evae_prior_fit *f, const evae_model *m, evae_workspace *w, int B,
                   uint64_t seed, uint64_t global_step);

#endif
