/* What the CPU GRBM ops (grbm_energy.c, grbm_ssm.c, grbm_chains.c) share, the twin of
 * kernels/grbm_common.cuh: the precisions, the hidden pre-activations and the energy with its
 * scratch. Matrix products go through cpu_gemm (OpenBLAS); every per-element formula comes from
 * evae/math/grbm_math.h, which the CUDA kernels share.
 *
 * Notation as in evae/math/grbm_math.h: D = diag(1/sigma^2) with sigma = exp(log_sigma),
 * x = D z, a = W^T x + b, p = sigmoid(a), q = p (1 - p). */
#ifndef EVAE_CPU_GRBM_COMMON_H
#define EVAE_CPU_GRBM_COMMON_H

#include <stddef.h>

#include "backend/cpu/cpu_ops.h"
#include "evae/util.h"

/* a zero-filled host buffer of count floats */
static inline float *cpu_fbuf(size_t count) { return evae_xcalloc(count, sizeof(float)); }

/* prec[d] = 1/sigma^2 */
void cpu_grbm_precisions(const float *log_sigma, int d, float *prec);

/* out[rows, d] = in[rows, d] * prec[d] (column scaling by D) */
void cpu_grbm_scale_cols(float *out, const float *in, size_t rows, int d, const float *prec);

/* A[B,n] = (D z) W + b, using x[B,d] as scratch for D z. */
void cpu_grbm_preactivations(const evae_backend *be, const float *theta, int d, int n,
                             const float *z, int B, const float *prec, float *x, float *A);

/* Scratch for the energy: x[B,d], A[B,n], wp[B,d], prec[d]. */
typedef struct {
    float *x, *A, *wp, *prec;
} cpu_grbm_energy_scratch;

cpu_grbm_energy_scratch cpu_grbm_energy_scratch_alloc(int d, int n, int B);
void cpu_grbm_energy_scratch_free(cpu_grbm_energy_scratch *s);

/* grbm_energy with caller-provided scratch (the Langevin chains reuse it every step) */
void cpu_grbm_energy_with(const evae_backend *be, const float *theta, int d, int n, float beta,
                          const float *z, int B, float *E, float *dEdz, cpu_grbm_energy_scratch *s);

#endif
