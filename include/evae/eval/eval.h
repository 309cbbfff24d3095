/* Honest evaluation of a trained energy-prior VAE (`evae eval`, docs/DESIGN.md s.3). Every number
 * is labelled with the estimator that made it:
 *  1. log Z of the GRBM prior by AIS (evae/eval/ais.h), or exactly for prior=gaussian;
 *  2. the importance-sampled log-likelihood: per test example,
 *       ln p(x) ~ ln mean_k exp[ln p(x|z_k) - E(z_k) - ln q(z_k|x)] - ln Z,   z_k ~ q(z|x);
 *  3. the paper's Algorithm 2: a classifier T(x, z) trained to tell (x, z ~ q(z|x)) from
 *     (x, z ~ prior, by Langevin chains) estimates ln q(z|x) - ln p(z); reported E[ln p(x|z) - T];
 *  4. the paper's self-normalized estimates (eqs. 3 and 4) from the same K samples, which divide
 *     by a per-example importance estimate of Z with q(z|x) as proposal instead of AIS's ln Z;
 *  5. the ALB, E_q[ln p(x|z) - E(z) - ln q(z|x)], which bounds ln p(x) + ln Z, not ln p(x).
 *
 * Random draws: stream evae_eval_stream(stage, sub) under eval.seed; AIS keeps its own streams
 * (bit 47 of the step, evae/eval/ais.h), which these never reach. Same command, same backend: same
 * numbers.
 *
 * Settings ([eval] keys): the defaults are the full protocol, meant for a GPU: K = 5000 samples
 * for every test example, AIS with 4 runs of 1000 chains x 10000 sigmoid temperatures, the
 * classifier 20 epochs on the whole training set against 1000-step Langevin chains. On a CPU,
 * MNIST at K = 5000 over 1000 test examples takes a few minutes; a quick look:
 *   eval.k=100 eval.test_limit=200 eval.ais_temperatures=1000 eval.classifier_epochs=5
 *   eval.langevin_steps=200 */
#ifndef EVAE_EVAL_H
#define EVAE_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "evae/dist/comm.h"
#include "evae/dist/share.h"
#include "evae/eval/ais.h"
#include "evae/io/config.h"
#include "evae/model/model.h"
#include "evae/math/philox.h"

/* ---- random streams of the evaluation ---- */

enum evae_eval_stage {
    EVAE_EVAL_TEST_INPUT = 1,   /* binarization / dequantization of the test set (sub 0) */
    EVAE_EVAL_IS_EPS = 2,       /* importance samples: sub = test example index */
    EVAE_EVAL_CLS_INPUT = 3,    /* classifier training inputs: sub = epoch << 24 | step */
    EVAE_EVAL_CLS_EPS = 4,      /* classifier positives z ~ q(z|x): sub = epoch << 24 | step */
    EVAE_EVAL_CLS_SHUFFLE = 5,  /* classifier epoch orders: sub = 2 epoch (+1 for the pool) */
    EVAE_EVAL_CLS_CHAIN = 6,    /* prior chains: sub 0/1 start, 2/3 Langevin (train/test pool) */
    EVAE_EVAL_CLS_TEST_EPS = 7, /* z ~ q(z|x) of the test examples for T: sub = batch */
};

/* evae_stream(EVAE_STREAM_EVAL, stage << 40 | sub): sub < 2^40, stage < 128 (bit 47 is AIS's) */
static inline uint64_t evae_eval_stream(enum evae_eval_stage stage, uint64_t sub)
{
    return evae_stream(EVAE_STREAM_EVAL, ((uint64_t)stage << 40) | (sub & ((1ull << 40) - 1)));
}

/* Progress of a long stage: done of total units (temperatures runs, examples, epochs). */
typedef void (*evae_eval_progress_fn)(void *ctx, const char *stage, int done, int total,
                                      const char *detail);

typedef struct evae_stage_time {
    double cpu_s;  /* process CPU time (all threads) */
    double wall_s;
} evae_stage_time;

/* Mean and standard error (sample sd / sqrt(n)) of v[n]; se = NAN when n < 2. */
void evae_mean_se(const double *v, int n, double *mean, double *se);

/* ---- test inputs ---- */

/* Model inputs of n raw examples data_dev [n, x_dim] (intensities for MNIST, pixel values for
 * CIFAR-10): binarized / dequantized with one draw per pixel from (seed, stream), element
 * e * x_dim + j for pixel j of example e, so a prefix of the set gets the same inputs whatever n.
 * Returns backend memory [n, x_dim]. */
