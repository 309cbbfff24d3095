/* Running a case of op_cases.h on the CPU backend (the reference) and on another backend from the
 * same host inputs, and comparing every output with the kind's tolerance: the other backend's
 * outputs are poisoned with NaN first, so an element it does not write fails the comparison. */
#ifndef EVAE_TESTS_OP_COMPARE_H
#define EVAE_TESTS_OP_COMPARE_H

#include "compare.h"
#include "ops/op_cases.h"

static inline size_t op_buf_bytes(const op_buf *b)
{
    return b->count * (b->is_f64 ? sizeof(double) : b->is_int ? sizeof(int) : sizeof(float));
}

/* Host inputs of case c into in[] (NULL for outputs and empty buffers): the filled buffers by
 * op_fill_host, then the kind's custom ones. Returns the number of buffers, described in b[]. */
static inline int op_make_inputs(const op_case *c, op_buf *b, void **in)
{
    int nb = c->kind->buffers(c, b);
    for (int i = 0; i < nb; i++) {
        in[i] = NULL;
        if (b[i].role == OP_OUT || b[i].count == 0) continue;
        in[i] = xmalloc(op_buf_bytes(&b[i]));
        if (b[i].fill != OP_FILL_CUSTOM) op_fill_host(i, &b[i], in[i]);
    }
    if (c->kind->init) c->kind->init(c, 0, in);
    return nb;
}

/* be's copies of the buffers: inputs (and in-out buffers) uploaded from in[]; outputs NaN when
 * poison, else the zeros of a fresh allocation */
static inline void op_put(const evae_backend *be, const op_buf *b, int nb, void *const *in,
                          int poison, void **dev)
{
    for (int i = 0; i < nb; i++) {
        dev[i] = NULL;
        if (b[i].count == 0) continue;
        if (b[i].role == OP_OUT && poison) {
            dev[i] = poisoned_on(be, b[i].count);
            continue;
        }
        dev[i] = be->alloc(be, op_buf_bytes(&b[i]));
        if (b[i].role != OP_OUT) be->upload(be, dev[i], in[i], op_buf_bytes(&b[i]));
    }
}

static inline void op_free(const evae_backend *be, int nb, void **dev)
{
    for (int i = 0; i < nb; i++)
        if (dev[i]) be->free(be, dev[i]);
}

/* Case c on ref and on dut; every output of dut within the kind's tolerance of ref's (bit for
 * bit where the kind says so), and the scalar result too. repeat: dut runs a second time on
 * fresh copies and must give the same bits (deterministic). */
static inline void op_compare(const evae_backend *ref, const evae_backend *dut, const op_case *c,
                              int repeat)
{
    op_buf b[OP_MAX_BUFS];
    void *in[OP_MAX_BUFS], *dr[OP_MAX_BUFS], *dd[OP_MAX_BUFS];
    float *want[OP_MAX_BUFS] = {0}, *got[OP_MAX_BUFS] = {0};
    const int nb = op_make_inputs(c, b, in);
    op_put(ref, b, nb, in, 0, dr);
    op_put(dut, b, nb, in, 1, dd);
    double want_r = c->kind->run(ref, c, dr, 0), got_r = c->kind->run(dut, c, dd, 0);
    for (int i = 0; i < nb; i++) {
        if (b[i].role == OP_IN || b[i].count == 0) continue;
        const size_t floats = op_buf_bytes(&b[i]) / sizeof(float); /* a double is two */
        want[i] = get(ref, dr[i], floats);
        got[i] = get(dut, dd[i], floats);
    }
    for (int i = 0; i < nb; i++) {
        if (!want[i]) continue;
        char what[200];
        snprintf(what, sizeof what, "%s %s %s", c->name, c->shape, b[i].name);
        double *tol = xmalloc(b[i].count * sizeof(double));
        if (b[i].is_f64) /* the kinds of double outputs are exact: compared byte for byte */
            CHECK(!c->kind->tolerance(c, i, in, (void *const *)want, tol) &&
                      memcmp(got[i], want[i], op_buf_bytes(&b[i])) == 0,
                  "%s: doubles differ", what);
        else if (c->kind->tolerance(c, i, in, (void *const *)want, tol))
            expect_close(what, got[i], want[i], b[i].count, tol, 0, 0);
        else
            expect_equal(what, got[i], want[i], b[i].count);
        free(tol);
    }
    if (c->kind->scalar_tolerance) {
        double tol = c->kind->scalar_tolerance(c, in, want_r);
        CHECK(fabs(got_r - want_r) <= tol, "%s %s: got %.17g want %.17g tol %.3g", c->name,
              c->shape, got_r, want_r, tol);
    }
    if (repeat) {
        void *d2[OP_MAX_BUFS];
        op_put(dut, b, nb, in, 1, d2);
        c->kind->run(dut, c, d2, 0);
        for (int i = 0; i < nb; i++) {
            if (!got[i]) continue;
            const size_t floats = op_buf_bytes(&b[i]) / sizeof(float);
            float *again = get(dut, d2[i], floats);
            char what[200];
            snprintf(what, sizeof what, "%s %s %s repeated", c->name, c->shape, b[i].name);
            expect_equal(what, again, got[i], floats);
            free(again);
        }
        op_free(dut, nb, d2);
    }
    for (int i = 0; i < nb; i++) free(in[i]), free(want[i]), free(got[i]);
    op_free(ref, nb, dr);
    op_free(dut, nb, dd);
}

#endif
