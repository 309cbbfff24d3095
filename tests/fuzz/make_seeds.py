#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into tests/fuzz/regression/NAME/ (valid-* files, which
the ctest fuzz_replay requires each parser to accept; seed-* files, which must only not crash):
real files cut down to a few kilobytes. Run from the repository root after a build:

    python3 tests/fuzz/make_seeds.py build/evae

idx:        2 digits and their labels from data/mnist-10k, plain and gzipped, in the target's input
            form (4-byte little-endian length of the image file, image file, label file)
cifar:      1 and 2 records of data/cifar10-mini
config:     the experiment files, and the config.ini a training run writes
checkpoint: the checkpoint of a 1-epoch run of a tiny model (hidden 1, latent 1, 1 hidden unit),
            the same re-saved by Python's safetensors (another writer's header order and layout),
            and a file of several dtypes written by Python's safetensors
"""

import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file, save_file
from safetensors import safe_open

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "regression")


def out(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def idx_cut(path, count):
    """The first `count` entries of an IDX file, its header's first dimension rewritten."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    sizes = list(struct.unpack(">%dI" % dims, raw[4:4 + 4 * dims]))
    per = 1
    for s in sizes[1:]:
        per *= s
    sizes[0] = count
    return raw[:4] + struct.pack(">%dI" % dims, *sizes) + raw[4 + 4 * dims:4 + 4 * dims + count * per]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_seeds.py PATH/TO/evae")
    evae = sys.argv[1]
    images = idx_cut("data/mnist-10k/train-images-idx3-ubyte.gz", 2)
    labels = idx_cut("data/mnist-10k/train-labels-idx1-ubyte.gz", 2)
    out("idx", "valid-2-digits", struct.pack("<I", len(images)) + images + labels)
    gz_images, gz_labels = gzip.compress(images, mtime=0), gzip.compress(labels, mtime=0)
    out("idx", "valid-2-digits-gzip", struct.pack("<I", len(gz_images)) + gz_images + gz_labels)

    with open("data/cifar10-mini/data_batch_1.bin", "rb") as f:
        records = f.read(2 * 3073)
    out("cifar", "valid-1-record", records[:3073])
    out("cifar", "valid-2-records", records)

    for name in ("mnist", "mnist_gaussian", "cifar10"):
        with open(f"experiments/{name}.ini", "rb") as f:
            out("config", f"valid-{name}.ini", f.read())

    with tempfile.TemporaryDirectory(prefix="evae-seeds-") as tmp:
        run = os.path.join(tmp, "run")
        subprocess.run([evae, "train", "experiments/mnist.ini", "device=cpu", "train.epochs=1",
                        "data.train_limit=64", "train.batch=64", "model.hidden=1",
                        "model.latent=1", "model.grbm_hidden=1", "sample.n=1", "sample.steps=1",
                        f"run.dir={run}"], check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(run, "config.ini"), "rb") as f:
            out("config", "valid-run-config.ini", f.read())
        ckpt = os.path.join(run, "checkpoint.safetensors")
        with open(ckpt, "rb") as f:
            out("checkpoint", "valid-tiny-mlp.safetensors", f.read())
        with safe_open(ckpt, framework="numpy") as f:
            meta = f.metadata()
        resaved = os.path.join(tmp, "resaved.safetensors")
        save_file(load_file(ckpt), resaved, metadata=meta)
        with open(resaved, "rb") as f:
            out("checkpoint", "valid-tiny-mlp-resaved-by-python.safetensors", f.read())

        dtypes = os.path.join(tmp, "dtypes.safetensors")
        save_file({"f64": np.array([1.5, -2.0]), "i64": np.array([[7]], dtype=np.int64),
                   "u8": np.arange(5, dtype=np.uint8), "f16": np.ones(3, dtype=np.float16),
                   "i32": np.zeros((2, 0), dtype=np.int32), "f32": np.array(3.0, dtype=np.float32)},
                  dtypes, metadata={"format": "not-evae"})
        with open(dtypes, "rb") as f:
            out("checkpoint", "seed-dtypes.safetensors", f.read())


if __name__ == "__main__":
    main()
