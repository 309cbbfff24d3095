/* Run folders, manifests, data loading and batch preparation shared by the commands. */
#define _DEFAULT_SOURCE /* POSIX.1-2008 and M_PI under -std=c11 */
#include "evae/cli/run.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "evae/backend/blas_kernels.h"
#include "evae/io/atomic_file.h"
#include "evae/model/checkpoint.h"
#include "evae/util.h"

#ifndef EVAE_SOURCE_DIR
#define EVAE_SOURCE_DIR "."
#endif

const evae_backend *evae_backend_for(evae_device device)
{
    switch (device) {
    case EVAE_DEVICE_CPU: return evae_cpu_backend();
    case EVAE_DEVICE_AUTO: {
        const evae_backend *be = evae_cuda_backend(NULL);
        return be ? be : evae_cpu_backend();
    }
    case EVAE_DEVICE_CUDA: {
        const char *why = "unknown reason";
        const evae_backend *be = evae_cuda_backend(&why);
        if (!be) evae_error("device=cuda is not available: %s", why);
        return be;
    }
    }
    evae_error("unknown device %d", (int)device);
    return NULL;
}

const evae_backend *evae_backend_for_rank(evae_device device, evae_comm *comm)
{
    if (device != EVAE_DEVICE_CPU) evae_cuda_use_device(comm->local_rank);
    const evae_backend *be = evae_backend_for(device);
    if (be && evae_comm_bind(comm, be)) return NULL;
    return be;
}

int evae_mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        evae_error("%s: path too long", path);
        return 1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                evae_error("%s: cannot create folder: %s", buf, strerror(errno));
                return 1;
            }
            *p = c;
            if (c == '\0') break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        evae_error("%s: not a folder", path);
        return 1;
    }
    if (access(path, W_OK) != 0) {
        evae_error("%s: run folder is not writable: %s", path, strerror(errno));
        return 1;
    }
    return 0;
}

/* Removes the files of folder dir that match one of the patterns; a folder that does not exist
 * holds none (grids/ of a run stopped before its first grid). */
static int remove_matching(const char *dir, const char *const *patterns, size_t count)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        evae_error("%s: cannot list the run folder: %s", dir, strerror(errno));
        return 1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        bool ours = false;
        for (size_t i = 0; i < count && !ours; i++) ours = fnmatch(patterns[i], e->d_name, 0) == 0;
        if (!ours) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove(path) != 0) {
            evae_error("%s: cannot remove the temporary file of a cut-off write: %s", path,
                       strerror(errno));
            rc = 1;
        } else {
            evae_warn("removed %s, left by a write that was cut off", path);
        }
    }
    closedir(d);
    return rc;
}

int evae_run_remove_temporaries(const char *dir)
{
    /* what a run folder holds, as written through evae_atomic_write (PATTERN.tmp) */
    static const char *const written[] = {
        EVAE_CHECKPOINT_FILE ".tmp", "config.ini.tmp", "manifest.json.tmp", "metrics.jsonl.tmp",
        "eval.json.tmp", "eval.md.tmp", "eval_examples.csv.tmp"};
    static const char *const grids[] = {"samples_epoch[0-9]*.png.tmp", "recon_epoch[0-9]*.png.tmp"};
    char grid_dir[4096];
    snprintf(grid_dir, sizeof grid_dir, "%s/grids", dir);
    if (access(dir, F_OK) != 0) {
        evae_error("%s: cannot list the run folder: %s", dir, strerror(errno));
        return 1;
    }
    int rc = remove_matching(dir, written, sizeof written / sizeof *written);
    return remove_matching(grid_dir, grids, sizeof grids / sizeof *grids) || rc;
}

static void git_commit(char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    FILE *p = popen("git -C '" EVAE_SOURCE_DIR "' rev-parse HEAD 2>/dev/null && "
                    "git -C '" EVAE_SOURCE_DIR "' status --porcelain --untracked-files=no "
                    "2>/dev/null | head -1",
                    "r");
    if (!p) return;
    char line[256], dirty[256] = "";
    if (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        if (fgets(dirty, sizeof dirty, p) && dirty[0])
            snprintf(out, cap, "%s (with uncommitted changes)", line);
        else
            snprintf(out, cap, "%s", line);
    }
    pclose(p);
}

