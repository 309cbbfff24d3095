/* Model checkpoints as safetensors (evae/model/checkpoint.h). */
#define _DEFAULT_SOURCE /* POSIX.1-2008 and M_PI under -std=c11 */
#include "evae/model/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/io/safetensors.h"
#include "evae/util.h"

#define CKPT_FORMAT "evae-checkpoint-1"
#define MAX_TENSORS 64
#define MAX_STATE_TENSORS 8 /* the prior objective's state tensors */
/* CRC-32 of the tensor data (evae_st_crc32), 8 lowercase hex digits; checked on every read when
 * present (files written before it existed have none) */
#define CKPT_CRC_KEY "tensors_crc32"

typedef struct collect {
    evae_st_tensor t[MAX_TENSORS];
    int count;
    const float *params, *theta; /* host copies */
} collect;

static void add_tensor(collect *c, const char *name, const float *data, size_t count, int ndim,
                       const long *shape)
{
    evae_st_tensor *t = &c->t[c->count++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->dtype, sizeof t->dtype, "F32");
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = count * sizeof(float);
}

static void collect_fn(void *ctx, const char *name, int in_theta, size_t offset, size_t count,
                       int ndim, const long *shape)
{
    collect *c = ctx;
    add_tensor(c, name, (in_theta ? c->theta : c->params) + offset, count, ndim, shape);
}

static float *download(const evae_model *m, const float *src, size_t n)
{
    float *h = evae_xcalloc(n, sizeof(float));
    m->be->download(m->be, h, src, n * sizeof(float));
    return h;
}

/* The prior objective's state tensors (evae_prior_fit_each_state), as host copies to write. */
typedef struct fit_save {
    collect *c;
    const evae_model *m;
    float *host[MAX_STATE_TENSORS];
    int count;
} fit_save;

static void save_state_fn(void *ctx, const char *name, float *buf, size_t count, int ndim,
                          const long *shape)
{
    fit_save *s = ctx;
    if (s->count == MAX_STATE_TENSORS) abort(); /* evae_prior_fit_each_state lists fewer */
    float *h = s->host[s->count++] = download(s->m, buf, count);
    add_tensor(s->c, name, h, count, ndim, shape);
}

int evae_checkpoint_save(const char *path, const evae_model *m, const evae_train_state *st,
                         const char *config_ini, const evae_prior_fit *fit)
{
    size_t P = m->n_params, T = m->n_theta;
    float *host[6] = {download(m, m->params, P),  download(m, m->adam_m, P),
                      download(m, m->adam_v, P),  download(m, m->theta, T),
                      download(m, m->theta_m, T), download(m, m->theta_v, T)};
    collect c = {.count = 0, .params = host[0], .theta = host[3]};
    evae_model_each_tensor(m, collect_fn, &c);
    long ps[1] = {(long)P}, ts[1] = {(long)T};
    add_tensor(&c, "optim.vae.exp_avg", host[1], P, 1, ps);
    add_tensor(&c, "optim.vae.exp_avg_sq", host[2], P, 1, ps);
    add_tensor(&c, "optim.prior.exp_avg", host[4], T, 1, ts);
    add_tensor(&c, "optim.prior.exp_avg_sq", host[5], T, 1, ts);
    fit_save fs = {.c = &c, .m = m, .count = 0};
    if (fit) evae_prior_fit_each_state(fit, save_state_fn, &fs);

    char epoch[32], gstep[32], vsteps[32], psteps[32], seed[32], scale[32], rng[96], image[48];
    snprintf(image, sizeof image, "%dx%dx%d", m->shape.channels, m->shape.height,
             m->shape.width);
    snprintf(epoch, sizeof epoch, "%d", st->epoch);
    snprintf(gstep, sizeof gstep, "%ld", st->global_step);
    snprintf(vsteps, sizeof vsteps, "%ld", m->vae_steps);
    snprintf(psteps, sizeof psteps, "%ld", m->prior_steps);
    snprintf(seed, sizeof seed, "%ld", st->seed);
    snprintf(scale, sizeof scale, "%.9g", (double)m->laplace_scale); /* exact for a float */
    snprintf(rng, sizeof rng, "philox4x32-10 seed=%ld step=%ld epoch=%d", st->seed,
             st->global_step, st->epoch);
    char crc[16];
    snprintf(crc, sizeof crc, "%08" PRIx32, evae_st_crc32(c.t, c.count));
    const char *keys[] = {"format", "epoch", "global_step", "vae_steps", "prior_steps", "seed",
                          "laplace_scale", "rng", "image_shape", "config", CKPT_CRC_KEY,
                          "objective", "objective_settings"};
    const char *vals[] = {CKPT_FORMAT, epoch, gstep, vsteps, psteps, seed, scale, rng, image,
                          config_ini ? config_ini : "", crc,
                          fit ? evae_prior_objective_name(fit->objective) : "",
                          fit ? fit->settings : ""};
    int n_keys = (int)(sizeof keys / sizeof *keys) - (fit ? 0 : 2); /* the prior is fixed */
    int rc = evae_st_write(path, c.t, c.count, keys, vals, n_keys);
    for (int i = 0; i < 6; i++) free(host[i]);
    for (int i = 0; i < fs.count; i++) free(fs.host[i]);
    return rc;
}

