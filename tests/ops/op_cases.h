/* One table of backend op cases, shared by the GPU op test (tests/gpu/test_cuda_ops.c, through
 * op_compare.h) and the per-op benchmark (bench/bench_kernels.c), as ggml's test-backend-ops
 * does. A case is an op kind (which backend entry it calls) and its parameters; the kind knows
 * the case's buffers, how to make its inputs, how to call the op, its FLOPs and bytes (for the
 * benchmark's floor) and the tolerance of each output against the CPU backend (for the test).
 * op_test_cases lists the test's shapes (odd sizes, edge values), op_bench_cases the paper's
 * sizes and larger batches. The library is built from tests/ops/ and linked by tests and
 * benchmarks only. */
#ifndef EVAE_TESTS_OP_CASES_H
#define EVAE_TESTS_OP_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "evae/backend/backend.h"

enum { OP_MAX_BUFS = 6 };

/* how a buffer is used by the op */
typedef enum { OP_IN, OP_OUT, OP_INOUT } op_role;

/* How an input is filled: OP_FILL_NORMAL (scale * N(0,1)), OP_FILL_UNIFORM (in (0,1)) and
 * OP_FILL_ZERO are filled by whoever runs the case (on the host for the test, where the backend
 * computes for the benchmark); OP_FILL_CUSTOM by the kind's init, which may read only custom
 * buffers. */
typedef enum { OP_FILL_CUSTOM, OP_FILL_NORMAL, OP_FILL_UNIFORM, OP_FILL_ZERO } op_fill;

typedef struct op_buf {
    const char *name; /* the op's parameter name, for messages */
    size_t count;     /* elements; 0: the op gets NULL here */
    op_role role;
    op_fill fill;     /* inputs only */
    float scale;      /* OP_FILL_NORMAL */
    int is_int;       /* int32 elements (row indices) instead of float */
    int fixed;        /* benchmark: one copy shared by every input set (a resident data set) */
    int per_set;      /* benchmark: init makes different values for each input set */
    int is_f64;       /* double elements (OP_FILL_CUSTOM only; test cases only, not benchmarked) */
} op_buf;

typedef struct op_kind op_kind;

/* One case. The kind documents which parameters it reads. */
typedef struct op_case {
    const op_kind *kind;
    char group[24]; /* benchmark group: grbm, elementwise, adam, gemm, conv */
    char name[64];  /* what runs, e.g. "bias_act (ReLU)" or "enc.1 weight grad" */
    char shape[96]; /* its sizes, e.g. "mnist rows=512 cols=512" */
    int m, n, k, ta, tb; /* gemm: C[m,n] = alpha op(A) op(B) + beta C; GRBM: d visible, n hidden */
    int rows, cols;      /* col_sum, bias_act */
    int B, D, d, M, T;   /* batch, data dimension, latent dimension, projections, table rows */
    int N, C, HW;        /* channel ops: [N, C, HW] */
    int steps;           /* chains and Adam */
    int relu;
    int outputs;         /* ops with optional outputs: OP_OUT_1 and/or OP_OUT_2 (0: both) */
    size_t count;        /* flat ops */
    float alpha, beta, scale;
    long t0;             /* Adam: the steps run are t0 + 1, ... */
    uint64_t seed, stream;
    uint64_t start;      /* random fills: index of the first draw */
    evae_conv_shape conv;
} op_case;

enum { OP_OUT_1 = 1, OP_OUT_2 = 2 };

struct op_kind {
    const char *op; /* the backend entry */
    /* b[] for case c; returns how many */
    int (*buffers)(const op_case *c, op_buf *b);
    /* The custom inputs of input set `set` into host[i] (host[i] NULL: not to be filled; for
     * set > 0 only the per_set buffers are passed). NULL when the kind has none. */
    void (*init)(const op_case *c, int set, void *const *host);
    /* Runs the op on be with buffers buf[] (backend memory, NULL where count is 0); `call`
     * counts the runs of a benchmark (0 in the test), so that random streams move on. Returns
     * the op's scalar result (sum), 0 otherwise. */
    double (*run)(const evae_backend *be, const op_case *c, void *const *buf, uint64_t call);
    double (*flops)(const op_case *c);
    double (*bytes)(const op_case *c);
    /* Tolerance of output i of another backend against the CPU backend, per element, from the
     * host inputs in[] (NULL for outputs) and the CPU's results want[] (NULL for inputs): fills
     * tol[count] and returns 1, or returns 0 when the output must match bit for bit. NULL: the
     * kind is benchmarked only (its test is test_cuda_grbm.c or test_ais.c). */
    int (*tolerance)(const op_case *c, int i, void *const *in, void *const *want, double *tol);
    /* ops with a scalar result: its tolerance given the CPU's */
    double (*scalar_tolerance)(const op_case *c, void *const *in, double want);
};

typedef struct op_case_list {
    op_case *cases;
    int n, cap;
} op_case_list;

/* The GPU op test's cases: every op of evae_backend but memory and the GRBM ops, at odd sizes
 * with edge values (NaN, ties, saturating logits). */
void op_test_cases(op_case_list *l);

/* The benchmark's cases, in its order: for each of `sizes` ("paper", "fill" = `fill` times the
 * batch; comma-separated) the `groups` (grbm, elementwise, adam, gemm, conv) at the paper's
 * MNIST and CIFAR-10 sizes. The layer shapes come from the models built on be; gpu picks the
 * AIS temperatures (a call well under a second). Non-zero with a message when a model cannot be
 * built. */
int op_bench_cases(op_case_list *l, const evae_backend *be, int gpu, const char *groups,
                   const char *sizes, int fill);

void op_case_list_free(op_case_list *l);

/* 1 when `item` is one of the comma-separated names in list */
int op_list_has(const char *list, const char *item);

/* the seed of every input the cases make */
#define OP_SEED 0x5eed0fc0dafULL

/* The host values of an OP_FILL_NORMAL, OP_FILL_UNIFORM or OP_FILL_ZERO buffer b, the i-th of
 * its case (the test makes every input this way; the benchmark fills these on its device). */
void op_fill_host(int i, const op_buf *b, float *host);

#endif
