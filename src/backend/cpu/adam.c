/* Adam on the CPU (the twin of kernels/adam.cu): the per-element update is evae_adam_elem
 * (evae/math/vae_math.h), with the bias corrections computed once, in double, rounded to float. */
#include <math.h>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_parallel.h"
#include "evae/math/vae_math.h"

void cpu_adam(const evae_backend *be, float *p, float *m, float *v, const float *g, size_t n,
              float lr, float beta1, float beta2, float eps, long t)
{
    float bc1 = (float)(1.0 - pow(beta1, (double)t)), bc2 = (float)(1.0 - pow(beta2, (double)t));
#pragma omp parallel for schedule(static) if (cpu_par_worth(n))
    for (size_t i = 0; i < n; i++)
        evae_adam_elem(&p[i], &m[i], &v[i], g[i], lr, beta1, beta2, eps, bc1, bc2);
}
