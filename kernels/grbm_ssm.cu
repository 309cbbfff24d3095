/* Sliced and denoising score matching for the GRBM: per-example loss J[B] and grad[theta] =
 * d mean_b J_b / d theta, the same forward and reverse passes as its twin
 * src/backend/cpu/grbm_ssm.c (whose comment derives them) with the per-element formulas of
 * evae/math/grbm_math.h. Denoising score matching (grbm_dsm) is the same pass with no projections
 * (M = 0) and an offset o added to the score in the variance-reduced 0.5 |s + o|^2. Notation per
 * example:
 *   x = D z, a = W^T x + b, p = sigmoid(a), q = p (1 - p), g = W p - (z - mu), s = D g,
 *   y_m = D v_m, u_m = W^T y_m, U2 = (1/M) sum_m u_m^2,
 *   J = -(1/M) sum_m sum_i D_i v_mi^2 + sum_j q_j U2_j + [0.5 |s + o|^2 or (1/M) sum_m 0.5 (v_m.s)^2]
 * Adjoints (the 1/B folded in): GS = dJ/ds, GG = D GS, GU_m = (2/(M B)) q u_m (1/M read as 0
 * when M = 0),
 *   GA = dJ/da = q (1 - 2p) U2 / B + q (W^T GG),
 *   dW = sum_b [GG p^T + x GA^T + sum_m y_m GU_m^T],  db = sum_b GA,  dmu = sum_b GG,
 *   dJ/dD_i = sum_b [GS_i g_i + (W GA)_i z_i + sum_m ((W GU_m)_i v_mi - v_mi^2/(M B))],
 *   dlog_sigma = -2 D dJ/dD.
 * Both paths are deterministic: the per-block (fused) or per-example (general) contributions
 * are summed in a fixed order by col_sum. */
#include <limits.h>

#include "block_reduce.cuh"
#include "cuda_ops.cuh"
#include "grbm_common.cuh"

/* ---- fused path: one block per example at a time, W and the block's dW in shared memory ---- */

size_t grbm_ssm_fused_bytes(int d, int n)
{
    size_t ldw = (size_t)grbm_ldw(n);
    return sizeof(double) * ((size_t)n + d) +
           sizeof(float) * (2 * (size_t)d * ldw + 8 * (size_t)d + 6 * (size_t)n);
}

/* partial[gridDim.x, size]: this block's sum over its examples of the gradient contributions,
 * laid out as theta (with the log_sigma entry already -2 D dJ/dD). */
