/* NCCL on the CUDA backend (evae/backend/nccl.h, kernels/nccl.cu) and the nccl communicator of
 * evae/dist/comm.h built on it.
 *  - One GPU: a one-rank communicator, made the way a run makes it (EVAE_COMM=nccl), sums a
 *    buffer of odd length into itself unchanged, bit for bit, and names NCCL in its description.
 *  - Two or more GPUs: two processes (forked before CUDA starts, one GPU each, the unique id
 *    passed through a pipe as MPI would broadcast it) all-reduce buffers whose float sums are
 *    known exactly (each element the correctly rounded sum of the two ranks' values, which is
 *    what a two-rank ring or tree computes); then one rank leaves without its part of a second
 *    reduction, and the other's must fail within its timeout instead of waiting for ever.
 * Skipped (77) without a device or when built without NCCL. */
#define _DEFAULT_SOURCE /* fork, pipe, setenv under -std=c11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "compare.h"
#include "evae/backend/nccl.h"
#include "evae/dist/comm.h"

enum { N = 100003 }; /* floats per reduction: not a multiple of any chunk size */

static float value_of(int rank, size_t i) { return evae_normal_at(TEST_SEED, 40 + rank, i); }

static void one_rank(const evae_backend *be)
{
    setenv("EVAE_COMM", "nccl", 1);
    evae_comm *c = evae_comm_none();
    CHECK(evae_comm_bind(c, be) == 0, "binding a one-rank communicator to NCCL");
    CHECK(strcmp(c->name, "nccl") == 0, "communicator %s, want nccl", c->name);
    CHECK(strstr(c->describe(c), "NCCL") != NULL, "description '%s' names no NCCL",
          c->describe(c));
    float *h = xmalloc(N * sizeof(float));
    for (size_t i = 0; i < N; i++) h[i] = value_of(0, i);
    float *d = put(be, h, N);
    c->allreduce_sum(c, d, N);
    float *got = get(be, d, N);
    expect_equal("one-rank all-reduce", got, h, N);
    be->free(be, d);
    free(h);
    free(got);
    evae_comm_finalize(c);
    unsetenv("EVAE_COMM");
}

/* rank r of 2 in a child process: exits 0 when its checks pass */
static int two_rank_child(int rank, int id_pipe[2])
{
    unsigned char id[EVAE_NCCL_ID_BYTES];
    char why[320];
    if (rank == 0) {
        if (evae_nccl_unique_id(id, why, sizeof why)) {
            fprintf(stderr, "rank 0: %s\n", why);
            return 1;
        }
        if (write(id_pipe[1], id, sizeof id) != (ssize_t)sizeof id) return 1;
    } else if (read(id_pipe[0], id, sizeof id) != (ssize_t)sizeof id) {
        return 1;
    }
    evae_cuda_use_device(rank);
    const evae_backend *be = evae_cuda_backend(NULL);
    if (!be) return 1;
    evae_nccl *h = evae_nccl_create(be, id, rank, 2, 20.0, why, sizeof why);
    if (!h) {
        fprintf(stderr, "rank %d: %s\n", rank, why);
        return 1;
    }
    float *mine = xmalloc(N * sizeof(float)), *want = xmalloc(N * sizeof(float));
    for (size_t i = 0; i < N; i++) {
        mine[i] = value_of(rank, i);
        want[i] = value_of(0, i) + value_of(1, i);
    }
    float *d = put(be, mine, N);
    int rc = evae_nccl_allreduce_sum(h, d, N, why, sizeof why);
    if (rc) fprintf(stderr, "rank %d: %s\n", rank, why);
    float *got = get(be, d, N);
    expect_equal(rank ? "two-rank all-reduce, rank 1" : "two-rank all-reduce, rank 0", got, want,
                 N);
    free(got);
    /* rank 1 leaves; rank 0's next reduction must give up within the timeout */
    if (rank == 1) _exit(check_failures || rc ? 1 : 0);
    time_t t0 = time(NULL);
    int late = evae_nccl_allreduce_sum(h, d, N, why, sizeof why);
    CHECK(late != 0, "an all-reduce without its peer returned success");
    CHECK(time(NULL) - t0 <= 60, "the failing all-reduce took %ld s", (long)(time(NULL) - t0));
    printf("rank 0, peer gone: %s\n", late ? why : "no error");
    return check_failures || rc ? 1 : 0;
}

static void two_ranks(void)
{
    int id_pipe[2];
    if (pipe(id_pipe)) {
        perror("pipe");
        exit(1);
    }
    pid_t pids[2];
    for (int r = 0; r < 2; r++) {
        pids[r] = fork();
        if (pids[r] == 0) _exit(two_rank_child(r, id_pipe));
    }
    for (int r = 0; r < 2; r++) {
        int status = 0;
        waitpid(pids[r], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "rank %d of 2 failed (status %d)",
              r, status);
    }
}

int main(void)
{
    if (!evae_nccl_built()) {
        printf("test_nccl: skipped: %s\n", evae_nccl_version());
        return 77;
    }
    /* count the devices in a child, so that the parent forks before CUDA starts */
    int count_pipe[2];
    if (pipe(count_pipe)) return 1;
    pid_t p = fork();
    if (p == 0) {
        const evae_backend *be = evae_cuda_backend(NULL);
        int n = be ? evae_cuda_use_device(1) + 1 : 0; /* device 1 when there are two or more */
        if (write(count_pipe[1], &n, sizeof n) != (ssize_t)sizeof n) _exit(1);
        _exit(0);
    }
    int devices = 0;
    if (read(count_pipe[0], &devices, sizeof devices) != (ssize_t)sizeof devices) devices = 0;
    waitpid(p, NULL, 0);
    if (devices == 0) {
        printf("test_nccl: skipped: no CUDA device\n");
        return 77;
    }
    if (devices >= 2) two_ranks();
    else printf("test_nccl: one GPU: the two-rank reductions need two\n");
    /* the one-rank part last, in this process (CUDA starts here) */
    one_rank(evae_cuda_backend(NULL));
    return check_report("test_nccl");
}
