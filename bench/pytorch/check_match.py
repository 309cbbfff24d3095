#!/usr/bin/env python3
"""Checks that the PyTorch model of vae_bench.py is evae's model: same architecture, same
objective, same gradients. Reads one training step that evae's own code computed
(`bench_epoch --dataset D --dump-step FILE`: parameters, model input, noise and results), runs
the PyTorch model on the same parameters, input and noise, and compares
  - the ALB per example (encoder, reparameterization, decoder, likelihood, GRBM energy, entropy),
  - the gradient of the encoder/decoder loss -(1/B) sum ALB,
  - the score matching loss per example and its gradient w.r.t. the GRBM parameters.
Both sides compute in float32 with different summation orders, so agreement is judged by the
relative error of each whole vector: below 1e-3 (float32 rounding in sums over at most a few
thousand terms stays near 1e-5; a modelling difference, such as a missing term, a transposed
weight or a wrong sign, gives errors of order one).

  python3 bench/pytorch/check_match.py STEP.safetensors [--json OUT.json]
Exit status 0 when everything agrees, 1 otherwise.
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vae_bench import EnergyPriorVAE  # noqa: E402

TOLERANCE = 1e-3


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, h in header.items():
        if h["dtype"] != "F32":
            raise ValueError(f"{path}: {name} has dtype {h['dtype']}, expected F32")
        b, e = h["data_offsets"]
        t = torch.frombuffer(bytearray(raw[base + b:base + e]), dtype=torch.float32)
        out[name] = t.view(*h["shape"]) if h["shape"] else t
    return out, meta


def load_params(model, flat):
    """evae's parameter buffer: per layer of the encoder then the decoder, weight then bias;
    linear weights stored [in, out] (y = x W), convolutions [K, C, R, S] and transposed
    convolutions [C_in, C_out, R, S] as PyTorch holds them."""
    off = 0
    with torch.no_grad():
        for net in (model.enc, model.dec):
            for layer in net:
                if isinstance(layer, torch.nn.Linear):
                    w = flat[off:off + layer.weight.numel()].view(layer.in_features,
                                                                  layer.out_features)
                    layer.weight.copy_(w.t())
                elif isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                    layer.weight.copy_(flat[off:off + layer.weight.numel()].view_as(layer.weight))
                else:
                    continue
                off += layer.weight.numel()
                layer.bias.copy_(flat[off:off + layer.bias.numel()])
                off += layer.bias.numel()
    if off != flat.numel():
        raise ValueError(f"the PyTorch model has {off} parameters, evae's buffer {flat.numel()}")


def flat_grads(model):
    parts = []
    for net in (model.enc, model.dec):
        for layer in net:
            if isinstance(layer, torch.nn.Linear):
                parts += [layer.weight.grad.t().reshape(-1), layer.bias.grad]
            elif isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                parts += [layer.weight.grad.reshape(-1), layer.bias.grad]
    return torch.cat(parts)


def rel_err(got, want):
    return float((got - want).norm() / want.norm().clamp_min(1e-30))


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        print(__doc__.strip().splitlines()[-2].strip(), file=sys.stderr)
        return 2
    path = args[0]
    out_json = args[args.index("--json") + 1] if "--json" in args else None
    t, meta = read_safetensors(path)
    dataset = meta["dataset"]
    B, M, d = t["v"].shape
    n = (t["theta"].numel() - 2 * d) // (d + 1)
    model = EnergyPriorVAE(dataset, d, n)
    load_params(model, t["params"])
    with torch.no_grad():
        th = t["theta"]
        model.prior.mu.copy_(th[:d])
        model.prior.log_sigma.copy_(th[d:2 * d])
        model.prior.W.copy_(th[2 * d:2 * d + d * n].view(d, n))
        model.prior.b.copy_(th[2 * d + d * n:])

    scale = torch.tensor(float(meta["laplace_scale"])) if dataset == "cifar10" else None
    loss, z, alb = model.alb_terms(t["x"], eps=t["eps"], scale=scale)
    loss.backward()
    g = flat_grads(model)
    vr = meta.get("variance_reduced", "1") == "1"
    J = model.ssm_loss(z.detach(), M, vr, v=t["v"].reshape(B * M, d), per_example=True)
    model.prior.zero_grad()
    J.mean().backward()
    tg = torch.cat([model.prior.mu.grad, model.prior.log_sigma.grad,
                    model.prior.W.grad.reshape(-1), model.prior.b.grad])

    checks = {
        "z": rel_err(z.detach(), t["z"]),
        "alb": rel_err(alb.detach(), t["alb"]),
        "vae_grad": rel_err(g, t["grads"]),
        "ssm_J": rel_err(J.detach(), t["J"]),
        "prior_grad": rel_err(tg, t["theta_grad"]),
    }
    ok = all(v < TOLERANCE for v in checks.values())
    for k, v in checks.items():
        print(f"{dataset} {k:<11} relative error {v:.2e}  {'ok' if v < TOLERANCE else 'MISMATCH'}")
    if out_json:
        with open(out_json, "w") as f:
            json.dump({"dataset": dataset, "batch": B, "projections": M, "tolerance": TOLERANCE,
                       "relative_errors": checks, "match": ok}, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
