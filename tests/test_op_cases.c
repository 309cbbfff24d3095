/* The GPU op test's table (tests/ops/) on the CPU: every case of op_test_cases run through the very
 * comparison test_cuda_ops.c makes, with the CPU backend on both sides. The results must match
 * (within each kind's tolerance, which must therefore be a number), and every output element must
 * be written (the second side's outputs start as NaN), so a case whose inputs, call or tolerance
 * is broken fails here, on every machine, before it reaches a GPU. */
#include "check.h"
#include "ops/op_compare.h"

int main(void)
{
    const evae_backend *cpu = evae_cpu_backend();
    op_case_list l;
    op_test_cases(&l);
    CHECK(l.n > 50, "only %d cases", l.n);
    for (int i = 0; i < l.n; i++) {
        const op_case *c = &l.cases[i];
        CHECK(c->kind->tolerance || c->kind->scalar_tolerance, "%s %s: no tolerance", c->name,
              c->shape);
        op_compare(cpu, cpu, c, strncmp(c->kind->op, "conv_backward", 13) == 0);
    }
    printf("test_op_cases: %d cases\n", l.n);
    op_case_list_free(&l);
    return check_report("test_op_cases");
}
