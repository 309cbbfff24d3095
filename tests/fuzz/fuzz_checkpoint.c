/* The safetensors reader and the checkpoint loader, as `evae sample` reaches them: evae_st_read
 * on any bytes; then the stored config, the image shape, a model of that shape (when small: the
 * fuzzer is after the parser, not large allocations) and evae_checkpoint_load into it. */
#include "fuzz_input.h"

#include <string.h>

#include "evae/io/config.h"
#include "evae/io/safetensors.h"
#include "evae/model/checkpoint.h"

/* The part after evae_st_read; 0 when the checkpoint loaded into its model. */
static int load_as_checkpoint(const char *path)
{
    char *ini = evae_checkpoint_config(path);
    if (!ini) return 1;
    evae_config cfg;
    evae_config_defaults(&cfg);
    int rc = evae_config_load_string(&cfg, ini, path);
    free(ini);
    int c = 0, h = 0, w = 0;
    rc = rc || evae_checkpoint_image_shape(path, &c, &h, &w);
    if (rc) return 1;
    const long x_dim = (long)c * h * w;
    if (x_dim > 3 * 32 * 32 || cfg.model.latent > 512 || cfg.model.grbm_hidden > 512 ||
        (long)cfg.model.hidden * (x_dim + cfg.model.hidden) > (1L << 20))
        return 1;
    evae_model_shape shape = {
        .arch = cfg.data.dataset == EVAE_DATA_CIFAR10 ? EVAE_ARCH_CONV : EVAE_ARCH_MLP,
        .channels = c, .height = h, .width = w, .latent = cfg.model.latent,
        .hidden = cfg.model.hidden, .grbm_hidden = cfg.model.grbm_hidden,
        .prior_grbm = cfg.model.prior == EVAE_PRIOR_GRBM};
    evae_model m;
    if (evae_model_create(&m, evae_cpu_backend(), &shape)) return 1;
    evae_train_state st;
    rc = evae_checkpoint_load(path, &m, &st, NULL);
    if (!rc) FUZZ_ASSERT(st.epoch >= 0 && st.global_step >= 0, "counters");
    evae_model_free(&m);
    return rc;
}

int fuzz_checkpoint(const uint8_t *data, size_t size)
{
    char path[64];
    fuzz_file(0, data, size, path);
    evae_st_file *f = evae_st_read(path);
    if (!f) return 1;
    size_t total = 0;
    unsigned sum = 0;
    for (int i = 0; i < evae_st_count(f); i++) {
        const evae_st_tensor *t = evae_st_at(f, i);
        FUZZ_ASSERT(evae_st_find(f, t->name) == t, "names are unique");
        FUZZ_ASSERT(t->nbytes == 0 || t->data, "data of a non-empty tensor");
        const uint8_t *p = t->data;
        for (size_t k = 0; k < t->nbytes; k++) sum += p[k]; /* the sanitizer checks the bounds */
        total += t->nbytes;
    }
    FUZZ_ASSERT(total <= size, "the tensors lie inside the file");
    (void)evae_st_file_crc32(f);
    (void)sum;
    evae_st_close(f);
    return load_as_checkpoint(path);
}

EVAE_FUZZ_TARGET(fuzz_checkpoint)