float *evae_eval_prepare_inputs(const evae_model *m, const float *data_dev, int n, uint64_t seed,
                                uint64_t stream);

/* ---- stage 1: log Z ---- */

typedef struct evae_log_z {
    int exact;        /* 1: the prior's log Z is known (prior=gaussian); AIS did not run */
    double log_z;     /* AIS: ln of the mean weight over all chains of all runs, plus log Z_0 */
    double std_err;   /* AIS: run spread / sqrt(runs); 0 when exact */
    double run_std;   /* AIS: standard deviation of the per-run estimates */
    double log_z0;    /* AIS base: (d/2) ln 2pi + sum ln sigma + n ln 2 */
    double ess;       /* AIS: effective sample size of all chains' weights */
    int runs;
    double run_log_z[EVAE_AIS_MAX_RUNS];
    evae_ais_opts opts;
} evae_log_z;

/* AIS options of the [eval] section. */
evae_ais_opts evae_eval_ais_opts(const evae_config *cfg);

/* log Z of m's prior: exact for prior=gaussian, else AIS with o, one evae_ais_log_z call per run
 * (run r under seed o->seed + r, so each run reports progress) pooled over all chains. The runs
 * are dealt to the ranks of comm (run r to rank r % size) and gathered, so every rank returns the
 * same numbers as one process would. */
int evae_eval_log_z(const evae_model *m, const evae_ais_opts *o, evae_log_z *r,
                    evae_eval_progress_fn progress, void *ctx, const evae_comm *comm);

/* ---- stages 2, 4, 5: importance sampling from q(z|x) ---- */

typedef struct evae_is_opts {
    int k;         /* samples per example */
    int rows;      /* (example, sample) rows per decoder pass */
    uint64_t seed; /* eps of example e: stream evae_eval_stream(EVAE_EVAL_IS_EPS, first + e) */
    int first;     /* index of x_dev's first example in the test set (a rank's share) */
} evae_is_opts;

/* Per test example, with a_k = ln p(x|z_k) - E(z_k) - ln q(z_k|x), c_k = -E(z_k) - ln q(z_k|x):
 * host arrays [n], all in nats, none yet normalized by the prior's log Z. */
typedef struct evae_is_examples {
    int n, k;
    double *lme_a;    /* ln mean_k exp(a_k): estimates ln p(x) + ln Z */
    double *lme_c;    /* ln mean_k exp(c_k): estimates ln Z with q(z|x) as proposal (eqs. 3, 4) */
    double *mean_a;   /* mean_k a_k: the ALB with ln q(z_k|x) (eq. 3's first term) */
    double *alb;      /* mean_k [ln p(x|z_k) - E(z_k)] + analytic entropy: the ALB */
    double *alb_sd;   /* sample sd of ln p(x|z_k) - E(z_k) over k */
    double *ll;       /* mean_k ln p(x|z_k) */
    double *ess_a;    /* (sum w)^2 / sum w^2 of w_k = exp(a_k) */
    double *ess_c;    /* the same for exp(c_k) */
    double *log_det;  /* ln|dy/du| of the logit transform (CIFAR-10), else 0 */
} evae_is_examples;

/* Runs the importance sampling on n prepared inputs x_dev [n, x_dim] (backend memory).
 * Returns non-zero with a message on bad options. Free r with evae_is_examples_free. */
int evae_eval_importance(const evae_model *m, const float *x_dev, int n, const evae_is_opts *o,
                         evae_is_examples *r, evae_eval_progress_fn progress, void *ctx);
void evae_is_examples_free(evae_is_examples *r);

/* evae_eval_importance on the n examples of x_dev split into the contiguous shares of comm's
 * ranks (o->first = 0), each rank on its own, the per-example results gathered on every rank in
 * example order: the numbers of one process up to the rounding of the encoder's batched products. */
int evae_eval_importance_ranks(const evae_model *m, const float *x_dev, int n,
                               const evae_is_opts *o, evae_is_examples *r,
                               evae_eval_progress_fn progress, void *ctx, const evae_comm *comm);

/* A quantity averaged over the test set: per-example values v_e. */
typedef struct evae_quantity {
    double mean, std_err; /* over examples */
    double bpd, bpd_std_err; /* bits/dim of ln p(u) = v + log_det (CIFAR-10), NAN otherwise */
} evae_quantity;

/* q = mean and standard error of v[n]; with bits_per_dim, also of the per-example bits/dim
 * -(v_e + log_det_e)/(D ln 2) + 8 (v a log-likelihood in logit space), else bpd fields NAN. */
