/* The PNG grids of a run folder: prior samples, and held-out images above their reconstructions
 * (the paper's Figure 1). */
#include "evae/cli/grids.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/data/logit.h"
#include "evae/io/image_grid.h"
#include "evae/math/philox.h"
#include "evae/model/sampling.h"
#include "evae/util.h"

int evae_write_grids(const evae_model *m, evae_workspace *w, const char *dir, const char *tag,
                     evae_sampler sampler, int steps, float eta, int n_samples, uint64_t seed,
                     const float *heldout_x_dev, int n_recon)
{
    int C = m->shape.channels, H = m->shape.height, W = m->shape.width, D = m->x_dim;
    char path[4096];
    int rc = 0;
    if (n_samples > w->cap) n_samples = w->cap;
    if (n_recon > w->cap) n_recon = w->cap;

    float *z_dev = m->be->alloc(m->be, (size_t)n_samples * m->d * sizeof(float));
    float *img = evae_xcalloc((size_t)2 * (n_samples > n_recon ? n_samples : n_recon), D * sizeof(float));
    rc = evae_sample_prior(m, sampler, steps, eta, n_samples, seed, z_dev);
    if (!rc) {
        evae_decode_images(m, w, z_dev, n_samples, img);
        snprintf(path, sizeof path, "%s/samples_%s.png", dir, tag);
        rc = evae_png_grid(path, img, n_samples, C, H, W, (int)ceil(sqrt((double)n_samples)));
    }
    m->be->free(m->be, z_dev);

    if (!rc && n_recon > 0) {
        /* paper Figure 1: test images in the top half, their reconstructions below */
        const int cols = 8;
        m->be->copy(m->be, evae_ws_x(w), heldout_x_dev, (size_t)n_recon * D * sizeof(float));
        evae_alb_forward(m, w, n_recon, seed, evae_stream(EVAE_STREAM_EVAL, 1), NULL);
        float *x = evae_xcalloc((size_t)n_recon * D, sizeof(float));
        m->be->download(m->be, x, evae_ws_x(w), (size_t)n_recon * D * sizeof(float));
        if (m->decoder == EVAE_DEC_LAPLACE)
            evae_logit_to_unit(img, x, (size_t)n_recon * D, EVAE_LOGIT_ALPHA);
        else
            memcpy(img, x, (size_t)n_recon * D * sizeof(float));
        free(x);
        evae_decode_images(m, w, evae_ws_z(w), n_recon, img + (size_t)n_recon * D);
        snprintf(path, sizeof path, "%s/recon_%s.png", dir, tag);
        rc = evae_png_grid(path, img, 2 * n_recon, C, H, W, cols);
    }
    free(img);
    return rc;
}
