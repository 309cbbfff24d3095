/* Langevin and block-Gibbs chains for the GRBM (the twin of src/backend/cpu/grbm_chains.c), all
 * steps of a call in one launch: each block
 * owns CPB chains at a time, keeps their states in shared memory and loops the steps inside the
 * kernel. One step of a chain is two products with W (hidden pre-activations a = W^T D z + b,
 * then the visible pass W p or W h) and the per-element update of evae/math/grbm_math.h.
 *
 * Random draws: the noise of step t, chain c, unit i (or j) is evae_normal_at / evae_uniform_at
 * at the index evae/math/grbm_math.h assigns (evae_grbm_langevin_index, evae_grbm_gibbs_h_index,
 * evae_grbm_gibbs_z_index), the positions the CPU backend uses, so a CUDA chain follows the CPU
 * chain from the same start within float rounding. The generator is Philox4x32-10, the same as
 * cuRAND's CURAND_RNG_PSEUDO_PHILOX4_32_10 (a GPU test checks the equivalence); evaluating it per
 * draw from the counter, instead of carrying a cuRAND state, is what keeps the positions equal to
 * the CPU's.
 *
 * Paths (grbm_common.cuh): W in shared memory (padded rows, CPB = 4), or W read through L2 with
 * a transposed copy WT[n,d] in scratch so both passes read coalesced and CPB = 8 chains share
 * every load. A Gibbs chain's h_j is a threshold u < sigmoid(beta a_j): where u falls within
 * rounding of the threshold the CPU and the GPU can pick different h, after which that chain
 * follows a different (equally valid) path; the GPU test accounts for it. */
#include "cuda_ops.cuh"
#include "evae/math/philox.h"
#include "grbm_common.cuh"

static size_t chain_bytes(int d, int n, int cpb, bool smem_w)
{
    size_t w = smem_w ? (size_t)d * grbm_ldw(n) : 0;
    return sizeof(float) * (w + (size_t)d + 2 * (size_t)cpb * d + (size_t)cpb * n);
}

/* param: eta (Langevin) or beta (Gibbs). WT[n,d] = W^T when !SMEM_W (unused otherwise). */
template <int CPB, bool SMEM_W, bool GIBBS>
static __global__ void grbm_chain_kernel(grbm_view g, const float *WT, int d, int n, float *z,
                                         int B, int steps, float param, uint64_t seed,
                                         uint64_t stream)
{
    extern __shared__ float sh[];
    const int ldw = grbm_ldw(n);
    const int tid = threadIdx.x, T = blockDim.x;
    float *Ws = sh;                                      /* [d, ldw] W (shared path only) */
    float *prec = sh + (SMEM_W ? (size_t)d * ldw : 0);   /* [d] D */
    float *zs = prec + d;                                /* [CPB, d] chain states */
    float *xs = zs + CPB * d;                            /* [CPB, d] D z */
    float *hs = xs + CPB * d;                            /* [CPB, n] p (Langevin) or h (Gibbs) */
    if (SMEM_W) grbm_load_W(Ws, g.W, d, n, ldw);
    for (int i = tid; i < d; i += T) prec[i] = evae_grbm_precision(g.log_sigma[i]);
    __syncthreads();

    for (int c0 = blockIdx.x * CPB; c0 < B; c0 += gridDim.x * CPB) {
        const int cnt = B - c0 < CPB ? B - c0 : CPB; /* chains of this group */
        for (int k = tid; k < CPB * d; k += T)
            zs[k] = k / d < cnt ? z[(size_t)c0 * d + k] : 0.0f;
        __syncthreads();
        for (int t = 0; t < steps; t++) {
            for (int k = tid; k < CPB * d; k += T) xs[k] = prec[k % d] * zs[k];
            __syncthreads();
            for (int j = tid; j < n; j += T) { /* hidden: a = W^T x + b */
                float acc[CPB];
#pragma unroll
                for (int c = 0; c < CPB; c++) acc[c] = g.b[j];
                for (int i = 0; i < d; i++) {
                    float w = SMEM_W ? Ws[i * ldw + j] : g.W[(size_t)i * n + j];
#pragma unroll
                    for (int c = 0; c < CPB; c++) acc[c] += w * xs[c * d + i];
                }
#pragma unroll
                for (int c = 0; c < CPB; c++) {
                    float h = 0.0f;
                    if (c < cnt) {
                        if (GIBBS) {
                            float uu = evae_uniform_at(
                                seed, stream, evae_grbm_gibbs_h_index(t, B, d, n, c0 + c, j));
                            h = evae_grbm_gibbs_h(acc[c], param, uu);
                        } else {
                            h = evae_sigmoidf(acc[c]);
                        }
                    }
                    hs[c * n + j] = h;
                }
            }
            __syncthreads();
            for (int i = tid; i < d; i += T) { /* visible: W p or W h, then the update */
                float acc[CPB];
#pragma unroll
                for (int c = 0; c < CPB; c++) acc[c] = 0.0f;
                for (int j = 0; j < n; j++) {
                    float w = SMEM_W ? Ws[i * ldw + j] : WT[(size_t)j * d + i];
#pragma unroll
                    for (int c = 0; c < CPB; c++) acc[c] += w * hs[c * n + j];
                }
#pragma unroll
                for (int c = 0; c < CPB; c++) {
                    if (c >= cnt) continue;
                    float zi = zs[c * d + i];
                    if (GIBBS) {
                        float xi = evae_normal_at(seed, stream,
                                                  evae_grbm_gibbs_z_index(t, B, d, n, c0 + c, i));
                        zs[c * d + i] = evae_grbm_gibbs_z(g.mu[i], g.log_sigma[i], param, acc[c],
                                                          xi);
                    } else {
                        float dE = evae_grbm_dEdz(zi, g.mu[i], prec[i], 1.0f, acc[c]);
                        float xi = evae_normal_at(seed, stream,
                                                  evae_grbm_langevin_index(t, B, d, c0 + c, i));
                        zs[c * d + i] = evae_grbm_langevin_update(zi, dE, param, xi);
                    }
                }
            }
            __syncthreads();
        }
        for (int k = tid; k < cnt * d; k += T) z[(size_t)c0 * d + k] = zs[k];
        __syncthreads(); /* the next group's load overwrites zs */
    }
}

