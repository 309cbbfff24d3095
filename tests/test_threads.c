/* The CPU backend gives the same bits on any number of threads (src/backend/cpu/cpu_parallel.h):
 * every case of the op table (tests/ops/: the GPU op test's cases and the benchmark's at the
 * paper's sizes: matrix products, elementwise, Adam, GRBM energy, score matching, chains, AIS,
 * convolutions) run
 * with OpenMP on 1 thread and on 2 and 3 (3: a count that splits rows and chunks unevenly),
 * every output compared bit for bit. Resume and CPU-against-CPU comparisons rely on this. */
#include <omp.h>

#include "check.h"
#include "ops/op_compare.h"

/* runs case c on the CPU from the host inputs in[] and returns its outputs (NULL for inputs) */
static void run_case(const op_case *c, const op_buf *b, int nb, void *const *in, float **out,
                     double *scalar)
{
    const evae_backend *cpu = evae_cpu_backend();
    void *dev[OP_MAX_BUFS];
    op_put(cpu, b, nb, in, 1, dev);
    *scalar = c->kind->run(cpu, c, dev, 0);
    for (int i = 0; i < nb; i++)
        out[i] = b[i].role == OP_IN || b[i].count == 0 ? NULL : get(cpu, dev[i], b[i].count);
    op_free(cpu, nb, dev);
}

static void check_case(const op_case *c)
{
    static const int counts[] = {2, 3};
    op_buf b[OP_MAX_BUFS];
    void *in[OP_MAX_BUFS];
    float *want[OP_MAX_BUFS], *got[OP_MAX_BUFS];
    double want_s, got_s;
    const int nb = op_make_inputs(c, b, in);
    omp_set_num_threads(1);
    run_case(c, b, nb, in, want, &want_s);
    for (size_t t = 0; t < sizeof counts / sizeof *counts; t++) {
        omp_set_num_threads(counts[t]);
        run_case(c, b, nb, in, got, &got_s);
        for (int i = 0; i < nb; i++) {
            if (!want[i]) continue;
            char what[240];
            snprintf(what, sizeof what, "%s %s %s on %d threads", c->name, c->shape, b[i].name,
                     counts[t]);
            expect_equal(what, got[i], want[i], b[i].count);
            free(got[i]);
        }
        CHECK(memcmp(&got_s, &want_s, sizeof got_s) == 0, "%s %s: %.17g on %d threads, %.17g on 1",
              c->name, c->shape, got_s, counts[t], want_s);
    }
    for (int i = 0; i < nb; i++) free(in[i]), free(want[i]);
}

int main(void)
{
    op_case_list tests, paper;
    op_test_cases(&tests);
    CHECK(op_bench_cases(&paper, evae_cpu_backend(), 0, "grbm,elementwise,adam,gemm,conv", "paper",
                         1) == 0,
          "the benchmark's cases");
    int n = 0;
    for (int i = 0; i < tests.n; i++, n++) check_case(&tests.cases[i]);
    for (int i = 0; i < paper.n; i++, n++) check_case(&paper.cases[i]);
    printf("test_threads: %d cases on 1, 2 and 3 threads\n", n);
    op_case_list_free(&tests);
    op_case_list_free(&paper);
    return check_report("test_threads");
}
