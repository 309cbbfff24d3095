/* NCCL on the CUDA backend's stream (evae/backend/nccl.h). The communicator is non-blocking
 * (ncclConfig_t.blocking = 0): no call waits inside NCCL, and every wait here polls
 * ncclCommGetAsyncError and the stream with a deadline, so a peer that died or hangs ends the
 * run with a message after timeout_s instead of a hang. Built only with NCCL (EVAE_HAVE_NCCL);
 * src/backend/backend.c has the entries of a build without it. */
#ifdef EVAE_HAVE_NCCL

#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda_context.cuh"

extern "C" {
#include "evae/backend/nccl.h"
}

static_assert(sizeof(ncclUniqueId) == EVAE_NCCL_ID_BYTES, "NCCL's unique id size changed");

struct evae_nccl {
    ncclComm_t comm;
    cudaStream_t stream; /* the backend's */
    int device;
    double timeout_s;
};

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void pause_briefly(void)
{
    struct timespec t = {0, 100000}; /* 0.1 ms: well under a step, far from a busy loop */
    nanosleep(&t, NULL);
}

/* Waits until the communicator's pending call has been taken up (its asynchronous state leaves
 * ncclInProgress). 0 on success; else the reason in why. */
static int wait_taken(evae_nccl *h, const char *what, double t0, char *why, size_t cap)
{
    for (;;) {
        ncclResult_t st = ncclSuccess;
        ncclResult_t r = ncclCommGetAsyncError(h->comm, &st);
        if (r != ncclSuccess) st = r;
        if (st == ncclSuccess) return 0;
        if (st != ncclInProgress) {
            snprintf(why, cap, "NCCL %s failed: %s (%s)", what, ncclGetErrorString(st),
                     ncclGetLastError(h->comm));
            return 1;
        }
        if (seconds() - t0 > h->timeout_s) {
            snprintf(why, cap, "NCCL %s did not complete within %.0f s (a rank died or hangs; "
                     "EVAE_NCCL_TIMEOUT sets the limit)", what, h->timeout_s);
            return 1;
        }
        pause_briefly();
    }
}

extern "C" int evae_nccl_built(void) { return 1; }

extern "C" int evae_nccl_unique_id(unsigned char id[EVAE_NCCL_ID_BYTES], char *why, size_t cap)
{
    ncclUniqueId uid;
    ncclResult_t r = ncclGetUniqueId(&uid);
    if (r != ncclSuccess) {
        snprintf(why, cap, "ncclGetUniqueId failed: %s", ncclGetErrorString(r));
        return 1;
    }
    memcpy(id, &uid, sizeof uid);
    return 0;
}

extern "C" evae_nccl *evae_nccl_create(const evae_backend *be,
                                       const unsigned char id[EVAE_NCCL_ID_BYTES], int rank,
                                       int size, double timeout_s, char *why, size_t cap)
{
    if (!be || strcmp(be->name, "cuda") != 0) {
        snprintf(why, cap, "NCCL needs the CUDA backend (this run computes on %s)",
                 be ? be->name : "no backend");
        return NULL;
    }
    cuda_context *c = cuda_of(be);
    evae_nccl *h = (evae_nccl *)calloc(1, sizeof *h);
    if (!h) {
        snprintf(why, cap, "out of host memory");
        return NULL;
    }
    h->stream = c->stream;
    h->device = c->device;
    h->timeout_s = timeout_s;
    ncclUniqueId uid;
    memcpy(&uid, id, sizeof uid);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    CUDA_CHECK(cudaSetDevice(c->device));
    double t0 = seconds();
    ncclResult_t r = ncclCommInitRankConfig(&h->comm, size, uid, rank, &config);
    if (r != ncclSuccess && r != ncclInProgress) {
        snprintf(why, cap, "ncclCommInitRankConfig (rank %d of %d) failed: %s", rank, size,
                 ncclGetErrorString(r));
        free(h);
        return NULL;
    }
    if (wait_taken(h, "communicator initialization", t0, why, cap)) {
        ncclCommAbort(h->comm);
        free(h);
        return NULL;
    }
    return h;
}

extern "C" int evae_nccl_allreduce_sum(evae_nccl *h, float *buf, size_t n, char *why, size_t cap)
{
    if (!h->comm) {
        snprintf(why, cap, "the NCCL communicator was aborted by an earlier failure");
        return 1;
    }
    if (n == 0) return 0;
    double t0 = seconds();
    ncclResult_t r = ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, h->comm, h->stream);
    int bad = r != ncclSuccess && r != ncclInProgress;
    if (bad)
        snprintf(why, cap, "ncclAllReduce of %zu floats failed: %s (%s)", n,
                 ncclGetErrorString(r), ncclGetLastError(h->comm));
    bad = bad || wait_taken(h, "all-reduce", t0, why, cap);
    /* then the reduction itself, on the stream: it ends when every rank has contributed */
    while (!bad) {
        cudaError_t q = cudaStreamQuery(h->stream);
        if (q == cudaSuccess) break;
        if (q != cudaErrorNotReady) {
            snprintf(why, cap, "the stream of the all-reduce failed: %s", cudaGetErrorString(q));
            bad = 1;
        } else {
            bad = wait_taken(h, "all-reduce", t0, why, cap);
            if (!bad && seconds() - t0 > h->timeout_s) {
                snprintf(why, cap, "an all-reduce of %zu floats did not complete within %.0f s "
                         "(a rank died or hangs; EVAE_NCCL_TIMEOUT sets the limit)", n,
                         h->timeout_s);
                bad = 1;
            }
            if (!bad) pause_briefly();
        }
    }
    if (bad) {
        ncclCommAbort(h->comm);
        h->comm = NULL;
    }
    return bad;
}

extern "C" void evae_nccl_destroy(evae_nccl *h)
{
    if (!h) return;
    if (h->comm) ncclCommDestroy(h->comm);
    free(h);
}

extern "C" const char *evae_nccl_version(void)
{
    static char text[64];
    int v = 0;
    if (ncclGetVersion(&v) != ncclSuccess) return "NCCL (version unknown)";
    snprintf(text, sizeof text, "NCCL %d.%d.%d", v / 10000, (v / 100) % 100, v % 100);
    return text;
}

#endif /* EVAE_HAVE_NCCL */
