/* The density-ratio classifier T(x, z) of the paper's Algorithm 2 (evae/eval/eval.h): an MLP on
 * [x | z] trained with the logistic loss by Adam, over backend ops only. */
#include "evae/eval/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evae/util.h"

/* Salt of the classifier's weight init stream (the model's networks use 1 and 2). */
enum { CLASSIFIER_INIT_SALT = 16 };

int evae_classifier_create(evae_classifier *c, const evae_backend *be, int x_dim, int d,
                           int hidden, int cap_examples, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    if (x_dim < 1 || d < 1 || hidden < 1 || cap_examples < 1) {
        evae_error("classifier: x_dim %d, d %d, hidden %d and batch %d must be >= 1", x_dim, d,
                   hidden, cap_examples);
        return 1;
    }
    c->be = be;
    c->x_dim = x_dim;
    c->d = d;
    c->hidden = hidden;
    c->cap = 2 * cap_examples;
    size_t off = 0;
    evae_net_begin(&c->net, &off);
    evae_net_linear(&c->net, &off, x_dim + d, hidden, 1);
    evae_net_linear(&c->net, &off, hidden, hidden, 1);
    evae_net_linear(&c->net, &off, hidden, 1, 0);
    c->n_params = off;
    /* the tail: the same layers (absolute offsets into params) after the first */
    c->tail.n_layers = c->net.n_layers - 1;
    for (int l = 0; l < c->tail.n_layers; l++) c->tail.layers[l] = c->net.layers[l + 1];
    c->tail.param_offset = c->net.layers[1].w_off;
    c->tail.n_params = off - c->tail.param_offset;

    size_t pb = c->n_params * sizeof(float);
    float *host = evae_xcalloc(c->n_params, sizeof(float));
    evae_net_init(&c->net, host, seed, CLASSIFIER_INIT_SALT);
    c->params = be->alloc(be, pb);
    be->upload(be, c->params, host, pb);
    free(host);
    c->grads = be->alloc(be, pb);
    c->adam_m = be->alloc(be, pb);
    c->adam_v = be->alloc(be, pb);

    size_t P = (size_t)c->cap, H = (size_t)hidden;
    c->x2 = be->alloc(be, P * x_dim * sizeof(float));
    c->z2 = be->alloc(be, P * d * sizeof(float));
    c->acts[0] = be->alloc(be, P * H * sizeof(float));
    c->acts[1] = be->alloc(be, P * H * sizeof(float));
    c->acts[2] = be->alloc(be, P * sizeof(float));
    c->labels = be->alloc(be, P * sizeof(float));
    c->ll = be->alloc(be, P * sizeof(float));
    c->dout = be->alloc(be, P * sizeof(float));
    c->dh = be->alloc(be, P * H * sizeof(float));
    c->scratch[0] = be->alloc(be, P * H * sizeof(float));
    c->scratch[1] = be->alloc(be, P * H * sizeof(float));
    c->t_host = evae_xcalloc(P, sizeof(float));
    return 0;
}

void evae_classifier_free(evae_classifier *c)
{
    if (!c->be) return;
    float *bufs[] = {c->params, c->grads,  c->adam_m, c->adam_v, c->x2,
                     c->z2,     c->labels, c->ll,     c->dout,   c->dh,
                     c->acts[0], c->acts[1], c->acts[2], c->scratch[0], c->scratch[1]};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i]) c->be->free(c->be, bufs[i]);
    free(c->t_host);
    memset(c, 0, sizeof *c);
}

/* acts[0] = relu(x W_x + z W_z + b) [B, hidden], then the tail to acts[2] = T [B, 1] */
static void forward(evae_classifier *c, const float *x, const float *z, int B)
{
    const evae_backend *be = c->be;
    const evae_layer *L0 = &c->net.layers[0];
    const float *W = c->params + L0->w_off; /* W[x_dim + d, hidden]: first x_dim rows act on x */
    const int H = c->hidden;
    be->gemm(be, 0, 0, B, H, c->x_dim, 1.0f, x, W, 0.0f, c->acts[0]);
    be->gemm(be, 0, 0, B, H, c->d, 1.0f, z, W + (size_t)c->x_dim * H, 1.0f, c->acts[0]);
    be->bias_act(be, c->acts[0], c->params + L0->b_off, B, H, 1);
    evae_net_forward(be, &c->tail, c->params, c->acts, B);
}

void evae_classifier_logits(evae_classifier *c, const float *x, const float *z, int B, float *t)
{
    for (int s = 0; s < B; s += c->cap) {
        int b = B - s < c->cap ? B - s : c->cap;
        forward(c, x + (size_t)s * c->x_dim, z + (size_t)s * c->d, b);
        c->be->copy(c->be, t + s, c->acts[2], (size_t)b * sizeof(float));
    }
}

/* softplus(v) = ln(1 + e^v) without overflow */
static double softplus(double v) { return v > 0 ? v + log1p(exp(-v)) : log1p(exp(v)); }

