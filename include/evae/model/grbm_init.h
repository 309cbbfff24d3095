/* Initial parameters of the GRBM prior. */
#ifndef EVAE_GRBM_INIT_H
#define EVAE_GRBM_INIT_H

#include <stdint.h>

/* theta_host[evae_grbm_size(d, n)]: mu = 0, log_sigma = 0, b = 0 and
 * W[i*n + j] = 0.01 * evae_normal_at(seed, evae_stream(EVAE_STREAM_INIT, 0), i*n + j). */
void evae_grbm_init(float *theta_host, int d, int n, uint64_t seed);

#endif
