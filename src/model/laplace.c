#include "evae/model/laplace.h"

#include <math.h>

double evae_laplace_scale_from_l1(double l1_sum, size_t count)
{
    double b = count ? l1_sum / (double)count : 0.0;
    return b > EVAE_LAPLACE_SCALE_FLOOR ? b : EVAE_LAPLACE_SCALE_FLOOR;
}
