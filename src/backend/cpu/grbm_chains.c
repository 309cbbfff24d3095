/* Langevin and block-Gibbs chains for the GRBM on the CPU (the twin of kernels/grbm_chains.cu). */
#include <stdlib.h>

#include "backend/cpu/cpu_parallel.h"
#include "backend/cpu/grbm_common.h"
#include "evae/math/grbm.h"
#include "evae/math/grbm_math.h"
#include "evae/math/philox.h"

/* ---- samplers (draw positions: evae/math/grbm_math.h) ----
 * The draws of one step lie in contiguous index ranges, so they are generated a Philox block
 * (4 words) at a time into a buffer: the same numbers as evae_uniform_at / evae_normal_at at
 * those indices, computed with the same expressions, at a quarter of the Philox work. */

void cpu_grbm_langevin(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                       int steps, float eta, uint64_t seed, uint64_t stream)
{
    if (B <= 0 || steps <= 0) return;
    cpu_grbm_energy_scratch s = cpu_grbm_energy_scratch_alloc(d, n, B);
    float *dEdz = cpu_fbuf((size_t)B * d); /* dEdz[B,d] */
    float *xi = cpu_fbuf((size_t)B * d);   /* xi[B,d] noise of one step */
    for (int t = 0; t < steps; t++) {
        cpu_grbm_energy_with(be, theta, d, n, 1.0f, z, B, NULL, dEdz, &s);
        cpu_fill_normal(xi, (size_t)B * d, seed, stream, evae_grbm_langevin_index(t, B, d, 0, 0));
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)B * d))
        for (size_t k = 0; k < (size_t)B * d; k++)
            z[k] = evae_grbm_langevin_update(z[k], dEdz[k], eta, xi[k]);
    }
    free(dEdz);
    free(xi);
    cpu_grbm_energy_scratch_free(&s);
}

void cpu_grbm_gibbs(const evae_backend *be, const float *theta, int d, int n, float *z, int B,
                    int steps, float beta, uint64_t seed, uint64_t stream)
{
    if (B <= 0 || steps <= 0) return;
    const float *mu = theta + evae_grbm_mu(d, n), *ls = theta + evae_grbm_log_sigma(d, n);
    const float *W = theta + evae_grbm_W(d, n);
    float *prec = cpu_fbuf((size_t)d);         /* prec[d] */
    float *x = cpu_fbuf((size_t)B * d);        /* x[B,d] = D z */
    float *H = cpu_fbuf((size_t)B * n);        /* H[B,n] = a, then h */
    float *WH = cpu_fbuf((size_t)B * d);       /* WH[B,d] = h W^T */
    float *uu = cpu_fbuf((size_t)B * n);       /* uu[B,n] uniforms of one step */
    float *xi = cpu_fbuf((size_t)B * d);       /* xi[B,d] normals of one step */
    cpu_grbm_precisions(ls, d, prec);
    for (int t = 0; t < steps; t++) {
        cpu_grbm_preactivations(be, theta, d, n, z, B, prec, x, H);
        cpu_fill_uniform(uu, (size_t)B * n, seed, stream, evae_grbm_gibbs_h_index(t, B, d, n, 0, 0));
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)B * n))
        for (size_t k = 0; k < (size_t)B * n; k++) H[k] = evae_grbm_gibbs_h(H[k], beta, uu[k]);
        cpu_gemm(be, 0, 1, B, d, n, 1.0f, H, W, 0.0f, WH);
        cpu_fill_normal(xi, (size_t)B * d, seed, stream, evae_grbm_gibbs_z_index(t, B, d, n, 0, 0));
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)B * d))
        for (int c = 0; c < B; c++)
            for (int i = 0; i < d; i++) {
                size_t k = (size_t)c * d + i;
                z[k] = evae_grbm_gibbs_z(mu[i], ls[i], beta, WH[k], xi[k]);
            }
    }
    free(prec); free(x); free(H); free(WH); free(uu); free(xi);
}
