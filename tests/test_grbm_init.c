/* GRBM initialization: mu = 0, log_sigma = 0, b = 0, W ~ N(0, 0.01^2) from the documented draws. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "evae/math/grbm.h"
#include "evae/model/grbm_init.h"
#include "evae/math/philox.h"

int main(void)
{
    const int d = 64, n = 128;
    size_t P = evae_grbm_size(d, n);
    float *th = malloc(P * sizeof(float)), *again = malloc(P * sizeof(float));
    float *other = malloc(P * sizeof(float));
    for (size_t k = 0; k < P; k++) th[k] = again[k] = other[k] = 7.0f; /* must be overwritten */
    evae_grbm_init(th, d, n, 42);
    evae_grbm_init(again, d, n, 42);
    evae_grbm_init(other, d, n, 43);
    CHECK(memcmp(th, again, P * sizeof(float)) == 0, "same seed, different parameters");
    CHECK(memcmp(th, other, P * sizeof(float)) != 0, "different seeds, same parameters");
    int zeros = 1;
    for (int i = 0; i < d; i++)
        zeros &= th[evae_grbm_mu(d, n) + i] == 0.0f && th[evae_grbm_log_sigma(d, n) + i] == 0.0f;
    for (int j = 0; j < n; j++) zeros &= th[evae_grbm_b(d, n) + j] == 0.0f;
    CHECK(zeros, "mu, log_sigma and b are not all zero");
    const float *W = th + evae_grbm_W(d, n);
    double s = 0, s2 = 0;
    int exact = 1;
    for (size_t k = 0; k < (size_t)d * n; k++) {
        s += W[k];
        s2 += (double)W[k] * W[k];
        exact &= W[k] == 0.01f * evae_normal_at(42, evae_stream(EVAE_STREAM_INIT, 0), k);
    }
    CHECK(exact, "W differs from 0.01 * evae_normal_at(seed, evae_stream(EVAE_STREAM_INIT, 0), k)");
    double N = (double)d * n, mean = s / N, sd = sqrt(s2 / N - mean * mean);
    /* 8192 draws: SE of the mean 0.01/90 = 1.1e-4, relative SE of the sd ~0.8%; 5 SE */
    CHECK(fabs(mean) < 5.5e-4, "W mean %.3g", mean);
    CHECK(fabs(sd - 0.01) < 0.01 * 0.04, "W sd %.5f, want 0.01", sd);
    free(th);
    free(again);
    free(other);
    return check_report("test_grbm_init");
}