/* evae_st_read, then the checksum of the tensor data when the file records one. */
static evae_st_file *checkpoint_open(const char *path)
{
    evae_st_file *f = evae_st_read(path);
    const char *want = f ? evae_st_meta(f, CKPT_CRC_KEY) : NULL;
    if (!want) return f;
    uint32_t got = evae_st_file_crc32(f);
    char text[16];
    snprintf(text, sizeof text, "%08" PRIx32, got);
    if (strlen(want) != 8 || strspn(want, "0123456789abcdef") != 8) {
        evae_error("%s: corrupt checkpoint: metadata '%s' is '%.20s', not 8 hex digits", path,
                   CKPT_CRC_KEY, want);
    } else if (strcmp(want, text) != 0) {
        evae_error("%s: corrupt checkpoint: the tensor data do not match their checksum "
                   "(%s %s, the data give %s): the file was damaged after it was written",
                   path, CKPT_CRC_KEY, want, text);
    } else {
        return f;
    }
    evae_st_close(f);
    return NULL;
}

char *evae_checkpoint_config(const char *path)
{
    evae_st_file *f = checkpoint_open(path);
    if (!f) return NULL;
    const char *fmt = evae_st_meta(f, "format"), *cfg = evae_st_meta(f, "config");
    char *out = NULL;
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0)
        evae_error("%s: not an evae checkpoint (metadata 'format' is %s, expected %s)", path,
                   fmt ? fmt : "missing", CKPT_FORMAT);
    else if (!cfg)
        evae_error("%s: corrupt checkpoint: no 'config' metadata", path);
    else
        out = strdup(cfg);
    evae_st_close(f);
    return out;
}

int evae_checkpoint_image_shape(const char *path, int *channels, int *height, int *width)
{
    evae_st_file *f = checkpoint_open(path);
    if (!f) return 1;
    const char *v = evae_st_meta(f, "image_shape");
    char tail;
    int ok = v && sscanf(v, "%dx%dx%d%c", channels, height, width, &tail) == 3 &&
             *channels > 0 && *height > 0 && *width > 0;
    if (!ok)
        evae_error("%s: corrupt checkpoint: metadata 'image_shape' is %s", path,
                   v ? "not CxHxW" : "missing");
    evae_st_close(f);
    return !ok;
}

typedef struct loader {
    const evae_st_file *f;
    const char *path;
    float *params, *theta; /* host buffers to fill */
    int failed;
} loader;

/* "[784, 512]"; "[]" for a scalar. */
static void shape_text(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

static int load_tensor(const evae_st_file *f, const char *path, const char *name, float *dst,
                       size_t count, int ndim, const long *shape)
{
    const evae_st_tensor *t = evae_st_find(f, name);
    if (!t) {
        evae_error("%s: checkpoint has no tensor '%s' (was it written by another model shape?)",
                   path, name);
        return 1;
    }
    int ok = strcmp(t->dtype, "F32") == 0 && t->ndim == ndim && t->nbytes == count * sizeof(float);
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        int64_t want[8];
        for (int i = 0; i < ndim && i < 8; i++) want[i] = shape[i];
        char found_text[160], want_text[160];
        shape_text(found_text, sizeof found_text, t->ndim, t->shape);
        shape_text(want_text, sizeof want_text, ndim, want);
        evae_error("%s: tensor '%s' is %s %s; the model expects F32 %s (was it written by "
                   "another model shape?)", path, name, t->dtype, found_text, want_text);
        return 1;
    }
    memcpy(dst, t->data, t->nbytes);
    return 0;
}

static void load_fn(void *ctx, const char *name, int in_theta, size_t offset, size_t count,
                    int ndim, const long *shape)
{
    loader *l = ctx;
    if (l->failed) return;
    l->failed = load_tensor(l->f, l->path, name, (in_theta ? l->theta : l->params) + offset,
                            count, ndim, shape);
}

static int meta_long(const evae_st_file *f, const char *path, const char *key, long *out)
{
    const char *s = evae_st_meta(f, key);
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || *end || end == s || v < 0) {
        evae_error("%s: corrupt checkpoint: metadata '%s' is %s", path, key,
                   s ? "not a non-negative integer" : "missing");
        return 1;
    }
    *out = v;
    return 0;
}

/* The prior objective's state tensors, read into host copies and uploaded once all is valid. */
typedef struct fit_load {
    const evae_st_file *f;
    const char *path;
    float *host[MAX_STATE_TENSORS], *dev[MAX_STATE_TENSORS];
    size_t count[MAX_STATE_TENSORS];
    int n, failed;
} fit_load;

