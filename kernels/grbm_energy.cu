/* GRBM energy E_beta(z) and its gradient dE_beta/dz (the twin of src/backend/cpu/grbm_energy.c;
 * evae/math/grbm_math.h for the formulas, grbm_common.cuh for the two paths):
 *   a = W^T (D z) + b,  E = sum_i 0.5 D_i (z_i - mu_i)^2 - sum_j softplus(beta a_j),
 *   dE/dz_i = D_i ((z_i - mu_i) - beta (W sigmoid(beta a))_i).
 * Per-example energies accumulate in double, as on the CPU (AIS differences them). */
#include "block_reduce.cuh"
#include "cuda_ops.cuh"
#include "grbm_common.cuh"

/* ---- fused path: one block per example at a time, W in shared memory ---- */

static size_t energy_fused_bytes(int d, int n)
{
    return sizeof(float) * ((size_t)d * grbm_ldw(n) + 2 * (size_t)d + (size_t)n);
}

static __global__ void energy_fused_kernel(grbm_view g, int d, int n, float beta, const float *z,
                                           int B, float *E, float *dEdz)
{
    extern __shared__ float sh[];
    const int ldw = grbm_ldw(n);
    float *Ws = sh;                      /* [d, ldw] */
    float *prec = Ws + (size_t)d * ldw;  /* [d] D */
    float *xs = prec + d;                /* [d] D z of the current example */
    float *ps = xs + d;                  /* [n] sigmoid(beta a) */
    grbm_load_W(Ws, g.W, d, n, ldw);
    for (int i = threadIdx.x; i < d; i += blockDim.x) prec[i] = evae_grbm_precision(g.log_sigma[i]);
    __syncthreads();
    for (int c = blockIdx.x; c < B; c += gridDim.x) {
        const float *zc = z + (size_t)c * d; /* [d] */
        double e = 0.0;
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            float zi = zc[i];
            xs[i] = prec[i] * zi;
            e += evae_grbm_quad_term(zi, g.mu[i], prec[i]);
        }
        __syncthreads();
        for (int j = threadIdx.x; j < n; j += blockDim.x) {
            float a = g.b[j];
            for (int i = 0; i < d; i++) a += Ws[i * ldw + j] * xs[i];
            e -= evae_softplusf(beta * a);
            ps[j] = evae_sigmoidf(beta * a);
        }
        __syncthreads();
        if (dEdz)
            for (int i = threadIdx.x; i < d; i += blockDim.x) {
                float wp = 0.0f;
                for (int j = 0; j < n; j++) wp += Ws[i * ldw + j] * ps[j];
                dEdz[(size_t)c * d + i] = evae_grbm_dEdz(zc[i], g.mu[i], prec[i], beta, wp);
            }
        /* No barrier needed before the next example: its first writes (xs) are read only
         * before the barrier above, and its ps writes come after another barrier. */
        if (E) { /* kernel argument: uniform over the block */
            e = block_sum(e);
            if (threadIdx.x == 0) E[c] = (float)e;
        }
    }
}

/* ---- general path: cuBLAS products + row kernels ---- */

/* x[B,d] = D z */
static __global__ void grbm_scale_rows_kernel(float *x, const float *z, const float *log_sigma,
                                              int B, int d)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < (size_t)B * d;
         k += (size_t)gridDim.x * blockDim.x)
        x[k] = evae_grbm_precision(log_sigma[k % (size_t)d]) * z[k];
}

void grbm_scale_rows_launch(cuda_context *c, float *x, const float *z, const float *log_sigma,
                            size_t rows, int d)
{
    size_t count = rows * (size_t)d;
    grbm_scale_rows_kernel<<<grbm_grid_for(c, count), EVAE_THREADS, 0, c->stream>>>(
        x, z, log_sigma, (int)rows, d);
    CUDA_CHECK_LAUNCH();
}

/* Row c: E[c] = sum_i quad - sum_j softplus(beta (A + b)) (double); when want_p,
 * A[c,:] <- sigmoid(beta (A + b)). */