/* WT[n,d] = W[d,n]^T (writes coalesced; W is small next to the chain work) */
static __global__ void grbm_transpose_kernel(float *WT, const float *W, int d, int n)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < (size_t)d * n;
         k += (size_t)gridDim.x * blockDim.x) {
        size_t j = k / (size_t)d, i = k - j * (size_t)d;
        WT[k] = W[i * (size_t)n + j];
    }
}

template <int CPB, bool SMEM_W, bool GIBBS>
static void chain_kernel_launch(cuda_context *c, grbm_view g, const float *WT, int d, int n,
                                float *z, int B, int steps, float param, uint64_t seed,
                                uint64_t stream)
{
    void (*kernel)(grbm_view, const float *, int, int, float *, int, int, float, uint64_t,
                   uint64_t) = grbm_chain_kernel<CPB, SMEM_W, GIBBS>;
    size_t bytes = chain_bytes(d, n, CPB, SMEM_W);
    grbm_allow_smem(kernel, bytes);
    int groups = (B + CPB - 1) / CPB;
    int blocks = grbm_item_blocks(c, grbm_resident_blocks(c, kernel, GRBM_THREADS, bytes), groups,
                                  SMEM_W);
    kernel<<<blocks, GRBM_THREADS, bytes, c->stream>>>(
        g, WT, d, n, z, B, steps, param, seed, stream);
    CUDA_CHECK_LAUNCH();
}

template <bool GIBBS>
static void chains_launch(cuda_context *c, const float *theta, int d, int n, float *z, int B,
                          int steps, float param, uint64_t seed, uint64_t stream)
{
    grbm_view g = grbm_split(theta, d, n);
    if (grbm_fused_fits(c, chain_bytes(d, n, 4, true))) {
        chain_kernel_launch<4, true, GIBBS>(c, g, NULL, d, n, z, B, steps, param, seed, stream);
        return;
    }
    float *WT = (float *)cuda_scratch(c, (size_t)d * n * sizeof(float)); /* [n,d] */
    if ((size_t)d * n > 0) {
        grbm_transpose_kernel<<<grbm_grid_for(c, (size_t)d * n), EVAE_THREADS, 0, c->stream>>>(
            WT, g.W, d, n);
        CUDA_CHECK_LAUNCH();
    }
    if (chain_bytes(d, n, 8, false) + 1024 <= c->smem_optin)
        chain_kernel_launch<8, false, GIBBS>(c, g, WT, d, n, z, B, steps, param, seed, stream);
    else /* one chain per block fits: the entry checked */
        chain_kernel_launch<1, false, GIBBS>(c, g, WT, d, n, z, B, steps, param, seed, stream);
}

/* the entries: check, then run the chains */
template <bool GIBBS>
static void chains(const evae_backend *be, const char *op, const float *theta, int d, int n,
                   float *z, int B, int steps, float param, uint64_t seed, uint64_t stream)
{
    grbm_check(op, theta, d, n, B);
    cuda_need_count(op, "steps", steps);
    if (B == 0 || steps == 0) return;
    cuda_need_buf(op, "z", z, true);
    cuda_context *c = cuda_of(be);
    if (chain_bytes(d, n, 1, false) + 1024 > c->smem_optin)
        cuda_bad_arg(op, "chains of a d = %d, n = %d GRBM need %zu bytes of shared memory per "
                     "block, more than this card's %zu", d, n, chain_bytes(d, n, 1, false),
                     c->smem_optin);
    chains_launch<GIBBS>(c, theta, d, n, z, B, steps, param, seed, stream);
}

void cuda_grbm_langevin(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                        int steps, float eta, uint64_t seed, uint64_t stream)
{
    chains<false>(be, "grbm_langevin", theta, d, n, z, B, steps, eta, seed, stream);
}

void cuda_grbm_gibbs(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                     int steps, float beta, uint64_t seed, uint64_t stream)
{
    chains<true>(be, "grbm_gibbs", theta, d, n, z, B, steps, beta, seed, stream);
}
