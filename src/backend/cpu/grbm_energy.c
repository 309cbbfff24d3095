/* The GRBM energy and its z-gradient on the CPU (the twin of kernels/grbm_energy.cu), and the
 * helpers grbm_common.h declares:
 *   a = W^T (D z) + b,  E = sum_i 0.5 D_i (z_i - mu_i)^2 - sum_j softplus(beta a_j),
 *   dE/dz_i = D_i ((z_i - mu_i) - beta (W sigmoid(beta a))_i). */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_parallel.h"
#include "backend/cpu/grbm_common.h"
#include "evae/math/grbm.h"
#include "evae/math/grbm_math.h"

/* prec[d] = 1/sigma^2 */
void cpu_grbm_precisions(const float *log_sigma, int d, float *prec)
{
    for (int i = 0; i < d; i++) prec[i] = evae_grbm_precision(log_sigma[i]);
}

/* out[rows, d] = in[rows, d] * prec[d] (column scaling by D) */
void cpu_grbm_scale_cols(float *out, const float *in, size_t rows, int d, const float *prec)
{
#pragma omp parallel for schedule(static) if (cpu_par_worth(rows * d))
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < d; i++) out[r * d + i] = in[r * d + i] * prec[i];
}

/* A[B,n] = (D z) W + b, using x[B,d] as scratch for D z. */
void cpu_grbm_preactivations(const evae_backend *be, const float *theta, int d, int n,
                             const float *z, int B, const float *prec, float *x, float *A)
{
    const float *W = theta + evae_grbm_W(d, n), *bias = theta + evae_grbm_b(d, n);
    cpu_grbm_scale_cols(x, z, (size_t)B, d, prec);
    for (int c = 0; c < B; c++) memcpy(A + (size_t)c * n, bias, sizeof(float) * (size_t)n);
    cpu_gemm(be, 0, 0, B, n, d, 1.0f, x, W, 1.0f, A);
}

cpu_grbm_energy_scratch cpu_grbm_energy_scratch_alloc(int d, int n, int B)
{
    cpu_grbm_energy_scratch s;
    s.x = cpu_fbuf((size_t)B * d);
    s.A = cpu_fbuf((size_t)B * n);
    s.wp = cpu_fbuf((size_t)B * d);
    s.prec = cpu_fbuf((size_t)d);
    return s;
}

void cpu_grbm_energy_scratch_free(cpu_grbm_energy_scratch *s)
{
    free(s->x);
    free(s->A);
    free(s->wp);
    free(s->prec);
}

void cpu_grbm_energy_with(const evae_backend *be, const float *theta, int d, int n, float beta,
                          const float *z, int B, float *E, float *dEdz, cpu_grbm_energy_scratch *s)
{
    const float *mu = theta + evae_grbm_mu(d, n), *W = theta + evae_grbm_W(d, n);
    cpu_grbm_precisions(theta + evae_grbm_log_sigma(d, n), d, s->prec);
    cpu_grbm_preactivations(be, theta, d, n, z, B, s->prec, s->x, s->A);
    if (E) {
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)B * (d + n)))
        for (int c = 0; c < B; c++) {
            const float *zc = z + (size_t)c * d, *ac = s->A + (size_t)c * n;
            double e = 0.0; /* per-example sums in double: AIS differences these energies */
            for (int i = 0; i < d; i++) e += evae_grbm_quad_term(zc[i], mu[i], s->prec[i]);
            for (int j = 0; j < n; j++) e -= evae_softplusf(beta * ac[j]);
            E[c] = (float)e;
        }
    }
    if (dEdz) {
        /* A <- sigmoid(beta A) = p_beta; wp[B,d] = p_beta W^T */
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)B * n))
        for (size_t k = 0; k < (size_t)B * n; k++) s->A[k] = evae_sigmoidf(beta * s->A[k]);
        cpu_gemm(be, 0, 1, B, d, n, 1.0f, s->A, W, 0.0f, s->wp);
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)B * d))
        for (int c = 0; c < B; c++)
            for (int i = 0; i < d; i++) {
                size_t k = (size_t)c * d + i;
                dEdz[k] = evae_grbm_dEdz(z[k], mu[i], s->prec[i], beta, s->wp[k]);
            }
    }
}

void cpu_grbm_energy(const evae_backend *be, const float *theta, int d, int n, float beta,
                     const float *z, int B, float *E, float *dEdz)
{
    if (B <= 0 || (!E && !dEdz)) return;
    cpu_grbm_energy_scratch s = cpu_grbm_energy_scratch_alloc(d, n, B);
    cpu_grbm_energy_with(be, theta, d, n, beta, z, B, E, dEdz, &s);
    cpu_grbm_energy_scratch_free(&s);
}

