/* The evae command line: train, sample, eval, keys. Started by mpirun or srun, every rank runs
 * the same command (evae/dist/comm.h): train and eval split their work across the ranks; a rank
 * that fails ends the whole run with its exit status (MPI_Abort), so none is left waiting. */
#define _DEFAULT_SOURCE /* POSIX.1-2008 and M_PI under -std=c11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/backend/blas_kernels.h"
#include "evae/model/checkpoint.h"
#include "evae/io/config.h"
#include "evae/cli/eval_cmd.h"
#include "evae/eval/eval.h"
#include "evae/io/image_grid.h"
#include "evae/cli/run.h"
#include "evae/model/sampling.h"
#include "evae/cli/train.h"
#include "evae/util.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage:\n"
            "  evae train CONFIG.ini [section.key=value ...]   train a model into a run folder\n"
            "  evae train --resume RUN_DIR [section.key=value ...]\n"
            "                                   continue an interrupted run exactly\n"
            "  evae sample RUN_DIR|CHECKPOINT [--sampler langevin|gibbs] [--steps N] [--n N]\n"
            "              [--eta X] [--seed S] [-o FILE.png] [device=cpu|cuda]\n"
            "                                   decode prior samples into a PNG grid\n"
            "  evae eval RUN_DIR|CHECKPOINT [section.key=value ...]\n"
            "                                   AIS log Z, IS NLL, paper estimators: eval.json/md\n"
            "  evae keys | evae help config     list every configuration key\n"
            "  evae --version\n");
}

/* Applies the key=value arguments argv[from..argc) to cfg. */
static int apply_overrides(evae_config *cfg, int argc, char **argv, int from)
{
    for (int i = from; i < argc; i++) {
        if (!strchr(argv[i], '=')) {
            evae_error("unexpected argument '%s' (overrides are section.key=value)", argv[i]);
            return 1;
        }
        if (evae_config_set(cfg, argv[i])) return 1;
    }
    return 0;
}

static int cmd_train(int argc, char **argv, evae_comm *comm)
{
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    evae_config cfg;
    evae_config_defaults(&cfg);
    const char *resume = NULL;
    int from = 3;
    if (strcmp(argv[2], "--resume") == 0) {
        if (argc < 4) {
            evae_error("--resume needs a run folder");
            return 2;
        }
        resume = argv[3];
        char path[4096];
        snprintf(path, sizeof path, "%s/config.ini", resume);
        if (evae_config_load(&cfg, path)) return 1;
        from = 4;
    } else if (evae_config_load(&cfg, argv[2])) {
        return 1;
    }
    if (apply_overrides(&cfg, argc, argv, from)) return 1;
    return evae_train(&cfg, resume, argc, argv, comm);
}

/* --flag VALUE for the sampling options maps onto the sample.* configuration keys, so the same
 * checks apply as in a config file. */
static int sample_flag(evae_config *cfg, const char *flag, const char *value)
{
    static const char *const map[][2] = {{"--sampler", "sample.sampler"},
                                         {"--steps", "sample.steps"},
                                         {"--n", "sample.n"},
                                         {"--eta", "sample.eta"},
                                         {"--seed", "train.seed"}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(flag, map[i][0]) == 0) {
            char kv[600];
            snprintf(kv, sizeof kv, "%s=%s", map[i][1], value);
            return evae_config_set(cfg, kv);
        }
    evae_error("unknown option '%s' for sample", flag);
    return 1;
}

static int cmd_sample(int argc, char **argv)
{
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    evae_config cfg;
    char *ckpt = evae_resolve_checkpoint(argv[2], &cfg);
    if (!ckpt) return 1;
    char out[4096];
    snprintf(out, sizeof out, "samples.png");
    int rc = 0;
    for (int i = 3; i < argc && !rc; i++) {
        if (strchr(argv[i], '=') && argv[i][0] != '-') {
            rc = evae_config_set(&cfg, argv[i]);
        } else if (i + 1 >= argc) {
            evae_error("option '%s' needs a value", argv[i]);
            rc = 1;
        } else if (strcmp(argv[i], "-o") == 0) {
            snprintf(out, sizeof out, "%s", argv[++i]);
        } else {
            rc = sample_flag(&cfg, argv[i], argv[i + 1]);
            i++;
        }
    }
    const evae_backend *be = rc ? NULL : evae_backend_for(cfg.device);
    if (!be) {
        free(ckpt);
        return 1;
    }
    /* the model's shape comes from its config and the image shape stored with it */
    int c = 0, h = 0, w = 0;
    if (evae_checkpoint_image_shape(ckpt, &c, &h, &w)) {
        free(ckpt);
        return 1;
    }
    evae_model_shape shape = evae_shape_from_config(&cfg, c, h, w);
    evae_model m;
    evae_train_state st;
    rc = evae_model_create(&m, be, &shape) || evae_checkpoint_load(ckpt, &m, &st, NULL);
    if (!rc) {
        int n = cfg.sample.n;
        evae_workspace w;
        evae_workspace_create(&w, &m, n, 1);
        float *z = be->alloc(be, (size_t)n * m.d * sizeof(float));
        float *img = evae_xcalloc((size_t)n * m.x_dim, sizeof(float));
        double t0 = evae_now();
        rc = evae_sample_prior(&m, cfg.sample.sampler, cfg.sample.steps, (float)cfg.sample.eta, n,
                               (uint64_t)cfg.train.seed, z);
        if (!rc) {
            evae_decode_images(&m, &w, z, n, img);
            int cols = 1;
            while (cols * cols < n) cols++;
            rc = evae_png_grid(out, img, n, shape.channels, shape.height, shape.width, cols);
        }
        if (!rc)
            printf("%s: %d samples, %d %s steps (%.2fs, %s)\n", out, n, cfg.sample.steps,
                   evae_sampler_name(cfg.sample.sampler), evae_now() - t0, be->name);
        free(img);
        be->free(be, z);
        evae_workspace_free(&w, &m);
    }
    evae_model_free(&m);
    free(ckpt);
    return rc ? 1 : 0;
}

static int run_command(int argc, char **argv, evae_comm *comm)
{
    const char *cmd = argv[1];
    if (strcmp(cmd, "train") == 0) return cmd_train(argc, argv, comm);
    if (strcmp(cmd, "eval") == 0) return evae_eval_main(argc, argv, comm);
    /* the other commands are one process's work: rank 0 does it */
    if (comm->rank != 0) return 0;
    if (strcmp(cmd, "sample") == 0) return cmd_sample(argc, argv);
    if (strcmp(cmd, "keys") == 0 || (strcmp(cmd, "help") == 0 && argc > 2 &&
                                     strcmp(argv[2], "config") == 0)) {
        evae_config_print_keys(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        const evae_backend *cpu = evae_cpu_backend();
        printf("evae %s\ncpu: %s\n", EVAE_VERSION, cpu->describe(cpu));
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    evae_error("unknown command '%s'", cmd);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    /* may re-execute once (OpenBLAS kernels, OpenMP waits): before MPI starts in this process */
    evae_cpu_select(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    evae_comm *comm = evae_comm_init(&argc, &argv);
    if (!comm) return 1;
    int rc = run_command(argc, argv, comm);
    fflush(stdout);
    /* the other ranks may be waiting in a collective for this one: end them all */
    if (rc != 0 && comm->size > 1) comm->abort(comm, rc);
    evae_comm_finalize(comm);
    return rc;
}
