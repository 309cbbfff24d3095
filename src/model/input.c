/* Model inputs on the backend: data sets uploaded as floats, and the per-batch noise that turns
 * them into what the encoder sees (dynamic binarization for MNIST, dequantization and the logit
 * transform for CIFAR-10). */
#include "evae/model/input.h"

#include <stdlib.h>

#include "evae/data/logit.h"
#include "evae/util.h"

float *evae_upload_dataset(const evae_backend *be, const evae_dataset *d, int as_unit)
{
    size_t dim = (size_t)evae_dataset_dim(d), n = (size_t)d->n * dim;
    float *host = evae_xcalloc(n, sizeof(float));
    float scale = as_unit ? 1.0f / 255.0f : 1.0f;
    for (size_t i = 0; i < n; i++) host[i] = (float)d->pixels[i] * scale;
    float *dev = be->alloc(be, n * sizeof(float));
    be->upload(be, dev, host, n * sizeof(float));
    free(host);
    return dev;
}

void evae_prepare_input(const evae_model *m, evae_workspace *w, evae_share s, uint64_t seed,
                        uint64_t stream)
{
    size_t n = (size_t)s.count * m->x_dim;
    m->be->rand_uniform(m->be, w->u, n, seed, stream, (uint64_t)s.offset * m->x_dim);
    if (m->decoder == EVAE_DEC_BERNOULLI)
        m->be->binarize(m->be, evae_ws_x(w), w->p, w->u, n);
    else
        m->be->logit_dequantize(m->be, evae_ws_x(w), w->p, w->u, n, EVAE_LOGIT_ALPHA);
}
