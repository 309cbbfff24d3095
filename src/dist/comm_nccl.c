/* The nccl communicator: backend memory is reduced by NCCL on the CUDA backend's stream
 * (evae/backend/nccl.h); the host collectives and the broadcast of NCCL's unique id go through
 * the run's host communicator (mpi, or none for a single rank). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/comm_impl.h"
#include "evae/backend/nccl.h"
#include "evae/util.h"

typedef struct nccl_state {
    evae_comm *host; /* the mpi or none communicator underneath */
    evae_nccl *nccl;
    char describe[320];
} nccl_state;

static nccl_state *state_of(const evae_comm *c) { return (nccl_state *)c->ctx; }

static void nccl_allreduce_sum(const evae_comm *c, float *buf, size_t n)
{
    char why[320];
    if (evae_nccl_allreduce_sum(state_of(c)->nccl, buf, n, why, sizeof why)) {
        evae_error("%s", why);
        c->abort(c, 1);
    }
}

static void nccl_allreduce_host(const evae_comm *c, double *buf, size_t n)
{
    evae_comm *h = state_of(c)->host;
    h->allreduce_host(h, buf, n);
}

static void nccl_allgather_host(const evae_comm *c, const double *mine, double *all,
                                const int *counts)
{
    evae_comm *h = state_of(c)->host;
    h->allgather_host(h, mine, all, counts);
}

static void nccl_broadcast_host(const evae_comm *c, void *buf, size_t bytes, int root)
{
    evae_comm *h = state_of(c)->host;
    h->broadcast_host(h, buf, bytes, root);
}

static __attribute__((noreturn)) void nccl_abort(const evae_comm *c, int code)
{
    evae_comm *h = state_of(c)->host;
    h->abort(h, code);
}

static const char *nccl_describe(const evae_comm *c) { return state_of(c)->describe; }

static void nccl_close(evae_comm *c)
{
    nccl_state *s = state_of(c);
    evae_nccl_destroy(s->nccl);
    evae_comm *h = s->host;
    free(s);
    free(c);
    h->close(h);
}

/* EVAE_NCCL_TIMEOUT: seconds a rank waits in NCCL before it gives up on its peers (default 600:
 * longer than any pause of rank 0 for checkpoints and grids) */
static double nccl_timeout(void)
{
    const char *v = getenv("EVAE_NCCL_TIMEOUT");
    double t = v ? atof(v) : 0.0;
    return t > 0 ? t : 600.0;
}

evae_comm *evae_comm_nccl_create(evae_comm *host, const evae_backend *be)
{
    unsigned char id[EVAE_NCCL_ID_BYTES];
    char why[320] = "";
    /* rank 0 makes the id; a rank that cannot stops every rank (the others wait in the broadcast) */
    if (host->rank == 0 && evae_nccl_unique_id(id, why, sizeof why)) {
        evae_error("%s", why);
        host->abort(host, 1);
    }
    host->broadcast_host(host, id, sizeof id, 0);
    evae_nccl *n = evae_nccl_create(be, id, host->rank, host->size, nccl_timeout(), why,
                                    sizeof why);
    if (!n) {
        evae_error("%s", why);
        host->abort(host, 1);
    }
    evae_comm *c = evae_xcalloc(1, sizeof *c);
    nccl_state *s = evae_xcalloc(1, sizeof *s);
    s->host = host;
    s->nccl = n;
    const char *hd = host->describe(host);
    snprintf(s->describe, sizeof s->describe, "%s%s%s", evae_nccl_version(), hd[0] ? "; " : "",
             hd);
    *c = *host;
    c->name = "nccl";
    c->be = be;
    c->ctx = s;
    c->allreduce_sum = nccl_allreduce_sum;
    c->allreduce_host = nccl_allreduce_host;
    c->allgather_host = nccl_allgather_host;
    c->broadcast_host = nccl_broadcast_host;
    c->abort = nccl_abort;
    c->describe = nccl_describe;
    c->close = nccl_close;
    return c;
}
