/* Reductions on the CPU (the twin of kernels/reduce.cu): column sums (bias gradients), channel
 * sums (convolution bias gradients), the scalar sum and running sums in double. */
#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_parallel.h"

void cpu_col_sum(const evae_backend *be, float *out, const float *x, int rows, int cols, float beta)
{
    /* beta = 0 overwrites without reading out (BLAS convention: NaN * 0 would stay NaN) */
    for (int j = 0; j < cols; j++) out[j] = beta == 0.0f ? 0.0f : beta * out[j];
    /* threads take blocks of columns; each column adds its rows in order */
    const int block = 64;
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)rows * cols))
    for (int j0 = 0; j0 < cols; j0 += block) {
        const int j1 = j0 + block < cols ? j0 + block : cols;
        for (int r = 0; r < rows; r++) {
            const float *row = x + (size_t)r * cols;
            for (int j = j0; j < j1; j++) out[j] += row[j];
        }
    }
}

void cpu_channel_sum(const evae_backend *be, float *out, const float *x, int N, int C, int HW,
                     float beta)
{
    /* double accumulation: a channel sums N*HW terms (a million for the CIFAR batch) */
#pragma omp parallel for schedule(static) if (cpu_par_worth((size_t)N * C * HW))
    for (int c = 0; c < C; c++) {
        double acc = 0.0;
        for (int n = 0; n < N; n++) {
            const float *row = x + ((size_t)n * C + c) * HW; /* [HW] */
            for (int i = 0; i < HW; i++) acc += row[i];
        }
        out[c] = beta == 0.0f ? (float)acc : (float)(beta * (double)out[c] + acc);
    }
}

double cpu_sum(const evae_backend *be, const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s;
}

void cpu_accumulate_diff(const evae_backend *be, double *acc, const float *a, const float *b,
                         size_t n)
{
    /* the difference of two floats is exact in double unless their exponents lie more than 29
     * apart; the sum then rounds once in double */
    for (size_t i = 0; i < n; i++) acc[i] += (double)a[i] - (double)b[i];
}
