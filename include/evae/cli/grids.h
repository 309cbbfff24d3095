/* The PNG grids a training run writes into its folder. */
#ifndef EVAE_CLI_GRIDS_H
#define EVAE_CLI_GRIDS_H

#include <stdint.h>

#include "evae/io/config.h"
#include "evae/model/model.h"
#include "evae/model/objective.h"

/* Writes samples and reconstructions as PNG grids into dir as samples_<tag>.png and
 * recon_<tag>.png (tag e.g. "epoch003"). heldout_x_dev [count, x_dim]: model inputs of test
 * examples (binarized or transformed), shown above their reconstructions. */
int evae_write_grids(const evae_model *m, evae_workspace *w, const char *dir, const char *tag,
                     evae_sampler sampler, int steps, float eta, int n_samples, uint64_t seed,
                     const float *heldout_x_dev, int n_recon);

#endif
