/* The mpi communicator: MPI over MPI_COMM_WORLD. Backend memory is reduced in place on the CPU
 * backend (host memory) and staged through a host buffer on any other. Every MPI call is checked;
 * MPI's default handler (MPI_ERRORS_ARE_FATAL) already ends the job on a communication error, and
 * evae's own failures end it with MPI_Abort, which mpirun and srun turn into the end of every
 * rank. Built only when CMake found MPI (EVAE_HAVE_MPI). */
#include "dist/comm_impl.h"

#ifdef EVAE_HAVE_MPI

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/util.h"

typedef struct mpi_state {
    float *stage;       /* [stage_n] host copy of a backend buffer being reduced */
    size_t stage_n;
    int *displs;        /* [size] allgather offsets */
    char describe[256]; /* MPI_Get_library_version's first line */
} mpi_state;

static mpi_state *state_of(const evae_comm *c) { return (mpi_state *)c->ctx; }

/* counts beyond INT_MAX elements are split: MPI counts are int */
enum { MPI_CHUNK = 1 << 30 };

static void mpi_allreduce_sum(const evae_comm *c, float *buf, size_t n)
{
    float *host = buf;
    int staged = strcmp(c->be ? c->be->name : "cpu", "cpu") != 0;
    if (staged) {
        mpi_state *s = state_of(c);
        if (s->stage_n < n) {
            free(s->stage);
            s->stage = evae_xcalloc(n, sizeof(float));
            s->stage_n = n;
        }
        host = s->stage;
        c->be->download(c->be, host, buf, n * sizeof(float));
    }
    for (size_t off = 0; off < n; off += MPI_CHUNK) {
        int k = n - off < MPI_CHUNK ? (int)(n - off) : MPI_CHUNK;
        MPI_Allreduce(MPI_IN_PLACE, host + off, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    if (staged) c->be->upload(c->be, buf, host, n * sizeof(float));
}

static void mpi_allreduce_host(const evae_comm *c, double *buf, size_t n)
{
    for (size_t off = 0; off < n; off += MPI_CHUNK) {
        int k = n - off < MPI_CHUNK ? (int)(n - off) : MPI_CHUNK;
        MPI_Allreduce(MPI_IN_PLACE, buf + off, k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    }
}

static void mpi_allgather_host(const evae_comm *c, const double *mine, double *all,
                               const int *counts)
{
    mpi_state *s = state_of(c);
    int at = 0;
    for (int r = 0; r < c->size; r++) {
        s->displs[r] = at;
        at += counts[r];
    }
    MPI_Allgatherv(mine, counts[c->rank], MPI_DOUBLE, all, counts, s->displs, MPI_DOUBLE,
                   MPI_COMM_WORLD);
}

static void mpi_broadcast_host(const evae_comm *c, void *buf, size_t bytes, int root)
{
    for (size_t off = 0; off < bytes; off += MPI_CHUNK) {
        int k = bytes - off < MPI_CHUNK ? (int)(bytes - off) : MPI_CHUNK;
        MPI_Bcast((char *)buf + off, k, MPI_BYTE, root, MPI_COMM_WORLD);
    }
}

static __attribute__((noreturn)) void mpi_abort(const evae_comm *c, int code)
{
    fflush(stdout);
    /* said by evae itself: Open MPI's own notice can be lost (its help text fails to unpack in
     * builds with AddressSanitizer) */
    evae_error("ending all %d ranks (MPI_Abort, exit status %d)", c->size, code);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code); /* MPI_Abort does not return; this keeps the compiler sure of it */
}

static const char *mpi_describe(const evae_comm *c) { return state_of(c)->describe; }

static void mpi_close(evae_comm *c)
{
    mpi_state *s = state_of(c);
    free(s->stage);
    free(s->displs);
    free(s);
    free(c);
    MPI_Finalize();
}

int evae_comm_mpi_built(void) { return 1; }

evae_comm *evae_comm_mpi_create(int *argc, char ***argv)
{
    int provided = 0;
    /* one thread calls MPI; OpenBLAS's threads never do */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        evae_error("MPI_Init failed");
        return NULL;
    }
    evae_comm *c = evae_xcalloc(1, sizeof *c);
    mpi_state *s = evae_xcalloc(1, sizeof *s);
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    /* the ranks that share this host's memory, in rank order: the local rank picks the GPU */
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &c->local_rank);
    MPI_Comm_free(&node);
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(version, &len);
    version[strcspn(version, "\n")] = '\0';
    snprintf(s->describe, sizeof s->describe, "%s", version);
    s->displs = evae_xcalloc((size_t)c->size, sizeof(int));
    c->name = "mpi";
    c->ctx = s;
    c->allreduce_sum = mpi_allreduce_sum;
    c->allreduce_host = mpi_allreduce_host;
    c->allgather_host = mpi_allgather_host;
    c->broadcast_host = mpi_broadcast_host;
    c->abort = mpi_abort;
    c->describe = mpi_describe;
    c->close = mpi_close;
    return c;
}

#else /* built without MPI */

#include "evae/util.h"

int evae_comm_mpi_built(void) { return 0; }

evae_comm *evae_comm_mpi_create(int *argc, char ***argv)
{
    evae_error("this evae was built without MPI");
    return NULL;
}

#endif
