/* The choice of communicator (evae/dist/comm.h) and the one-process implementation. */
#define _DEFAULT_SOURCE /* setenv, strdup under -std=c11 */
#include "evae/dist/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/comm_impl.h"
#include "evae/backend/nccl.h"
#include "evae/util.h"

/* ---- none: one process, every sum is the value itself ---- */

static void none_allreduce_sum(const evae_comm *c, float *buf, size_t n) {}
static void none_allreduce_host(const evae_comm *c, double *buf, size_t n) {}
static void none_allgather_host(const evae_comm *c, const double *mine, double *all,
                                const int *counts)
{
    if (all != mine) memmove(all, mine, (size_t)counts[0] * sizeof(double));
}
static void none_broadcast_host(const evae_comm *c, void *buf, size_t bytes, int root) {}
static __attribute__((noreturn)) void none_abort(const evae_comm *c, int code)
{
    fflush(stdout);
    exit(code);
}
static const char *none_describe(const evae_comm *c) { return ""; }
static void none_close(evae_comm *c) { free(c); }

evae_comm *evae_comm_none(void)
{
    evae_comm *c = evae_xcalloc(1, sizeof *c);
    *c = (evae_comm){.name = "none",
                     .rank = 0,
                     .size = 1,
                     .local_rank = 0,
                     .allreduce_sum = none_allreduce_sum,
                     .allreduce_host = none_allreduce_host,
                     .allgather_host = none_allgather_host,
                     .broadcast_host = none_broadcast_host,
                     .abort = none_abort,
                     .describe = none_describe,
                     .close = none_close};
    return c;
}

/* ---- the choice ---- */

/* The rank count an MPI launcher announces in the environment: Open MPI's mpirun, a PMIx or PMI
 * server (srun --mpi=pmix / pmi2, MPICH's hydra); 0 when none started this process. */
static int launcher_size(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    /* PMIx publishes the size through its API only; its rank variable marks the launch */
    return getenv("PMIX_RANK") ? -1 : 0;
}

/* Tasks of this Slurm job step (srun), 0 outside one: srun without an MPI plugin starts tasks that
 * MPI would see as separate one-process runs, each writing the same run folder. */
static int slurm_step_tasks(void)
{
    const char *step = getenv("SLURM_STEP_ID"), *n = getenv("SLURM_STEP_NUM_TASKS");
    if (!step || !n || strcmp(step, "batch") == 0 || strcmp(step, "extern") == 0) return 0;
    return atoi(n);
}

evae_comm *evae_comm_init(int *argc, char ***argv)
{
    const char *want = getenv("EVAE_COMM");
    if (!want || !*want) want = "auto";
    if (strcmp(want, "auto") && strcmp(want, "none") && strcmp(want, "mpi") &&
        strcmp(want, "nccl")) {
        evae_error("EVAE_COMM=%s: unknown communicator (auto, none, mpi or nccl)", want);
        return NULL;
    }
    int launched = launcher_size();
    int use_mpi = strcmp(want, "mpi") == 0 ||
                  (strcmp(want, "none") != 0 && launched != 0 && evae_comm_mpi_built());
    if (use_mpi && !evae_comm_mpi_built()) {
        evae_error("EVAE_COMM=mpi, but this evae was built without MPI (CMake found none: "
                   "apt-get install libopenmpi-dev and configure again)");
        return NULL;
    }
    if (!use_mpi && (launched > 1 || launched < 0) && strcmp(want, "none") != 0) {
        evae_error("started by an MPI launcher as one of %s ranks, but this evae was built "
                   "without MPI: each rank would train alone into the same run folder",
                   launched > 0 ? "several" : "the");
        return NULL;
    }
    evae_comm *c = use_mpi ? evae_comm_mpi_create(argc, argv) : evae_comm_none();
    if (!c) return NULL;
    int tasks = slurm_step_tasks();
    if (tasks > 1 && c->size == 1) {
        evae_error("srun started %d tasks, but MPI sees each as a run of its own: start them "
                   "with srun --mpi=pmix (or set MpiDefault=pmix in slurm.conf)", tasks);
        evae_comm_finalize(c);
        return NULL;
    }
    evae_error_tag(c->rank, c->size);
    return c;
}

int evae_comm_bind(evae_comm *c, const evae_backend *be)
{
    const char *want = getenv("EVAE_COMM");
    int cuda = strcmp(be->name, "cuda") == 0;
    int nccl = (want && strcmp(want, "nccl") == 0) ||
               ((!want || !*want || strcmp(want, "auto") == 0) && cuda && c->size > 1 &&
                evae_nccl_built());
    c->be = be;
    if (!nccl) return 0;
    evae_comm *host = evae_xcalloc(1, sizeof *host);
    *host = *c;
    evae_comm *n = evae_comm_nccl_create(host, be);
    if (!n) {
        free(host);
        return 1;
    }
    *c = *n;
    free(n);
    return 0;
}

void evae_comm_finalize(evae_comm *c)
{
    if (c) c->close(c);
}
