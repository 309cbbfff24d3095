/* Drawing from the prior with the batched chains and decoding latents into viewable images. */
#ifndef EVAE_SAMPLING_H
#define EVAE_SAMPLING_H

#include "evae/io/config.h"
#include "evae/model/model.h"
#include "evae/model/objective.h"

/* count chains started at z ~ N(mu, sigma^2) (the GRBM without its coupling), run `steps` of
 * Langevin (eta) or block Gibbs; z_dev [count, d] in backend memory receives the final states.
 * Returns non-zero with a message for a sampler that is not one of the enum's. */
int evae_sample_prior(const evae_model *m, evae_sampler sampler, int steps, float eta, int count,
                      uint64_t seed, float *z_dev);

/* Decodes z_dev [count, d] (count <= w->cap) into images_host [count, x_dim] in [0,1]:
 * Bernoulli means for MNIST, the inverse logit transform of the Laplace means for CIFAR-10. */
void evae_decode_images(const evae_model *m, evae_workspace *w, const float *z_dev, int count,
                        float *images_host);

#endif