static __global__ void ssm_fused_kernel(grbm_view g, int d, int n, const float *z, int B,
                                        const float *v, int M, int vr, const float *offset,
                                        float *J, float *partial, size_t size)
{
    extern __shared__ double shd[];
    const int ldw = grbm_ldw(n);
    double *U2 = shd;                   /* [n] sum_m u_m^2 of the current example */
    double *dD = U2 + n;                /* [d] block's dJ/dD */
    float *Ws = (float *)(dD + d);      /* [d, ldw] W */
    float *dWs = Ws + (size_t)d * ldw;  /* [d, ldw] block's dJ/dW */
    float *prec = dWs + (size_t)d * ldw; /* [d] D */
    float *zs = prec + d;               /* [d] z of the current example */
    float *xs = zs + d;                 /* [d] x = D z */
    float *gs = xs + d;                 /* [d] g */
    float *GS = gs + d;                 /* [d] dJ/ds, then GG = D GS */
    float *ys = GS + d;                 /* [d] y_m = D v_m */
    float *dmu = ys + d;                /* [d] block's dJ/dmu */
    float *ss = dmu + d;                /* [d] s = D g */
    float *aa = ss + d;                 /* [n] a */
    float *ps = aa + n;                 /* [n] p */
    float *qs = ps + n;                 /* [n] q */
    float *GU = qs + n;                 /* [n] GU_m */
    float *GA = GU + n;                 /* [n] dJ/da */
    float *db = GA + n;                 /* [n] block's dJ/db */
    const float inv_B = 1.0f / (float)B, inv_M = M > 0 ? 1.0f / (float)M : 0.0f;
    const int tid = threadIdx.x, T = blockDim.x;

    grbm_load_W(Ws, g.W, d, n, ldw);
    for (int k = tid; k < d * ldw; k += T) dWs[k] = 0.0f;
    for (int i = tid; i < d; i += T) {
        prec[i] = evae_grbm_precision(g.log_sigma[i]);
        dD[i] = 0.0;
        dmu[i] = 0.0f;
    }
    for (int j = tid; j < n; j += T) db[j] = 0.0f;
    __syncthreads();

    /* Ownership: loops over i (or j) always use i = tid + k T, so the d- and n-vectors a thread
     * accumulates into (dD, GS, dmu, U2, GA, db) are touched by their owner only; barriers
     * separate a vector's writes from other threads' reads. */
    for (int c = blockIdx.x; c < B; c += gridDim.x) {
        double jacc = 0.0; /* this thread's share of J_c */
        for (int i = tid; i < d; i += T) {
            float zi = z[(size_t)c * d + i];
            zs[i] = zi;
            xs[i] = prec[i] * zi;
            GS[i] = 0.0f;
        }
        for (int j = tid; j < n; j += T) U2[j] = 0.0;
        __syncthreads();
        for (int j = tid; j < n; j += T) { /* a = W^T x + b */
            float a = g.b[j];
            for (int i = 0; i < d; i++) a += Ws[i * ldw + j] * xs[i];
            float p = evae_sigmoidf(a);
            aa[j] = a;
            ps[j] = p;
            qs[j] = p * (1.0f - p);
        }
        __syncthreads();
        for (int i = tid; i < d; i += T) { /* g = W p - (z - mu), s = D g */
            float wp = 0.0f;
            for (int j = 0; j < n; j++) wp += Ws[i * ldw + j] * ps[j];
            float gi = wp - (zs[i] - g.mu[i]);
            float si = prec[i] * gi;
            gs[i] = gi;
            ss[i] = si;
            if (vr) {
                float r = si; /* the score, plus the offset (denoising) */
                if (offset) r += offset[(size_t)c * d + i];
                jacc += 0.5 * (double)r * r;
                GS[i] = inv_B * r;
            }
        }
        __syncthreads();
        for (int m = 0; m < M; m++) {
            const float *vm = v + ((size_t)c * M + m) * d; /* [d] */
            double cpart = 0.0;
            for (int i = tid; i < d; i += T) {
                float vi = vm[i];
                ys[i] = prec[i] * vi;
                jacc -= inv_M * prec[i] * vi * vi;
                dD[i] -= (double)(inv_M * inv_B) * vi * vi;
                if (!vr) cpart += (double)vi * prec[i] * gs[i];
            }
            if (!vr) { /* c_m = v_m . s; the block sum also publishes ys */
                double cm = block_sum_bcast(cpart);
                if (tid == 0) jacc += 0.5 * inv_M * cm * cm;
                float w = (float)(inv_B * inv_M * cm);
                for (int i = tid; i < d; i += T) GS[i] += w * vm[i];
            } else {
                __syncthreads();
            }
            for (int j = tid; j < n; j += T) { /* u = W^T y */
                float u = 0.0f;
                for (int i = 0; i < d; i++) u += Ws[i * ldw + j] * ys[i];
                U2[j] += (double)u * u;
                GU[j] = u * (2.0f * inv_M * inv_B * qs[j]);
            }
            __syncthreads();
            for (int k = tid; k < d * n; k += T) {
                int i = k / n, j = k - i * n;
                dWs[i * ldw + j] += ys[i] * GU[j];
            }
            for (int i = tid; i < d; i += T) {
                float wgu = 0.0f;
                for (int j = 0; j < n; j++) wgu += Ws[i * ldw + j] * GU[j];
                dD[i] += (double)wgu * vm[i];
            }
            __syncthreads(); /* before the next projection rewrites ys and GU */
        }
        for (int j = tid; j < n; j += T) {
            float q, ga;
            jacc += evae_grbm_ssm_hidden(aa[j], (float)(U2[j] * inv_M), &q, &ga);
            GA[j] = ga * inv_B;
        }
        for (int i = tid; i < d; i += T) {
            dD[i] += (double)GS[i] * gs[i];
            float gg = GS[i] * prec[i];
            GS[i] = gg;
            dmu[i] += gg;
        }
        __syncthreads();
        for (int j = tid; j < n; j += T) { /* GA += q (W^T GG) */
            float dp = 0.0f;
            for (int i = 0; i < d; i++) dp += Ws[i * ldw + j] * GS[i];
            GA[j] += qs[j] * dp;
            db[j] += GA[j];
        }
        __syncthreads();
        for (int k = tid; k < d * n; k += T) {
            int i = k / n, j = k - i * n;
            dWs[i * ldw + j] += GS[i] * ps[j] + xs[i] * GA[j];
        }
        for (int i = tid; i < d; i += T) {
            float dx = 0.0f;
            for (int j = 0; j < n; j++) dx += Ws[i * ldw + j] * GA[j];
            dD[i] += (double)dx * zs[i];
        }
        /* block_sum's barriers also keep the next example's writes (zs, xs, GS, U2) after every
         * read of this one's */
        double jc = block_sum(jacc);
        if (tid == 0) J[c] = (float)jc;
    }
    __syncthreads();
    /* theta's layout (evae/math/grbm.h): [mu (d) | log_sigma (d) | W (d x n) | b (n)] */
    float *out = partial + (size_t)blockIdx.x * size; /* [size] */
    for (int i = tid; i < d; i += T) {
        out[i] = dmu[i];
        out[d + i] = (float)(-2.0 * prec[i] * dD[i]);
    }
    for (int k = tid; k < d * n; k += T) {
        int i = k / n, j = k - i * n;
        out[2 * d + k] = dWs[i * ldw + j];
    }
    for (int j = tid; j < n; j += T) out[2 * d + d * n + j] = db[j];
}

