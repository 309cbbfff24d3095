#include "evae/laplace.h"

#include <math.h>

double evae_laplace_scale_from_l1(double l1_sum, size_t count)
{
    double b = count ? l1_sum / (double)count : 0.0;
    return b > EVAE_LAPLACE_SCALE_FLOOR ? b : EVAE_LAPLACE_SCALE_FLOOR;
}

double evae_laplace_calibrated_scale(const float *mean, const float *y, size_t n)
{
    double l1 = 0.0; /* in double: n is batch * 3072, millions of terms */
    for (size_t i = 0; i < n; i++) l1 += fabs((double)y[i] - (double)mean[i]);
    return evae_laplace_scale_from_l1(l1, n);
}
