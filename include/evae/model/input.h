/* Model inputs on the backend: a data set kept resident where the backend computes, and the
 * per-batch noise that makes the encoder's input from it. */
#ifndef EVAE_MODEL_INPUT_H
#define EVAE_MODEL_INPUT_H

#include <stdint.h>

#include "evae/data/dataset.h"
#include "evae/model/objective.h"

/* Uploads a data set as floats into backend memory: [n, dim]; MNIST as intensities in [0,1],
 * CIFAR-10 as pixel values 0..255 (the logit transform adds the dequantization noise). */
float *evae_upload_dataset(const evae_backend *be, const evae_dataset *d, int as_unit);

/* Prepares the model input of a batch (or a rank's share s of one) in w->enc_act[0] from the raw
 * examples in w->p: dynamic binarization (MNIST) or dequantization + logit (CIFAR-10), noise from
 * (seed, stream), element s.offset * x_dim + k for element k of the share. */
void evae_prepare_input(const evae_model *m, evae_workspace *w, evae_share s, uint64_t seed,
                        uint64_t stream);

#endif