/* ---- general path: cuBLAS products + elementwise and row kernels ---- */

/* Over (c, j) of [B, n]: from A = x W (without b) and U = y W: Q = q, GA = q'(a) U2 / B,
 * TH = q U2 (the hidden share of J), A <- p, U[c, m, j] <- GU = (2/(M B)) q u. */
static __global__ void ssm_hidden_kernel(const float *bias, int n, int B, int M, float *A, float *U,
                                         float *Q, float *GA, float *TH)
{
    const float inv_B = 1.0f / (float)B, inv_M = M > 0 ? 1.0f / (float)M : 0.0f;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < (size_t)B * n;
         k += (size_t)gridDim.x * blockDim.x) {
        size_t c = k / (size_t)n, j = k - c * (size_t)n;
        float a = A[k] + bias[j];
        float *uc = U + c * (size_t)M * n + j; /* u_mj at uc[m * n] */
        double u2 = 0.0;
        for (int m = 0; m < M; m++) u2 += (double)uc[(size_t)m * n] * uc[(size_t)m * n];
        float q, ga;
        TH[k] = evae_grbm_ssm_hidden(a, (float)(u2 * inv_M), &q, &ga);
        Q[k] = q;
        GA[k] = ga * inv_B;
        A[k] = evae_sigmoidf(a);
        float scale = 2.0f * inv_M * inv_B * q;
        for (int m = 0; m < M; m++) uc[(size_t)m * n] *= scale;
    }
}

/* Row c: from G = p W^T: G <- g = G - (z - mu); J[c]; GS <- GG = D dJ/ds;
 * DD[c, :] = GS g - sum_m v_m^2 / (M B) (this example's dJ/dD so far). */
