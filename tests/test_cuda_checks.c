/* The CUDA backend's entries refuse arguments their kernels cannot take: each call below (one or
 * more per entry: a negative size, a missing buffer, a GRBM without units, an Adam step 0, a
 * convolution without output, sizes beyond int) must abort with a message naming the op. The
 * entries check before they touch any state, so the calls go through the backend's table
 * without a device (evae_cuda_table_for_checks) and the test runs on every machine where evae is
 * built with CUDA; each call runs in a child process whose stderr is read back. Skipped (77)
 * when built without CUDA. */
#define _DEFAULT_SOURCE /* fork, pipe, alarm under -std=c11 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#ifdef EVAE_HAVE_CUDA
#include "cuda_testing.h"

/* a buffer address the entries get for the arguments that are fine; never dereferenced */
static float dummy[4];
#define P dummy

static const evae_conv_shape no_output = {1, 3, 4, 4, 8, 5, 5, 1, 0}; /* 5x5 filter on 4x4 */
static const evae_conv_shape some_images = {-1, 3, 8, 8, 8, 3, 3, 1, 1};
static const evae_conv_shape fine = {2, 3, 8, 8, 8, 3, 3, 1, 1};

typedef struct bad_call {
    const char *op;
    void (*call)(const evae_backend *be);
} bad_call;

#define BAD(name, body) static void name(const evae_backend *be) { body; }
BAD(upload_null, be->upload(be, NULL, P, 4))
BAD(download_null, be->download(be, NULL, P, 4))
BAD(copy_null, be->copy(be, P, NULL, 4))
BAD(zero_null, be->zero(be, NULL, 4))
BAD(gemm_negative, be->gemm(be, 0, 0, -1, 3, 2, 1.0f, P, P, 0.0f, P))
BAD(gemm_null, be->gemm(be, 0, 0, 2, 3, 2, 1.0f, NULL, P, 0.0f, P))
BAD(col_sum_negative, be->col_sum(be, P, P, -1, 3, 0.0f))
BAD(axpy_null, be->axpy(be, P, NULL, 3, 1.0f))
BAD(sum_null, (void)be->sum(be, NULL, 3))
BAD(scale_null, be->scale(be, NULL, 3, 2.0f))
BAD(uniform_null, be->rand_uniform(be, NULL, 3, 1, 2, 0))
BAD(normal_null, be->rand_normal(be, NULL, 3, 1, 2, 5))
BAD(rademacher_null, be->rand_rademacher(be, NULL, 3, 1, 2, 0))
BAD(accumulate_diff_null, be->accumulate_diff(be, (double *)P, P, NULL, 3))
BAD(gather_negative, be->gather_rows(be, P, P, (const int *)P, -2, 3))
BAD(gather_null, be->gather_rows(be, P, P, NULL, 2, 3))
BAD(bias_act_negative, be->bias_act(be, P, P, 3, -1, 1))
BAD(relu_backward_null, be->relu_backward(be, P, NULL, 3))
BAD(binarize_null, be->binarize(be, P, NULL, P, 3))
BAD(logit_null, be->logit_dequantize(be, P, P, NULL, 3, 0.05f))
BAD(reparam_negative, be->reparam(be, P, P, P, 2, -1))
BAD(bernoulli_null, be->bernoulli_ll(be, NULL, P, P, P, 2, 3, 1.0f))
BAD(gauss_null, be->gauss_posterior(be, P, P, P, NULL, P, 2, 3, 1.0f))
BAD(adam_step, be->adam(be, P, P, P, P, 3, 1e-3f, 0.9f, 0.999f, 1e-8f, 0))
BAD(energy_units, be->grbm_energy(be, P, 0, 4, 1.0f, P, 2, P, P))
BAD(energy_null, be->grbm_energy(be, P, 3, 4, 1.0f, NULL, 2, P, P))
BAD(ssm_negative, be->grbm_ssm(be, P, 3, 4, P, 2, P, -1, 1, P, P))
BAD(ssm_int, be->grbm_ssm(be, P, 3, 4, P, 65536, P, 65536, 1, P, P))
BAD(dsm_null, be->grbm_dsm(be, P, 3, 4, P, 2, NULL, P, P))
BAD(param_grad_units, be->grbm_param_grad(be, P, 3, 0, P, 2, NULL, 0.0f, P))
BAD(param_grad_null, be->grbm_param_grad(be, P, 3, 4, NULL, 2, P, 1.0f, P))
BAD(langevin_negative, be->grbm_langevin(be, P, 3, 4, P, 2, -1, 0.01f, 1, 2))
BAD(gibbs_null, be->grbm_gibbs(be, NULL, 3, 4, P, 2, 1, 1.0f, 1, 2))
BAD(conv_forward_shape, be->conv_forward(be, &no_output, P, P, P))
BAD(conv_data_negative, be->conv_backward_data(be, &some_images, P, P, P))
BAD(conv_filter_null, be->conv_backward_filter(be, &fine, P, P, NULL, 0.0f))
BAD(channel_bias_act_negative, be->channel_bias_act(be, P, P, 2, 3, -4, 1))
BAD(channel_sum_negative, be->channel_sum(be, P, P, -1, 3, 4, 0.0f))
BAD(laplace_null, be->laplace_ll(be, P, P, NULL, P, 2, 3, 0.5f, 1.0f))

