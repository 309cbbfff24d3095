/* The `evae eval` command: loads a checkpoint, runs every estimator of evae/eval/eval.h and
 * writes eval.json and eval.md. */
#ifndef EVAE_CLI_EVAL_CMD_H
#define EVAE_CLI_EVAL_CMD_H

/* `evae eval RUN_DIR|CHECKPOINT [key=value ...]`: argv[0] is the program, argv[1] "eval". */
int evae_eval_main(int argc, char **argv);

#endif