static __global__ void ssm_rows_kernel(grbm_view g, int d, int n, const float *z, int B,
                                       const float *v, int M, int vr, const float *offset,
                                       const float *TH, float *G, float *GS, float *DD, float *J)
{
    const float inv_B = 1.0f / (float)B, inv_M = M > 0 ? 1.0f / (float)M : 0.0f;
    for (int c = blockIdx.x; c < B; c += gridDim.x) {
        double jacc = 0.0;
        for (int j = threadIdx.x; j < n; j += blockDim.x) jacc += TH[(size_t)c * n + j];
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            size_t k = (size_t)c * d + i;
            float prec = evae_grbm_precision(g.log_sigma[i]);
            float gi = G[k] - (z[k] - g.mu[i]);
            G[k] = gi;
            float s = prec * gi; /* the score, plus the offset (denoising) */
            if (offset) s += offset[k];
            if (vr) jacc += 0.5 * (double)s * s;
            GS[k] = vr ? inv_B * s : 0.0f;
            float vsq = 0.0f;
            for (int m = 0; m < M; m++) {
                float vi = v[((size_t)c * M + m) * d + i];
                jacc -= inv_M * prec * vi * vi;
                vsq += vi * vi;
            }
            DD[k] = -(inv_M * inv_B) * vsq;
        }
        if (!vr) { /* vr is a kernel argument: uniform over the block */
            for (int m = 0; m < M; m++) {
                const float *vm = v + ((size_t)c * M + m) * d; /* [d] */
                double cpart = 0.0;
                for (int i = threadIdx.x; i < d; i += blockDim.x)
                    cpart += (double)vm[i] * evae_grbm_precision(g.log_sigma[i]) *
                             G[(size_t)c * d + i];
                double cm = block_sum_bcast(cpart);
                if (threadIdx.x == 0) jacc += 0.5 * inv_M * cm * cm;
                float w = (float)(inv_B * inv_M * cm);
                for (int i = threadIdx.x; i < d; i += blockDim.x) GS[(size_t)c * d + i] += w * vm[i];
            }
        }
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            size_t k = (size_t)c * d + i;
            DD[k] += GS[k] * G[k];
            GS[k] *= evae_grbm_precision(g.log_sigma[i]);
        }
        double jc = block_sum(jacc);
        if (threadIdx.x == 0) J[c] = (float)jc;
    }
}

/* GA[B,n] += Q dP */
static __global__ void ssm_ga_kernel(float *GA, const float *Q, const float *dP, size_t count)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < count;
         k += (size_t)gridDim.x * blockDim.x)
        GA[k] += Q[k] * dP[k];
}

/* DD[c, i] += X[c, i] z[c, i] + sum_m Y[c, m, i] v[c, m, i]  (X = GA W^T, Y = GU W^T) */
static __global__ void ssm_dd_kernel(float *DD, const float *X, const float *z, const float *Y,
                                     const float *v, int B, int d, int M)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < (size_t)B * d;
         k += (size_t)gridDim.x * blockDim.x) {
        size_t c = k / (size_t)d, i = k - c * (size_t)d;
        float acc = X[k] * z[k];
        for (int m = 0; m < M; m++) {
            size_t r = ((c * M + m) * (size_t)d) + i;
            acc += Y[r] * v[r];
        }
        DD[k] += acc;
    }
}

/* g_ls[d] <- -2 D g_ls (g_ls holds dJ/dD on entry) */
static __global__ void ssm_log_sigma_kernel(float *g_ls, const float *log_sigma, int d)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < d; i += gridDim.x * blockDim.x)
        g_ls[i] = -2.0f * evae_grbm_precision(log_sigma[i]) * g_ls[i];
}