static const bad_call calls[] = {
    {"upload", upload_null}, {"download", download_null}, {"copy", copy_null},
    {"zero", zero_null}, {"gemm", gemm_negative}, {"gemm", gemm_null},
    {"col_sum", col_sum_negative}, {"axpy", axpy_null}, {"scale", scale_null}, {"sum", sum_null},
    {"accumulate_diff", accumulate_diff_null},
    {"rand_uniform", uniform_null}, {"rand_normal", normal_null},
    {"rand_rademacher", rademacher_null}, {"gather_rows", gather_negative},
    {"gather_rows", gather_null}, {"bias_act", bias_act_negative},
    {"relu_backward", relu_backward_null}, {"binarize", binarize_null},
    {"logit_dequantize", logit_null}, {"reparam", reparam_negative},
    {"bernoulli_ll", bernoulli_null}, {"gauss_posterior", gauss_null}, {"adam", adam_step},
    {"grbm_energy", energy_units}, {"grbm_energy", energy_null}, {"grbm_ssm", ssm_negative},
    {"grbm_ssm", ssm_int}, {"grbm_dsm", dsm_null}, {"grbm_param_grad", param_grad_units},
    {"grbm_param_grad", param_grad_null}, {"grbm_langevin", langevin_negative},
    {"grbm_gibbs", gibbs_null},
    {"conv_forward", conv_forward_shape}, {"conv_backward_data", conv_data_negative},
    {"conv_backward_filter", conv_filter_null}, {"channel_bias_act", channel_bias_act_negative},
    {"channel_sum", channel_sum_negative}, {"laplace_ll", laplace_null},
};

/* Runs c in a child: it must die of SIGABRT, having said which op refused its arguments. */
static void expect_refused(const evae_backend *be, const bad_call *c)
{
    int fds[2];
    if (pipe(fds) != 0) {
        CHECK(0, "pipe failed");
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        alarm(30); /* a call that got through the checks must not hang the test */
        c->call(be);
        _exit(0);
    }
    close(fds[1]);
    char text[1024];
    size_t len = 0;
    ssize_t got;
    while (len < sizeof text - 1 && (got = read(fds[0], text + len, sizeof text - 1 - len)) > 0)
        len += (size_t)got;
    text[len] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    fputs(text, stderr);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
          "%s: the call was not refused (child status %d)", c->op, status);
    char want[128];
    snprintf(want, sizeof want, "the CUDA backend's %s was called with bad arguments", c->op);
    CHECK(strstr(text, want) != NULL, "%s: the message does not name the op: '%s'", c->op, text);
}

int main(void)
{
    const evae_backend *be = evae_cuda_table_for_checks();
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) expect_refused(be, &calls[i]);
    return check_report("test_cuda_checks");
}

#else /* built without CUDA */

int main(void)
{
    printf("test_cuda_checks: skipped: built without CUDA\n");
    return 77;
}

#endif
