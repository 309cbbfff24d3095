#!/usr/bin/env python3
"""The README's promise that checkpoints load in PyTorch and numpy, tested with HuggingFace's own
reader: `safetensors.numpy` loads the checkpoints of a short MNIST and a short CIFAR-10 run
(written by $EVAE_BIN), every tensor has the name, dtype and shape the README lists, the metadata
hold the run's config.ini, and `tensors_crc32` is zlib.crc32 of the data in the order of the
names. A run name that is not UTF-8, which would make the header unreadable there, is refused
before anything is trained.

Run by ctest (safetensors_python); needs the Python packages safetensors and numpy
(scripts/install_deps.sh installs them)."""

import os
import subprocess
import sys
import tempfile
import zlib

try:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file
except ImportError as e:
    sys.exit(f"test_safetensors_python: {e}: the Python packages safetensors and numpy are "
             "needed (scripts/install_deps.sh installs them: python3 -m pip install --user "
             "safetensors numpy)")

failures = 0
checks = 0


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print(f"FAILED: {what}", file=sys.stderr)


def evae(args):
    """Runs the evae binary with bytes arguments; returns (exit code, output)."""
    r = subprocess.run([os.environb[b"EVAE_BIN"]] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    return r.returncode, r.stdout.decode("utf-8", "replace")


def check_checkpoint(run_dir, image_shape, layers):
    """Loads run_dir's checkpoint with safetensors and checks it against the README's table;
    layers: {"encoder": count, "decoder": count}"""
    path = os.path.join(run_dir, "checkpoint.safetensors")
    tensors = load_file(path)  # raises on a header that is not UTF-8 JSON or bad offsets
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    check(all(t.dtype == np.float32 for t in tensors.values()), f"{path}: every tensor F32")
    for key in ["format", "epoch", "global_step", "vae_steps", "prior_steps", "seed",
                "laplace_scale", "rng", "image_shape", "config", "tensors_crc32"]:
        check(key in meta, f"{path}: metadata '{key}'")
    check(meta.get("format") == "evae-checkpoint-1", f"{path}: format {meta.get('format')}")
    check(meta.get("image_shape") == image_shape, f"{path}: image_shape {meta.get('image_shape')}")
    with open(os.path.join(run_dir, "config.ini"), encoding="utf-8") as f:
        check(meta.get("config") == f.read(), f"{path}: metadata 'config' is the run's config.ini")

    # the networks: encoder.L.* and decoder.L.* for L = 0, 1, ...; the Adam moments cover them
    nets = {}
    for name in tensors:
        part = name.split(".")
        if part[0] in ("encoder", "decoder"):
            nets.setdefault(part[0], set()).add(int(part[1]))
    for net in ("encoder", "decoder"):
        found = sorted(nets.get(net, ()))
        check(found == list(range(layers[net])), f"{path}: {net} layers {found}")
        for layer in found:
            w, b = tensors[f"{net}.{layer}.weight"], tensors[f"{net}.{layer}.bias"]
            out = w.shape[1] if w.ndim == 2 or net == "decoder" else w.shape[0]
            check(b.shape == (out,), f"{path}: {net}.{layer}.bias {b.shape}, weight {w.shape}")
    n_params = sum(t.size for n, t in tensors.items() if n.split(".")[0] in nets)
    for moment in ("exp_avg", "exp_avg_sq"):
        check(tensors[f"optim.vae.{moment}"].shape == (n_params,),
              f"{path}: optim.vae.{moment} {tensors[f'optim.vae.{moment}'].shape}, P {n_params}")
    d, n = tensors["prior.W"].shape
    check(tensors["prior.mu"].shape == (d,) and tensors["prior.log_sigma"].shape == (d,) and
          tensors["prior.b"].shape == (n,), f"{path}: prior shapes for d {d}, n {n}")
    for moment in ("exp_avg", "exp_avg_sq"):
        check(tensors[f"optim.prior.{moment}"].shape == (2 * d + d * n + n,),
              f"{path}: optim.prior.{moment}")
    check(all(np.isfinite(t).all() for t in tensors.values()), f"{path}: finite values")

    crc = 0
    for name in sorted(tensors, key=lambda s: s.encode("utf-8")):
        crc = zlib.crc32(tensors[name].tobytes(), crc)
    check(meta.get("tensors_crc32") == f"{crc:08x}",
          f"{path}: tensors_crc32 {meta.get('tensors_crc32')}, zlib.crc32 by name {crc:08x}")


def main():
    if b"EVAE_BIN" not in os.environb:
        sys.exit("test_safetensors_python: EVAE_BIN is not set (ctest sets it)")
    with tempfile.TemporaryDirectory(prefix="evae-st-python-") as tmp:
        short = [b"device=cpu", b"train.epochs=1", b"sample.steps=2", b"sample.n=4"]

        # MNIST, with a run name in UTF-8 beyond ASCII
        mnist = os.path.join(tmp, "mnist")
        rc, out = evae([b"train", b"experiments/mnist.ini", *short, b"data.train_limit=256",
                        b"train.batch=128", b"model.hidden=16",
                        "run.name=caf\u00e9-\u65e5\u672c".encode(), b"run.dir=" + mnist.encode()])
        check(rc == 0, f"MNIST training: exit {rc}\n{out}")
        if rc == 0:
            check_checkpoint(mnist, "1x28x28", {"encoder": 3, "decoder": 3})

        # CIFAR-10: convolutions and transposed convolutions
        cifar = os.path.join(tmp, "cifar")
        rc, out = evae([b"train", b"experiments/cifar10.ini", *short,
                        b"data.dir=data/cifar10-mini", b"data.train_limit=100", b"train.batch=100",
                        b"run.dir=" + cifar.encode()])
        check(rc == 0, f"CIFAR-10 training: exit {rc}\n{out}")
        if rc == 0:
            check_checkpoint(cifar, "3x32x32", {"encoder": 5, "decoder": 4})

        # Latin-1 in the run name: refused by name before a run folder is made
        bad = os.path.join(tmp, "latin1")
        rc, out = evae([b"train", b"experiments/mnist.ini", *short, b"data.train_limit=256",
                        b"model.hidden=16", b"run.name=caf\xe9", b"run.dir=" + bad.encode()])
        check(rc == 1 and "run.name: byte 4 (0xe9) is not UTF-8" in out,
              f"a run name that is not UTF-8: exit {rc}\n{out}")
        if os.path.exists(os.path.join(bad, "checkpoint.safetensors")):
            try:
                load_file(os.path.join(bad, "checkpoint.safetensors"))
            except Exception as e:  # what the refusal prevents
                check(False, f"the checkpoint of a Latin-1 run name does not load: {e}")

    print(f"test_safetensors_python: {checks} checks, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