static void ssm_general_launch(const evae_backend *be, grbm_view g, int d, int n, const float *z,
                               int B, const float *v, int M, int vr, const float *offset, float *J,
                               float *grad)
{
    cuda_context *c = cuda_of(be);
    const size_t BM = (size_t)B * M, bd = (size_t)B * d, bn = (size_t)B * n;
    size_t col_ws = col_sum_workspace_floats(c, B, n);
    if (col_sum_workspace_floats(c, B, d) > col_ws) col_ws = col_sum_workspace_floats(c, B, d);
    size_t sizes[] = {bd, BM * d, bn, BM * n, bd, bd, bd, bn, bn, bn, col_ws};
    float *bufs[sizeof sizes / sizeof *sizes];
    grbm_carve_scratch(c, sizes, sizeof sizes / sizeof *sizes, bufs);
    float *x = bufs[0];   /* [B,d] D z, later GA W^T */
    float *Y = bufs[1];   /* [B*M,d] D v, later GU W^T */
    float *A = bufs[2];   /* [B,n] a - b, then p */
    float *U = bufs[3];   /* [B*M,n] u, then GU */
    float *G = bufs[4];   /* [B,d] p W^T, then g */
    float *GS = bufs[5];  /* [B,d] GG */
    float *DD = bufs[6];  /* [B,d] per-example dJ/dD */
    float *Q = bufs[7];   /* [B,n] q */
    float *GA = bufs[8];  /* [B,n] dJ/da */
    float *TH = bufs[9];  /* [B,n] q U2, later dP = GG W */
    float *ws = bufs[10]; /* col_sum partials */
    float *g_mu = grad + evae_grbm_mu(d, n), *g_ls = grad + evae_grbm_log_sigma(d, n);
    float *g_W = grad + evae_grbm_W(d, n), *g_b = grad + evae_grbm_b(d, n);

    /* forward */
    grbm_scale_rows_launch(c, x, z, g.log_sigma, (size_t)B, d);
    if (M > 0) grbm_scale_rows_launch(c, Y, v, g.log_sigma, BM, d);
    cuda_gemm(be, 0, 0, B, n, d, 1.0f, x, g.W, 0.0f, A);
    cuda_gemm(be, 0, 0, (int)BM, n, d, 1.0f, Y, g.W, 0.0f, U); /* nothing when M = 0 */
    ssm_hidden_kernel<<<grbm_grid_for(c, bn), EVAE_THREADS, 0, c->stream>>>(
        g.b, n, B, M, A, U, Q, GA, TH);
    CUDA_CHECK_LAUNCH();
    cuda_gemm(be, 0, 1, B, d, n, 1.0f, A, g.W, 0.0f, G);
    const int rows = grbm_item_blocks(c, (int)cuda_row_blocks(c, B), B, false);
    ssm_rows_kernel<<<rows, GRBM_THREADS, 0, c->stream>>>(g, d, n, z, B, v, M, vr, offset, TH, G,
                                                         GS, DD, J);
    CUDA_CHECK_LAUNCH();

    /* backward */
    float *dP = TH;
    cuda_gemm(be, 1, 0, d, n, B, 1.0f, GS, A, 0.0f, g_W); /* GG^T p */
    cuda_gemm(be, 0, 0, B, n, d, 1.0f, GS, g.W, 0.0f, dP);
    ssm_ga_kernel<<<grbm_grid_for(c, bn), EVAE_THREADS, 0, c->stream>>>(
        GA, Q, dP, bn);
    CUDA_CHECK_LAUNCH();
    cuda_gemm(be, 1, 0, d, n, B, 1.0f, x, GA, 1.0f, g_W);         /* + x^T GA */
    if (M > 0) cuda_gemm(be, 1, 0, d, n, (int)BM, 1.0f, Y, U, 1.0f, g_W); /* + y^T GU */
    col_sum_launch(c, g_b, GA, B, n, 0.0f, ws);
    col_sum_launch(c, g_mu, GS, B, d, 0.0f, ws);
    cuda_gemm(be, 0, 1, B, d, n, 1.0f, GA, g.W, 0.0f, x);         /* x <- GA W^T */
    cuda_gemm(be, 0, 1, (int)BM, d, n, 1.0f, U, g.W, 0.0f, Y);    /* Y <- GU W^T */
    ssm_dd_kernel<<<grbm_grid_for(c, bd), EVAE_THREADS, 0, c->stream>>>(
        DD, x, z, Y, v, B, d, M);
    CUDA_CHECK_LAUNCH();
    col_sum_launch(c, g_ls, DD, B, d, 0.0f, ws);
    ssm_log_sigma_kernel<<<grbm_grid_for(c, (size_t)d), EVAE_THREADS, 0,
                           c->stream>>>(g_ls, g.log_sigma, d);
    CUDA_CHECK_LAUNCH();
}