int evae_write_manifest(const char *dir, const evae_config *cfg, int argc, char **argv,
                        const evae_comm *comm)
{
    cJSON *j = cJSON_CreateObject();
    char commit[300], host[256] = "unknown", when[64];
    git_commit(commit, sizeof commit);
    gethostname(host, sizeof host);
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(j, "program", "evae " EVAE_VERSION);
    cJSON_AddStringToObject(j, "git_commit", commit);
    cJSON_AddNumberToObject(j, "seed", (double)cfg->train.seed);
    cJSON_AddStringToObject(j, "device", evae_device_name(cfg->device));
    cJSON_AddStringToObject(j, "host", host);
    cJSON_AddStringToObject(j, "started", when);
    cJSON *cmd = cJSON_AddArrayToObject(j, "command_line");
    for (int i = 0; i < argc; i++) cJSON_AddItemToArray(cmd, cJSON_CreateString(argv[i]));
    cJSON_AddNumberToObject(j, "world_size", comm->size);
    cJSON_AddStringToObject(j, "communicator", comm->name);
    cJSON *lib = cJSON_AddObjectToObject(j, "libraries");
    if (comm->describe(comm)[0]) cJSON_AddStringToObject(lib, "communication", comm->describe(comm));
    cJSON_AddStringToObject(lib, "openblas", openblas_get_config());
    /* the kernel set OpenBLAS runs, who chose it, and what the CPU supports */
    const evae_backend *cpu = evae_cpu_backend();
    cJSON_AddStringToObject(lib, "cpu", cpu->describe(cpu));
    char feat_text[256];
    evae_cpu_features_text(NULL, feat_text, sizeof feat_text);
    cJSON_AddStringToObject(lib, "cpu_features", feat_text);
    cJSON_AddStringToObject(lib, "zlib", zlibVersion());
    cJSON_AddStringToObject(lib, "cjson", cJSON_Version());
#ifdef __VERSION__
    cJSON_AddStringToObject(lib, "compiler", __VERSION__);
#endif
    const evae_backend *be = evae_backend_for(cfg->device);
    if (be) cJSON_AddStringToObject(j, "backend", be->name);
    if (be) cJSON_AddStringToObject(lib, "device", be->describe(be));
    /* chosen on first use (cuDNN: once per convolution shape): the trainer rewrites the manifest
     * after its first epoch so that they are recorded */
    if (be && be->algorithms(be)[0]) cJSON_AddStringToObject(j, "algorithms", be->algorithms(be));
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    int rc = evae_atomic_write_json(path, j);
    cJSON_Delete(j);
    return rc;
}

evae_model_shape evae_shape_from_config(const evae_config *cfg, int channels, int height, int width)
{
    evae_model_shape s = {
        .arch = cfg->data.dataset == EVAE_DATA_CIFAR10 ? EVAE_ARCH_CONV : EVAE_ARCH_MLP,
        .channels = channels,
        .height = height,
        .width = width,
        .latent = cfg->model.latent,
        .hidden = cfg->model.hidden,
        .grbm_hidden = cfg->model.grbm_hidden,
        .prior_grbm = cfg->model.prior == EVAE_PRIOR_GRBM,
    };
    return s;
}

int evae_load_data(const evae_config *cfg, evae_dataset *train, evae_dataset *heldout,
                   const char **heldout_name)
{
    int rc;
    if (cfg->data.dataset == EVAE_DATA_CIFAR10)
        rc = evae_cifar_load(cfg->data.dir, cfg->data.validation, train, heldout, heldout_name);
    else
        rc = evae_mnist_load(cfg->data.dir, cfg->data.validation, train, heldout, heldout_name);
    if (rc) return rc;
    if (cfg->data.train_limit > 0 && cfg->data.train_limit < train->n) train->n = cfg->data.train_limit;
    return 0;
}

char *evae_resolve_checkpoint(const char *arg, evae_config *cfg)
{
    struct stat st;
    char path[4096];
    if (stat(arg, &st) != 0) {
        evae_error("%s: no such run folder or checkpoint", arg);
        return NULL;
    }
    if (S_ISDIR(st.st_mode))
        snprintf(path, sizeof path, "%s/%s", arg, EVAE_CHECKPOINT_FILE);
    else
        snprintf(path, sizeof path, "%s", arg);
    char *ini = evae_checkpoint_config(path);
    if (!ini) return NULL;
    evae_config_defaults(cfg);
    int rc = evae_config_load_string(cfg, ini, path);
    free(ini);
    if (rc) {
        evae_error("%s: the configuration stored in the checkpoint could not be read", path);
        return NULL;
    }
    return strdup(path);
}