void evae_quantity_of(evae_quantity *q, const double *v, const double *log_det, int n, int D,
                      int bits_per_dim);

/* The IS-based estimates, all as log-likelihood-like values (higher is better), normalized by
 * log_z. std_err is over test examples; the uncertainty of log_z adds to every term that
 * contains it (reported apart, as log_z_std_err). */
typedef struct evae_is_summary {
    evae_quantity ln_p;     /* mean_e lme_a - log Z                    (stage 2) */
    evae_quantity sn_eq4;   /* mean_e lme_a - lme_c                    (paper eq. 4) */
    evae_quantity sn_eq3;   /* mean_e mean_a - lme_c                   (paper eq. 3, a VLB) */
    evae_quantity elbo;     /* mean_e alb - log Z: the VLB eq. 3 estimates */
    evae_quantity alb;      /* mean_e alb: not a bound on ln p(x) for an unnormalized prior */
    evae_quantity ll;       /* E_q ln p(x|z) */
    evae_quantity bias_eq4; /* sn_eq4 - ln_p = mean_e (log Z - lme_c) */
    evae_quantity bias_eq3; /* sn_eq3 - elbo */
    double ess_frac_mean;   /* mean_e ess_a / K */
    double ess_frac_min;
    double log_z, log_z_std_err;
} evae_is_summary;

/* D: data dimension (for bits/dim); bits_per_dim: also fill the bpd fields. */
void evae_is_summarize(const evae_is_examples *r, double log_z, double log_z_std_err, int D,
                       int bits_per_dim, evae_is_summary *s);

/* ---- stage 3: the classifier T(x, z) of Algorithm 2 ---- */

/* T(x, z) = MLP([x | z]): (x_dim + d) -> hidden (ReLU) -> hidden (ReLU) -> 1 logit, trained with
 * the logistic loss, label 1 for (x, z ~ q(z|x)) and 0 for (x, z ~ p(z)); at the optimum
 * T = ln q(z|x) - ln p(z). The first layer's weight [x_dim + d, hidden] is applied as its two
 * row blocks (x W_x + z W_z), so x and z are never copied into one input. */
typedef struct evae_classifier {
    const evae_backend *be;
    int x_dim, d, hidden, cap;  /* cap: pairs per step, 2 x (examples per step) */
    evae_network net;           /* the whole MLP (layout and init) */
    evae_network tail;          /* its layers after the first */
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v; /* [n_params] backend */
    long steps;                 /* Adam t */
    float *x2, *z2;             /* [cap, x_dim], [cap, d]: a step's pairs */
    float *acts[EVAE_MAX_LAYERS + 1]; /* acts[0] = first-layer output [cap, hidden], ... [cap, 1] */
    float *labels;              /* [cap] */
    float *ll;                  /* [cap] per-pair ln sigmoid(+-T) (scratch) */
    float *dout;                /* [cap, 1] */
    float *dh;                  /* [cap, hidden] dL/d(first-layer output) */
    float *scratch[2];          /* [cap, hidden] */
    float *t_host;              /* [cap] host */
} evae_classifier;

/* cap_examples: examples per step (2 x that many pairs). Weights from (seed, init salt 16). */
int evae_classifier_create(evae_classifier *c, const evae_backend *be, int x_dim, int d,
                           int hidden, int cap_examples, uint64_t seed);
void evae_classifier_free(evae_classifier *c);

/* t[B] (backend) = T(x[B, x_dim], z[B, d]); B <= 2 cap_examples. */
void evae_classifier_logits(evae_classifier *c, const float *x, const float *z, int B, float *t);

/* Loss L = mean over the 2B pairs of softplus(-T) (positives (x, z_pos)) and softplus(T)
 * (negatives (x, z_neg)); c->grads = dL/dparams. Returns L (host, double); *correct (may be
 * NULL) receives how many of the 2B pairs the sign of T classifies right. */
double evae_classifier_grad(evae_classifier *c, const float *x, const float *z_pos,
                            const float *z_neg, int B, int *correct);

/* evae_classifier_grad, then one Adam step with (lr, beta1 0.9, beta2 0.999, eps 1e-8). */
double evae_classifier_step(evae_classifier *c, const float *x, const float *z_pos,
                            const float *z_neg, int B, float lr, int *correct);

/* Training data of the classifier, epoch by epoch: fill writes x[B, x_dim], z_pos[B, d] and
 * z_neg[B, d] (backend) for examples [start, start + B) of epoch `epoch`. */