/* one block per example at a time; the blocks' partial gradients summed in order by col_sum */
static void ssm_fused_launch(cuda_context *c, grbm_view g, int d, int n, const float *z, int B,
                             const float *v, int M, int vr, const float *offset, float *J,
                             float *grad)
{
    size_t size = evae_grbm_size(d, n), fused = grbm_ssm_fused_bytes(d, n);
    grbm_allow_smem(ssm_fused_kernel, fused);
    int blocks = grbm_item_blocks(
        c, grbm_resident_blocks(c, ssm_fused_kernel, GRBM_THREADS, fused), B, true);
    size_t col_ws = col_sum_workspace_floats(c, blocks, (int)size);
    char *base = (char *)cuda_scratch(c, cuda_align((size_t)blocks * size * sizeof(float)) +
                                             col_ws * sizeof(float));
    float *partial = (float *)base; /* [blocks, size] */
    float *ws = (float *)(base + cuda_align((size_t)blocks * size * sizeof(float)));
    ssm_fused_kernel<<<blocks, GRBM_THREADS, fused, c->stream>>>(
        g, d, n, z, B, v, M, vr, offset, J, partial, size);
    CUDA_CHECK_LAUNCH();
    col_sum_launch(c, grad, partial, blocks, (int)size, 0.0f, ws);
}

/* both ops' pass on one path or the other (M = 0: no projections; offset NULL: none) */
static void ssm_pass(const evae_backend *be, grbm_view g, int d, int n, const float *z, int B,
                     const float *v, int M, int vr, const float *offset, float *J, float *grad)
{
    if (grbm_fused_fits(cuda_of(be), grbm_ssm_fused_bytes(d, n)))
        ssm_fused_launch(cuda_of(be), g, d, n, z, B, v, M, vr, offset, J, grad);
    else
        ssm_general_launch(be, g, d, n, z, B, v, M, vr, offset, J, grad);
}

/* the sizes both entries check: the products take int sizes */
static void ssm_check_sizes(const char *op, int d, int n, int B, int M)
{
    if ((size_t)B * M > INT_MAX || evae_grbm_size(d, n) > INT_MAX)
        cuda_bad_arg(op, "B * M = %zu projected examples or a GRBM of %zu parameters: the "
                     "products take int sizes", (size_t)B * M, evae_grbm_size(d, n));
}

void cuda_grbm_ssm(const evae_backend *be, const float *theta, int d, int n, const float *z, int B,
                   const float *v, int M, int variance_reduced, float *J, float *grad)
{
    grbm_check("grbm_ssm", theta, d, n, B);
    cuda_need_count("grbm_ssm", "M", M);
    cuda_need_buf("grbm_ssm", "grad", grad, true); /* written even for no examples */
    ssm_check_sizes("grbm_ssm", d, n, B, M);
    cuda_context *c = cuda_of(be);
    if (B == 0 || M == 0) {
        CUDA_CHECK(cudaMemsetAsync(grad, 0, evae_grbm_size(d, n) * sizeof(float), c->stream));
        return;
    }
    cuda_need_buf("grbm_ssm", "z", z, true);
    cuda_need_buf("grbm_ssm", "v", v, true);
    cuda_need_buf("grbm_ssm", "J", J, true);
    ssm_pass(be, grbm_split(theta, d, n), d, n, z, B, v, M, variance_reduced != 0, NULL, J, grad);
}

void cuda_grbm_dsm(const evae_backend *be, const float *theta, int d, int n, const float *z, int B,
                   const float *offset, float *J, float *grad)
{
    grbm_check("grbm_dsm", theta, d, n, B);
    cuda_need_buf("grbm_dsm", "grad", grad, true); /* written even for no examples */
    ssm_check_sizes("grbm_dsm", d, n, B, 0);
    cuda_context *c = cuda_of(be);
    if (B == 0) {
        CUDA_CHECK(cudaMemsetAsync(grad, 0, evae_grbm_size(d, n) * sizeof(float), c->stream));
        return;
    }
    cuda_need_buf("grbm_dsm", "z", z, true);
    cuda_need_buf("grbm_dsm", "offset", offset, true);
    cuda_need_buf("grbm_dsm", "J", J, true);
    ssm_pass(be, grbm_split(theta, d, n), d, n, z, B, NULL, 0, 1, offset, J, grad);
}