static __global__ void energy_rows_kernel(grbm_view g, int d, int n, float beta, const float *z,
                                          int B, float *A, float *E, int want_p)
{
    for (int c = blockIdx.x; c < B; c += gridDim.x) {
        const float *zc = z + (size_t)c * d; /* [d] */
        float *ac = A + (size_t)c * n;       /* [n] */
        double e = 0.0;
        for (int i = threadIdx.x; i < d; i += blockDim.x)
            e += evae_grbm_quad_term(zc[i], g.mu[i], evae_grbm_precision(g.log_sigma[i]));
        for (int j = threadIdx.x; j < n; j += blockDim.x) {
            float a = ac[j] + g.b[j];
            e -= evae_softplusf(beta * a);
            if (want_p) ac[j] = evae_sigmoidf(beta * a);
        }
        if (E) {
            e = block_sum(e);
            if (threadIdx.x == 0) E[c] = (float)e;
        }
    }
}

/* dEdz[B,d] from wp[B,d] = (W sigmoid(beta a))^T rows */
static __global__ void energy_grad_kernel(grbm_view g, int d, float beta, const float *z, int B,
                                          const float *wp, float *dEdz)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < (size_t)B * d;
         k += (size_t)gridDim.x * blockDim.x) {
        int i = (int)(k % (size_t)d);
        dEdz[k] = evae_grbm_dEdz(z[k], g.mu[i], evae_grbm_precision(g.log_sigma[i]), beta, wp[k]);
    }
}

static void energy_fused_launch(cuda_context *c, grbm_view g, int d, int n, float beta,
                                const float *z, int B, float *E, float *dEdz)
{
    size_t fused = energy_fused_bytes(d, n);
    grbm_allow_smem(energy_fused_kernel, fused);
    int blocks = grbm_item_blocks(
        c, grbm_resident_blocks(c, energy_fused_kernel, GRBM_THREADS, fused), B, true);
    energy_fused_kernel<<<blocks, GRBM_THREADS, fused, c->stream>>>(g, d, n, beta, z, B, E, dEdz);
    CUDA_CHECK_LAUNCH();
}

/* cuBLAS for a = (D z) W and p_beta W^T, row kernels around them */
static void energy_general_launch(const evae_backend *be, grbm_view g, int d, int n, float beta,
                                  const float *z, int B, float *E, float *dEdz)
{
    cuda_context *c = cuda_of(be);
    size_t bd = (size_t)B * d, bn = (size_t)B * n;
    char *ws = (char *)cuda_scratch(c, cuda_align(bd * sizeof(float)) + bn * sizeof(float));
    float *x = (float *)ws;                                    /* [B,d] D z, then wp */
    float *A = (float *)(ws + cuda_align(bd * sizeof(float))); /* [B,n] a - b, then p */
    grbm_scale_rows_launch(c, x, z, g.log_sigma, (size_t)B, d);
    cuda_gemm(be, 0, 0, B, n, d, 1.0f, x, g.W, 0.0f, A);
    const int rows = grbm_item_blocks(c, (int)cuda_row_blocks(c, B), B, false);
    energy_rows_kernel<<<rows, GRBM_THREADS, 0, c->stream>>>(g, d, n, beta, z, B, A, E,
                                                            dEdz != NULL);
    CUDA_CHECK_LAUNCH();
    if (!dEdz) return;
    cuda_gemm(be, 0, 1, B, d, n, 1.0f, A, g.W, 0.0f, x);
    energy_grad_kernel<<<grbm_grid_for(c, bd), EVAE_THREADS, 0, c->stream>>>(
        g, d, beta, z, B, x, dEdz);
    CUDA_CHECK_LAUNCH();
}

void cuda_grbm_energy(const evae_backend *be, const float *theta, int d, int n, float beta,
                      const float *z, int B, float *E, float *dEdz)
{
    grbm_check("grbm_energy", theta, d, n, B);
    if (B == 0 || (!E && !dEdz)) return;
    cuda_need_buf("grbm_energy", "z", z, true);
    grbm_view g = grbm_split(theta, d, n);
    if (grbm_fused_fits(cuda_of(be), energy_fused_bytes(d, n)))
        energy_fused_launch(cuda_of(be), g, d, n, beta, z, B, E, dEdz);
    else
        energy_general_launch(be, g, d, n, beta, z, B, E, dEdz);
}
