/* Forward and backward passes of layer-list networks (evae/model/network.h), written once over the
 * backend's ops so every backend runs the same sequence. */
#include "evae/model/network.h"

#include <math.h>

#include "evae/math/philox.h"

static void add_layer(evae_network *net, size_t *offset, evae_layer L)
{
    L.w_off = *offset;
    L.b_off = L.w_off + L.w_len;
    *offset = L.b_off + L.b_len;
    net->layers[net->n_layers++] = L;
    net->n_params = *offset - net->param_offset;
}

void evae_net_begin(evae_network *net, size_t *offset)
{
    net->n_layers = 0;
    net->param_offset = *offset;
    net->n_params = 0;
}

void evae_net_linear(evae_network *net, size_t *offset, int in, int out, int relu)
{
    evae_layer L = {.kind = EVAE_LINEAR, .relu = relu, .in_dim = in, .out_dim = out};
    L.w_len = (size_t)in * out;
    L.b_len = (size_t)out;
    add_layer(net, offset, L);
}

void evae_net_conv(evae_network *net, size_t *offset, int c_in, int h, int w, int c_out, int r,
                   int stride, int pad, int relu)
{
    evae_conv_shape s = {.N = 0, .C = c_in, .H = h, .W = w, .K = c_out, .R = r, .S = r,
                         .stride = stride, .pad = pad};
    evae_layer L = {.kind = EVAE_CONV, .relu = relu, .conv = s};
    L.in_dim = c_in * h * w;
    L.out_dim = c_out * evae_conv_P(&s) * evae_conv_Q(&s);
    L.w_len = (size_t)c_out * c_in * r * r;
    L.b_len = (size_t)c_out;
    add_layer(net, offset, L);
}

void evae_net_deconv(evae_network *net, size_t *offset, int c_in, int h, int w, int c_out, int r,
                     int stride, int pad, int relu)
{
    /* output size of a transposed convolution: (h - 1) stride - 2 pad + r */
    int ho = (h - 1) * stride - 2 * pad + r, wo = (w - 1) * stride - 2 * pad + r;
    evae_conv_shape s = {.N = 0, .C = c_out, .H = ho, .W = wo, .K = c_in, .R = r, .S = r,
                         .stride = stride, .pad = pad};
    evae_layer L = {.kind = EVAE_DECONV, .relu = relu, .conv = s};
    L.in_dim = c_in * h * w;
    L.out_dim = c_out * ho * wo;
    L.w_len = (size_t)c_in * c_out * r * r;
    L.b_len = (size_t)c_out;
    add_layer(net, offset, L);
}

int evae_net_in_dim(const evae_network *net) { return net->layers[0].in_dim; }
int evae_net_out_dim(const evae_network *net) { return net->layers[net->n_layers - 1].out_dim; }

int evae_net_max_dim(const evae_network *net)
{
    int m = 0;
    for (int l = 0; l < net->n_layers; l++) {
        if (net->layers[l].in_dim > m) m = net->layers[l].in_dim;
        if (net->layers[l].out_dim > m) m = net->layers[l].out_dim;
    }
    return m;
}

static int fan_in(const evae_layer *L)
{
    switch (L->kind) {
    case EVAE_LINEAR: return L->in_dim;
    case EVAE_CONV: return L->conv.C * L->conv.R * L->conv.S;
    case EVAE_DECONV: return L->conv.C * L->conv.R * L->conv.S; /* PyTorch: weight.size(1)*k*k */
    }
    return 1;
}

void evae_net_init(const evae_network *net, float *params_host, uint64_t seed, uint64_t salt)
{
    for (int l = 0; l < net->n_layers; l++) {
        const evae_layer *L = &net->layers[l];
        float bound = 1.0f / sqrtf((float)fan_in(L));
        uint64_t stream = evae_stream(EVAE_STREAM_INIT, salt * 64 + (uint64_t)l);
        for (size_t i = 0; i < L->w_len; i++)
            params_host[L->w_off + i] = bound * (2.0f * evae_uniform_at(seed, stream, i) - 1.0f);
        for (size_t i = 0; i < L->b_len; i++) params_host[L->b_off + i] = 0.0f;
    }
}

static evae_conv_shape batch_shape(const evae_layer *L, int B)
{
    evae_conv_shape s = L->conv;
    s.N = B;
    return s;
}

void evae_net_forward(const evae_backend *be, const evae_network *net, const float *params,
                      float *const *acts, int B)
{
    for (int l = 0; l < net->n_layers; l++) {
        const evae_layer *L = &net->layers[l];
        const float *x = acts[l], *w = params + L->w_off, *b = params + L->b_off;
        float *y = acts[l + 1];
        evae_conv_shape s = batch_shape(L, B);
        switch (L->kind) {
        case EVAE_LINEAR:
            be->gemm(be, 0, 0, B, L->out_dim, L->in_dim, 1.0f, x, w, 0.0f, y);
            be->bias_act(be, y, b, B, L->out_dim, L->relu);
            break;
        case EVAE_CONV:
            be->conv_forward(be, &s, x, w, y);
            be->channel_bias_act(be, y, b, B, s.K, evae_conv_P(&s) * evae_conv_Q(&s), L->relu);
            break;
        case EVAE_DECONV:
            be->conv_backward_data(be, &s, x, w, y);
            be->channel_bias_act(be, y, b, B, s.C, s.H * s.W, L->relu);
            break;
        }
    }
}

void evae_net_backward(const evae_backend *be, const evae_network *net, const float *params,
                       float *const *acts, float *dout, float *grads, float *din,
                       float *const scratch[2], int B)
{
    float *g = dout; /* dL/d(output of layer l) */
    for (int l = net->n_layers - 1; l >= 0; l--) {
        const evae_layer *L = &net->layers[l];
        const float *x = acts[l], *y = acts[l + 1], *w = params + L->w_off;
        float *dw = grads + L->w_off, *db = grads + L->b_off;
        float *dx = l > 0 ? scratch[l & 1] : din;
        evae_conv_shape s = batch_shape(L, B);
        if (L->relu) be->relu_backward(be, g, y, (size_t)B * L->out_dim);
        switch (L->kind) {
        case EVAE_LINEAR:
            be->gemm(be, 1, 0, L->in_dim, L->out_dim, B, 1.0f, x, g, 0.0f, dw);
            be->col_sum(be, db, g, B, L->out_dim, 0.0f);
            if (dx) be->gemm(be, 0, 1, B, L->in_dim, L->out_dim, 1.0f, g, w, 0.0f, dx);
            break;
        case EVAE_CONV:
            be->conv_backward_filter(be, &s, x, g, dw, 0.0f);
            be->channel_sum(be, db, g, B, s.K, evae_conv_P(&s) * evae_conv_Q(&s), 0.0f);
            if (dx) be->conv_backward_data(be, &s, g, w, dx);
            break;
        case EVAE_DECONV:
            /* the underlying convolution maps this layer's output to its input */
            be->conv_backward_filter(be, &s, g, x, dw, 0.0f);
            be->channel_sum(be, db, g, B, s.C, s.H * s.W, 0.0f);
            if (dx) be->conv_forward(be, &s, g, w, dx);
            break;
        }
        g = dx;
    }
}
