/* Annealed importance sampling (Neal 2001) for the log partition function of the GRBM prior.
 *
 * Path: p_beta(z) proportional to f_beta(z) = exp(-E_beta(z)), beta from 0 to 1, where beta scales
 * the coupling (W and b) of the joint energy, so that
 *   -E_beta(z) = -0.5 |(z - mu)/sigma|^2 + sum_j softplus(beta a_j),  a = W^T (z/sigma^2) + b
 * (the full W and b inside a). This is the geometric path exp(-(1-beta) E_0(z,h) - beta E_1(z,h))
 * on the joint, with h summed out. At beta = 0 it is N(mu, sigma^2) times 2^n, so
 *   log Z_0 = (d/2) ln 2pi + sum_i ln sigma_i + n ln 2,
 * and one Gibbs sweep at beta = 0 draws an exact base sample whatever z it starts from.
 *
 * Each chain: z_0 ~ p_0; for k = 1..K: log w += E_{beta_{k-1}}(z) - E_{beta_k}(z), then (k < K)
 * gibbs_steps block-Gibbs sweeps at beta_k, which leave p_{beta_k} invariant. Then
 * log Z ~ log Z_0 + ln mean(w). Weights use the h-marginalized energy (Rao-Blackwellized).
 * Only backend ops are used (grbm_energy, grbm_gibbs, accumulate_diff, alloc, download), so the
 * same code runs on every backend. The per-chain log weights stay where the backend computes,
 * accumulated in double by accumulate_diff, and are read once per run: each temperature's term
 * (double)E_{k-1} - (double)E_k is exact in double, so K terms add at most K 2^-53 sum|terms|
 * (1e-12 relative at K = 10,000), far below the float energies' own rounding; a float sum would
 * add K 2^-24 sum|terms| (6e-4 relative), a compensated float sum about 2^-23 |log w|.
 *
 * Random draws: run r, temperature index k uses stream
 *   evae_stream(opts.purpose, (1 << 47) | (r << 32) | k)   under opts.seed
 * (purpose EVAE_STREAM_EVAL, where bit 47 keeps AIS apart from other evaluation draws, or
 * EVAE_STREAM_HONEST for the trainer's estimate, apart from every draw of training).
 *
 * Reverse AIS (an upper bound on log Z) is not provided: it needs exact samples from the target
 * GRBM, which are available only for small n, where the exact log Z is available anyway. */
#ifndef EVAE_AIS_H
#define EVAE_AIS_H

#include <stdint.h>

#include "evae/backend/backend.h"
#include "evae/io/config.h" /* evae_ais_schedule */
#include "evae/math/philox.h"  /* evae_stream_purpose */

/* The schedules (eval.ais_schedule):
 *   EVAE_AIS_LINEAR:  beta_k = k / K
 *   EVAE_AIS_SIGMOID: beta_k = (s_k - s_0)/(s_K - s_0), s_k = sigmoid(delta (2k/K - 1)): denser
 *     near both ends, where the weights change fastest (Grosse et al. 2013's sigmoid schedule) */

typedef struct evae_ais_opts {
    int chains;                 /* chains per run */
    int temperatures;           /* K: the number of steps from beta = 0 to beta = 1 */
    evae_ais_schedule schedule;
    float sigmoid_delta;        /* delta of the sigmoid schedule */
    int gibbs_steps;            /* Gibbs sweeps at each intermediate beta */
    int runs;                   /* independent repeats, at most EVAE_AIS_MAX_RUNS */
    uint64_t seed;
    enum evae_stream_purpose purpose; /* of every stream AIS draws from */
    /* TEST ONLY: the transitions run at mutate_beta * beta_k instead of beta_k, which breaks
     * AIS (the chains no longer follow the path the weights assume). 1 for real use. */
    float mutate_beta;
} evae_ais_opts;

#define EVAE_AIS_MAX_RUNS 64

typedef struct evae_ais_result {
    double log_z;      /* log Z_0 + ln mean of the weights of all chains of all runs */
    double log_z0;     /* the base's log partition function */
    int runs;
    double run_log_z[EVAE_AIS_MAX_RUNS]; /* each run's own estimate */
    double run_std;    /* sample standard deviation of run_log_z (NAN when runs = 1) */
    double std_err;    /* run_std / sqrt(runs): the standard error of log_z */
    double ess;        /* effective sample size (sum w)^2 / sum w^2 over all chains */
    int total_chains;  /* chains * runs */
} evae_ais_result;

/* Defaults: 1000 chains, 1000 temperatures, sigmoid schedule with delta 4, 1 Gibbs sweep,
 * 4 runs, seed 1, purpose EVAE_STREAM_EVAL, mutate_beta 1. */
evae_ais_opts evae_ais_default_opts(void);

/* beta[K+1] of the schedule (beta[0] = 0, beta[K] = 1). Returns non-zero on bad options. */
int evae_ais_betas(const evae_ais_opts *o, double *beta);

/* The spread of independent runs' estimates run_log_z[runs]: their sample standard deviation and
 * its standard error run_std / sqrt(runs); both NAN when runs < 2. */
void evae_ais_run_spread(const double *run_log_z, int runs, double *run_std, double *std_err);

/* Estimates log Z of the GRBM theta (backend memory, evae/math/grbm.h layout). Returns 0, or non-zero
 * with a message on bad options. */
int evae_ais_log_z(const evae_backend *be, const float *theta, int d, int n,
                   const evae_ais_opts *o, evae_ais_result *r);

#endif
