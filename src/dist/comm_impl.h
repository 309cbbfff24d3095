/* The implementations of the communication table (evae/dist/comm.h), private to src/dist/. */
#ifndef EVAE_DIST_COMM_IMPL_H
#define EVAE_DIST_COMM_IMPL_H

#include "evae/dist/comm.h"

/* comm_mpi.c (built with MPI): MPI_Init and the MPI table over MPI_COMM_WORLD. NULL with a
 * message on failure. */
evae_comm *evae_comm_mpi_create(int *argc, char ***argv);

/* 1 when this evae was built with MPI */
int evae_comm_mpi_built(void);

/* comm_nccl.c: the nccl table on the CUDA backend be, made over host, the mpi or none
 * communicator of the run, which keeps serving the host collectives (and is freed with it).
 * NULL with a message on failure. */
evae_comm *evae_comm_nccl_create(evae_comm *host, const evae_backend *be);

#endif