static void load_state_fn(void *ctx, const char *name, float *buf, size_t count, int ndim,
                          const long *shape)
{
    fit_load *l = ctx;
    if (l->failed) return;
    if (l->n == MAX_STATE_TENSORS) abort(); /* evae_prior_fit_each_state lists fewer */
    float *h = l->host[l->n] = evae_xcalloc(count, sizeof(float));
    l->dev[l->n] = buf;
    l->count[l->n++] = count;
    l->failed = load_tensor(l->f, l->path, name, h, count, ndim, shape);
    for (size_t i = 0; !l->failed && i < count; i++)
        if (!isfinite(h[i])) {
            evae_error("%s: corrupt checkpoint: non-finite value in tensor '%s'", l->path, name);
            l->failed = 1;
        }
}

/* The checkpoint's objective must be the one the configuration trains (checkpoints without the
 * metadata were written before there was a choice: sliced score matching). */
static int check_objective(const evae_st_file *f, const char *path, const evae_prior_fit *fit)
{
    const char *have = evae_st_meta(f, "objective");
    const char *want = evae_prior_objective_name(fit->objective);
    if (!have) have = evae_prior_objective_name(EVAE_OBJECTIVE_SSM);
    if (strcmp(have, want) == 0) return 0;
    evae_error("%s: the checkpoint's prior was trained with prior.objective = %s, the "
               "configuration asks for %s", path, have, want);
    return 1;
}

int evae_checkpoint_load(const char *path, evae_model *m, evae_train_state *st,
                         evae_prior_fit *fit)
{
    evae_st_file *f = checkpoint_open(path);
    if (!f) return 1;
    size_t P = m->n_params, T = m->n_theta;
    float *host[6];
    for (int i = 0; i < 6; i++) host[i] = evae_xcalloc(i < 3 ? P : T, sizeof(float));
    loader l = {.f = f, .path = path, .params = host[0], .theta = host[3], .failed = 0};
    evae_model_each_tensor(m, load_fn, &l);
    long ps[1] = {(long)P}, ts[1] = {(long)T};
    int rc = l.failed;
    rc = rc || load_tensor(f, path, "optim.vae.exp_avg", host[1], P, 1, ps);
    rc = rc || load_tensor(f, path, "optim.vae.exp_avg_sq", host[2], P, 1, ps);
    rc = rc || load_tensor(f, path, "optim.prior.exp_avg", host[4], T, 1, ts);
    rc = rc || load_tensor(f, path, "optim.prior.exp_avg_sq", host[5], T, 1, ts);
    long epoch = 0, gstep = 0, vsteps = 0, psteps = 0, seed = 0;
    rc = rc || meta_long(f, path, "epoch", &epoch) || meta_long(f, path, "global_step", &gstep) ||
         meta_long(f, path, "vae_steps", &vsteps) || meta_long(f, path, "prior_steps", &psteps) ||
         meta_long(f, path, "seed", &seed);
    const char *scale = evae_st_meta(f, "laplace_scale");
    double sc = scale ? strtod(scale, NULL) : NAN;
    if (!rc && !(sc > 0.0 && isfinite(sc))) {
        evae_error("%s: corrupt checkpoint: metadata 'laplace_scale' is missing or not positive",
                   path);
        rc = 1;
    }
    fit_load fl = {.f = f, .path = path, .n = 0, .failed = 0};
    if (!rc && fit) {
        rc = check_objective(f, path, fit);
        if (!rc) evae_prior_fit_each_state(fit, load_state_fn, &fl);
        rc = rc || fl.failed;
    }
    for (int i = 0; !rc && i < 6; i++) {
        size_t n = i < 3 ? P : T;
        for (size_t j = 0; j < n; j++)
            if (!isfinite(host[i][j])) {
                evae_error("%s: corrupt checkpoint: non-finite value in its tensors", path);
                rc = 1;
                break;
            }
    }
    if (!rc) {
        float *dst[6] = {m->params, m->adam_m, m->adam_v, m->theta, m->theta_m, m->theta_v};
        for (int i = 0; i < 6; i++)
            m->be->upload(m->be, dst[i], host[i], (i < 3 ? P : T) * sizeof(float));
        for (int i = 0; i < fl.n; i++)
            m->be->upload(m->be, fl.dev[i], fl.host[i], fl.count[i] * sizeof(float));
        m->vae_steps = vsteps;
        m->prior_steps = psteps;
        m->laplace_scale = (float)sc;
        st->epoch = (int)epoch;
        st->global_step = gstep;
        st->seed = seed;
    }
    for (int i = 0; i < 6; i++) free(host[i]);
    for (int i = 0; i < fl.n; i++) free(fl.host[i]);
    evae_st_close(f);
    return rc;
}