typedef struct evae_pair_source {
    int n; /* examples per epoch */
    void (*fill)(void *ctx, int epoch, int start, int B, float *x, float *z_pos, float *z_neg);
    void *ctx;
} evae_pair_source;

typedef struct evae_classifier_fit {
    double loss, accuracy; /* of the last epoch's steps */
} evae_classifier_fit;

/* Trains for `epochs` epochs in steps of up to cap_examples examples, the Adam step size
 * decaying linearly from lr to 0 over all steps. */
void evae_classifier_train(evae_classifier *c, const evae_pair_source *src, int epochs, float lr,
                           evae_classifier_fit *fit, evae_eval_progress_fn progress, void *ctx);

typedef struct evae_classifier_opts {
    int epochs, hidden, batch;
    double lr;
    int train_limit;    /* 0 = all training examples */
    int langevin_steps;
    double langevin_eta;
    uint64_t seed;
} evae_classifier_opts;

typedef struct evae_classifier_result {
    evae_quantity vlb;     /* E_test[ln p(x|z) - T(x, z)], z ~ q(z|x): Algorithm 2's estimate */
    evae_quantity kl;      /* E_test[T(x, z)]: the classifier's KL(q(z|x) || p(z)) */
    evae_quantity ll;      /* E_test[ln p(x|z)] of the same z */
    double heldout_accuracy; /* sign of T on test pairs (x, z ~ q) and (x, z ~ prior chains) */
    double train_loss, train_accuracy; /* last training epoch */
    int train_examples, test_examples;
    double *vlb_e; /* [test_examples] ln p(x|z) - T(x, z) per test example (malloc'd) */
} evae_classifier_result;

void evae_classifier_result_free(evae_classifier_result *r);

/* Stage 3 on a model: positives from q(z|x) of freshly binarized training examples each epoch,
 * negatives from a pool of prior chains (started at N(mu, sigma^2), langevin_steps of Langevin
 * with langevin_eta), one per training example, re-paired each epoch; held out: the test inputs
 * x_test [n_test, x_dim] against q and against a second, independent pool of chains. */
int evae_eval_classifier(const evae_model *m, const float *train_dev, int n_train,
                         const float *x_test, int n_test, const evae_classifier_opts *o,
                         int bits_per_dim, const double *log_det, evae_classifier_result *r,
                         evae_eval_progress_fn progress, void *ctx);

/* ---- the whole evaluation and its report ---- */

typedef struct evae_eval_report {
    char checkpoint[4096];
    char out_dir[4096];
    char test_set[16], device[16]; /* "test" or "validation"; the backend that ran */
    int n_test, n_train, x_dim, d, n;
    int bits_per_dim;          /* 1 for CIFAR-10 (logit-space data): also report bits/dim */
    long epoch;                /* epochs the checkpoint was trained */
    evae_config cfg;           /* the resolved configuration ([eval] holds the settings) */
    evae_log_z lz;
    double objective_log_z;    /* the prior objective's own ln Z (nce's learned c), else NAN */
    evae_is_summary is;
    evae_classifier_result cls;
    evae_quantity cls_minus_elbo; /* classifier VLB - (ALB - log Z), paired by test example */
    evae_quantity kl_log_z;       /* E_q[ln q(z|x) + E(z)] + log Z per example: the true KL */
    evae_stage_time t_prepare, t_log_z, t_is, t_classifier, t_total;
} evae_eval_report;

/* eval_examples.csv: a header, then one row per test example e (0-based, the order of the test
 * set) with the columns of eval.json's estimates, as -log-likelihoods in nats (lower is better):
 *   nll_importance_sampling = -(lme_a - log Z), nll_self_normalized_eq4 = -(lme_a - lme_c),
 *   neg_vlb_self_normalized_eq3 = -(mean_a - lme_c), neg_vlb_classifier = -cls_vlb,
 *   neg_elbo = -(alb - log Z), neg_alb = -alb, reconstruction = -ll,
 * and log_det (ln|dy/du| of the logit transform; 0 for MNIST). Their means are eval.json's
 * values; bits/dim per example are (value - log_det) / (D ln 2) + 8 with D = eval.json's
 * data_dim. Written atomically. Returns non-zero with a message on I/O errors. */
int evae_eval_write_examples(const char *path, const evae_is_examples *ex, const double *cls_vlb,
                             double log_z);

/* Writes eval.json and eval.md into r->out_dir. Returns non-zero with a message on I/O errors. */
int evae_eval_write(const evae_eval_report *r);

/* The table of eval.md (markdown) to f. */
void evae_eval_print_table(const evae_eval_report *r, FILE *f);

#endif
