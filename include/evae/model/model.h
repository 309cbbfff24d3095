/* The energy-prior VAE: encoder and decoder networks, the GRBM prior, and both Adam states.
 * prior=gaussian is the same model with N(0, I) in place of the GRBM: it is represented as a
 * frozen GRBM with mu = 0, sigma = 1, W = 0, b = 0 and one hidden unit, whose energy
 * 0.5|z|^2 - ln 2 has the exactly known log Z = (d/2) ln 2pi + ln 2. */
#ifndef EVAE_MODEL_H
#define EVAE_MODEL_H

#include <stddef.h>

#include "evae/backend/backend.h"
#include "evae/model/network.h"

enum evae_arch { EVAE_ARCH_MLP, EVAE_ARCH_CONV };      /* MNIST MLP, CIFAR-10 conv net */
enum evae_decoder { EVAE_DEC_BERNOULLI, EVAE_DEC_LAPLACE };

typedef struct evae_model_shape {
    enum evae_arch arch;
    int channels, height, width; /* data shape; x_dim = channels*height*width */
    int latent;                  /* d */
    int hidden;                  /* MLP width (MLP only) */
    int grbm_hidden;             /* n (GRBM prior only) */
    int prior_grbm;              /* 1: GRBM trained by score matching; 0: fixed N(0, I) */
} evae_model_shape;

typedef struct evae_model {
    const evae_backend *be;
    evae_model_shape shape;
    int x_dim, d, n; /* data dimension, latent dimension, GRBM hidden units */
    enum evae_decoder decoder;
    evae_network enc, dec; /* enc: x -> [mean | logvar] [2d]; dec: z -> logits or means [x_dim] */

    size_t n_params;                        /* encoder + decoder */
    float *params, *grads, *adam_m, *adam_v; /* [n_params] each, backend memory */
    size_t n_theta;                         /* evae_grbm_size(d, n) */
    float *theta, *theta_grad, *theta_m, *theta_v; /* [n_theta] each, backend memory */
    long vae_steps, prior_steps;            /* Adam step counters (t) */
    float laplace_scale; /* calibrated decoder scale (Laplace decoder), frozen for evaluation */
} evae_model;

/* Builds the architecture and allocates parameter and optimizer buffers (zeroed). */
int evae_model_create(evae_model *m, const evae_backend *be, const evae_model_shape *shape);
/* Fresh initialization from the seed (networks: PyTorch-style uniform; GRBM per evae_grbm_init). */
void evae_model_init(evae_model *m, uint64_t seed);
void evae_model_free(evae_model *m);

/* The sum of every parameter (encoder, decoder, prior), in double: NaN when one is NaN, and a
 * fingerprint by which ranks check that they hold the same parameters. */
double evae_model_param_sum(const evae_model *m);

/* ln Z of the prior when it is known exactly (prior=gaussian); NAN for the GRBM. */
double evae_model_exact_log_z(const evae_model *m);

/* Names of the parameter tensors, for checkpoints: calls fn once per tensor with its name, its
 * offset in params (or theta when in_theta), element count and shape. */
typedef void (*evae_tensor_fn)(void *ctx, const char *name, int in_theta, size_t offset,
                               size_t count, int ndim, const long *shape);
void evae_model_each_tensor(const evae_model *m, evae_tensor_fn fn, void *ctx);

#endif
