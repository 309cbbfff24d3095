#include "evae/model/grbm_init.h"

#include "evae/math/grbm.h"
#include "evae/math/philox.h"

void evae_grbm_init(float *theta_host, int d, int n, uint64_t seed)
{
    const uint64_t stream = evae_stream(EVAE_STREAM_INIT, 0);
    float *mu = theta_host + evae_grbm_mu(d, n);
    float *log_sigma = theta_host + evae_grbm_log_sigma(d, n);
    float *W = theta_host + evae_grbm_W(d, n), *b = theta_host + evae_grbm_b(d, n);
    for (int i = 0; i < d; i++) mu[i] = log_sigma[i] = 0.0f;
    /* small random coupling breaks the symmetry between hidden units */
    for (size_t k = 0; k < (size_t)d * n; k++) W[k] = 0.01f * evae_normal_at(seed, stream, k);
    for (int j = 0; j < n; j++) b[j] = 0.0f;
}
