/* Adam on the device (the twin of src/backend/cpu/adam.c): the per-element update is
 * evae_adam_elem (evae/math/vae_math.h), the very function the CPU backend runs, with the bias
 * corrections computed once on the host exactly as the CPU computes them (in double, rounded to
 * float). */
#include <math.h>

#include "cuda_ops.cuh"
#include "evae/math/vae_math.h"

/* p[n], m[n], v[n] updated in place from the gradient g[n] */
static __global__ void adam_kernel(float *p, float *m, float *v, const float *g, size_t n, float lr,
                                   float beta1, float beta2, float eps, float bc1, float bc2)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        evae_adam_elem(&p[i], &m[i], &v[i], g[i], lr, beta1, beta2, eps, bc1, bc2);
}

static void adam_launch(cuda_context *c, float *p, float *m, float *v, const float *g, size_t n,
                        float lr, float beta1, float beta2, float eps, long t)
{
    float bc1 = (float)(1.0 - pow(beta1, (double)t)), bc2 = (float)(1.0 - pow(beta2, (double)t));
    adam_kernel<<<cuda_grid_for(c, n, EVAE_THREADS), EVAE_THREADS, 0, c->stream>>>(
        p, m, v, g, n, lr, beta1, beta2, eps, bc1, bc2);
    CUDA_CHECK_LAUNCH();
}

void cuda_adam(const evae_backend *be, float *p, float *m, float *v, const float *g, size_t n,
               float lr, float beta1, float beta2, float eps, long t)
{
    if (n == 0) return;
    cuda_need_buf("adam", "p", p, true);
    cuda_need_buf("adam", "m", m, true);
    cuda_need_buf("adam", "v", v, true);
    cuda_need_buf("adam", "g", g, true);
    if (t < 1) cuda_bad_arg("adam", "step t = %ld, must be >= 1 (bias corrections)", t);
    adam_launch(cuda_of(be), p, m, v, g, n, lr, beta1, beta2, eps, t);
}
