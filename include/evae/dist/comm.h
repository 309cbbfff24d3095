/* Communication between the processes ("ranks") of a data-parallel run (docs/DESIGN.md section
 * 9). Every rank runs the same program on its share of each batch (evae/dist/share.h); these
 * collectives are the only places where ranks meet, and every rank must call them in the same
 * order. Three implementations of the one table:
 *  - none: one process; the sums are the values themselves (always built);
 *  - mpi:  MPI (MPI_Allreduce, ...) over host memory; backend memory is staged through the host
 *          (on the CPU backend it is host memory and is reduced in place);
 *  - nccl: ncclAllReduce on the CUDA backend's stream for backend memory, one GPU per rank, the
 *          NCCL unique id broadcast over MPI; host collectives through MPI.
 * A failed collective does not return: it reports and ends every rank (abort). */
#ifndef EVAE_DIST_COMM_H
#define EVAE_DIST_COMM_H

#include <stddef.h>

#include "evae/backend/backend.h"

typedef struct evae_comm evae_comm;

struct evae_comm {
    const char *name;       /* "none", "mpi" or "nccl" */
    int rank, size;         /* this process among the size processes of the run */
    int local_rank;         /* among the processes on this host: picks this rank's GPU */
    const evae_backend *be; /* the backend whose memory allreduce_sum reduces (evae_comm_bind) */
    void *ctx;              /* the implementation's state */

    /* buf[n] in backend memory := its sum over the ranks: the same bits on every rank */
    void (*allreduce_sum)(const evae_comm *c, float *buf, size_t n);
    /* buf[n] host doubles := their sums over the ranks */
    void (*allreduce_host)(const evae_comm *c, double *buf, size_t n);
    /* all[sum of counts] := every rank's mine[counts[rank]] doubles in rank order (host) */
    void (*allgather_host)(const evae_comm *c, const double *mine, double *all, const int *counts);
    /* buf[bytes] (host) := root's */
    void (*broadcast_host)(const evae_comm *c, void *buf, size_t bytes, int root);
    /* ends every rank of the run with exit status code; never returns */
    void (*abort)(const evae_comm *c, int code) __attribute__((noreturn));
    /* the libraries, for manifests: "" for none, e.g. "Open MPI v4.1.4, ..." for mpi */
    const char *(*describe)(const evae_comm *c);
    /* frees c and its state and, last of all, ends MPI (evae_comm_finalize) */
    void (*close)(evae_comm *c);
};

/* The run's communicator. EVAE_COMM picks it: "none", "mpi", "nccl", or "auto" (the default):
 * mpi when the process was started by an MPI launcher (mpirun, mpiexec, srun --mpi=pmix), none
 * otherwise; auto becomes nccl at evae_comm_bind on the CUDA backend with two or more ranks when
 * built with NCCL. Returns NULL with a message when the choice cannot be made (EVAE_COMM=mpi in a
 * build without MPI, a launcher that started several ranks of a build without MPI, srun tasks
 * that MPI sees as separate one-rank runs). */
evae_comm *evae_comm_init(int *argc, char ***argv);

/* Binds the communicator to the backend the run computes on, after evae_comm_init and before the
 * first collective on backend memory: for nccl, makes the NCCL communicator on be's stream (be must
 * be the CUDA backend). Returns non-zero with a message on failure. */
int evae_comm_bind(evae_comm *c, const evae_backend *be);

/* Ends the communicator (MPI_Finalize) and frees it; NULL is fine. */
void evae_comm_finalize(evae_comm *c);

/* The one-process communicator (no MPI), for tests and tools. */
evae_comm *evae_comm_none(void);

#endif