double evae_classifier_grad(evae_classifier *c, const float *x, const float *z_pos,
                            const float *z_neg, int B, int *correct)
{
    const evae_backend *be = c->be;
    const int P = 2 * B, H = c->hidden, X = c->x_dim, d = c->d;
    if (P > c->cap) {
        evae_error("classifier: %d examples in a step, capacity %d", B, c->cap / 2);
        abort(); /* a programming error, not bad input */
    }
    /* pairs: rows [0, B) = (x, z_pos) labelled 1, rows [B, 2B) = (x, z_neg) labelled 0 */
    be->copy(be, c->x2, x, (size_t)B * X * sizeof(float));
    be->copy(be, c->x2 + (size_t)B * X, x, (size_t)B * X * sizeof(float));
    be->copy(be, c->z2, z_pos, (size_t)B * d * sizeof(float));
    be->copy(be, c->z2 + (size_t)B * d, z_neg, (size_t)B * d * sizeof(float));
    for (int i = 0; i < P; i++) c->t_host[i] = i < B ? 1.0f : 0.0f;
    be->upload(be, c->labels, c->t_host, (size_t)P * sizeof(float));
    forward(c, c->x2, c->z2, P);
    /* L = -(1/P) sum [y ln sigmoid(T) + (1 - y) ln(1 - sigmoid(T))]: the Bernoulli log-likelihood
     * of the labels with logit T, so dout = dL/dT = (sigmoid(T) - y)/P */
    be->bernoulli_ll(be, c->ll, c->dout, c->acts[2], c->labels, P, 1, -1.0f / (float)P);
    be->download(be, c->t_host, c->acts[2], (size_t)P * sizeof(float));
    double loss = 0.0;
    int right = 0;
    for (int i = 0; i < P; i++) {
        double t = c->t_host[i];
        loss += i < B ? softplus(-t) : softplus(t);
        right += i < B ? t > 0 : t < 0;
    }
    if (correct) *correct = right;
    evae_net_backward(be, &c->tail, c->params, c->acts, c->dout, c->grads, c->dh, c->scratch, P);
    be->relu_backward(be, c->dh, c->acts[0], (size_t)P * H);
    const evae_layer *L0 = &c->net.layers[0];
    float *dW = c->grads + L0->w_off; /* dW[x_dim + d, hidden] */
    be->gemm(be, 1, 0, X, H, P, 1.0f, c->x2, c->dh, 0.0f, dW);
    be->gemm(be, 1, 0, d, H, P, 1.0f, c->z2, c->dh, 0.0f, dW + (size_t)X * H);
    be->col_sum(be, c->grads + L0->b_off, c->dh, P, H, 0.0f);
    return loss / P;
}

double evae_classifier_step(evae_classifier *c, const float *x, const float *z_pos,
                            const float *z_neg, int B, float lr, int *correct)
{
    double loss = evae_classifier_grad(c, x, z_pos, z_neg, B, correct);
    c->be->adam(c->be, c->params, c->adam_m, c->adam_v, c->grads, c->n_params, lr, 0.9f, 0.999f,
                1e-8f, ++c->steps);
    return loss;
}

void evae_classifier_train(evae_classifier *c, const evae_pair_source *src, int epochs, float lr,
                           evae_classifier_fit *fit, evae_eval_progress_fn progress, void *ctx)
{
    const evae_backend *be = c->be;
    const int cap = c->cap / 2;
    float *x = be->alloc(be, (size_t)cap * c->x_dim * sizeof(float)); /* x[cap, x_dim] */
    float *zp = be->alloc(be, (size_t)cap * c->d * sizeof(float));    /* zp[cap, d] */
    float *zn = be->alloc(be, (size_t)cap * c->d * sizeof(float));    /* zn[cap, d] */
    fit->loss = fit->accuracy = NAN;
    const int steps_per_epoch = (src->n + cap - 1) / cap;
    const double total = (double)epochs * steps_per_epoch;
    for (int epoch = 0; epoch < epochs; epoch++) {
        double loss = 0.0;
        long right = 0;
        for (int start = 0, s = 0; start < src->n; start += cap, s++) {
            int B = src->n - start < cap ? src->n - start : cap, ok = 0;
            src->fill(src->ctx, epoch, start, B, x, zp, zn);
            /* the step size decays linearly to 0: the last steps' noise would otherwise stay in
             * T and in its average, the estimate */
            double done = ((double)epoch * steps_per_epoch + s) / total;
            float lr_t = (float)(lr * (1.0 - done));
            loss += evae_classifier_step(c, x, zp, zn, B, lr_t, &ok) * 2.0 * B;
            right += ok;
        }
        fit->loss = loss / (2.0 * src->n);
        fit->accuracy = (double)right / (2.0 * src->n);
        if (progress) {
            char detail[96];
            snprintf(detail, sizeof detail, "loss %.4f, training accuracy %.4f", fit->loss,
                     fit->accuracy);
            progress(ctx, "classifier epoch", epoch + 1, epochs, detail);
        }
    }
    be->free(be, x);
    be->free(be, zp);
    be->free(be, zn);
}
