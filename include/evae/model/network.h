/* A feed-forward network as a list of layers over flat per-example activations: linear layers
 * (the MNIST MLP) and 2-D convolutions and transposed convolutions (the CIFAR-10 model). NCHW
 * activations are stored flat, so a "reshape" between layers costs nothing. All parameters of a
 * network live in slices of one buffer, which lets a single Adam call update them all. */
#ifndef EVAE_NETWORK_H
#define EVAE_NETWORK_H

#include <stddef.h>

#include "evae/backend/backend.h"

enum evae_layer_kind { EVAE_LINEAR, EVAE_CONV, EVAE_DECONV };

typedef struct evae_layer {
    enum evae_layer_kind kind;
    int relu;            /* ReLU after the layer */
    int in_dim, out_dim; /* features per example, before and after */
    /* CONV: geometry of the convolution itself (N set per call).
     * DECONV: geometry of the convolution whose backward-data is this layer, i.e. its input
     * [C,H,W] is this layer's OUTPUT and its K filters see this layer's INPUT channels; weights
     * [K=C_in, C=C_out, R, S], PyTorch's ConvTranspose2d layout. */
    evae_conv_shape conv;
    size_t w_off, w_len; /* weight slice: LINEAR W[in_dim, out_dim] (y = x W + b) */
    size_t b_off, b_len; /* bias slice: LINEAR [out_dim], CONV [K], DECONV [C] */
} evae_layer;

#define EVAE_MAX_LAYERS 8

typedef struct evae_network {
    int n_layers;
    evae_layer layers[EVAE_MAX_LAYERS];
    size_t param_offset; /* where this network's slice starts in the shared parameter buffer */
    size_t n_params;
} evae_network;

/* Builders append to a network whose parameters start at *offset (advanced past them). */
void evae_net_begin(evae_network *net, size_t *offset);
void evae_net_linear(evae_network *net, size_t *offset, int in, int out, int relu);
/* conv/deconv with C_in x H x W input, C_out channels, R x R filters, stride and pad */
void evae_net_conv(evae_network *net, size_t *offset, int c_in, int h, int w, int c_out, int r,
                   int stride, int pad, int relu);
void evae_net_deconv(evae_network *net, size_t *offset, int c_in, int h, int w, int c_out, int r,
                     int stride, int pad, int relu);
int evae_net_in_dim(const evae_network *net);
int evae_net_out_dim(const evae_network *net);
/* Largest activation width, for sizing buffers. */
int evae_net_max_dim(const evae_network *net);

/* Initialization on the host: weights ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's default
 * scale), biases 0, from Philox stream (EVAE_STREAM_INIT, salt). params_host is the whole buffer. */
void evae_net_init(const evae_network *net, float *params_host, uint64_t seed, uint64_t salt);

/* Forward for B examples: acts[0] = input [B, in_dim] is read; acts[l+1] [B, layer l out_dim] is
 * written for every layer. params: the whole shared buffer. */
void evae_net_forward(const evae_backend *be, const evae_network *net, const float *params,
                      float *const *acts, int B);

/* Backward: dout [B, out_dim] is dL/d(output) and is overwritten (used as scratch);
 * grads (the whole shared gradient buffer) receives dL/dparams (overwritten for this network's
 * slice); din [B, in_dim] receives dL/d(input) unless NULL. scratch: two buffers of
 * [B, evae_net_max_dim] floats. */
void evae_net_backward(const evae_backend *be, const evae_network *net, const float *params,
                       float *const *acts, float *dout, float *grads, float *din,
                       float *const scratch[2], int B);

#endif
