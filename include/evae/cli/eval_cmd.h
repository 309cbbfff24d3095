/* The `evae eval` command: loads a checkpoint, runs every estimator of evae/eval/eval.h and
 * writes eval.json and eval.md. */
#ifndef EVAE_CLI_EVAL_CMD_H
#define EVAE_CLI_EVAL_CMD_H

#include "evae/dist/comm.h"

/* `evae eval RUN_DIR|CHECKPOINT [key=value ...]`: argv[0] is the program, argv[1] "eval".
 * comm: the run's ranks (AIS runs and test examples are split across them; rank 0 reports). */
int evae_eval_main(int argc, char **argv, evae_comm *comm);

#endif
