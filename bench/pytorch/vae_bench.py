#!/usr/bin/env python3
"""The energy-prior VAEs of evae in PyTorch, timed per epoch: the baseline that bench_epoch is
compared with on the same machine, in the same run.

Same architecture (docs/DESIGN.md s.2), same objective (s.1.4-1.5), same step as src/cli/train.c:
  - ALB step: x = binarize(p, u) (MNIST) or y = logit(alpha + (1-2 alpha)(x+u)/256) (CIFAR-10);
    enc(x) -> [mean | logvar]; z = mean + exp(logvar/2) eps; dec(z) -> Bernoulli logits or
    Laplace means with the calibrated scale b = mean|y - mean| (floored at 1e-3, a constant);
    loss = -mean(ln p(x|z) - E(z) + H[q]) with the GRBM parameters held fixed (dE/dz reaches the
    encoder through z); one Adam step (lr 1e-3) on the encoder and decoder.
  - prior step: sliced score matching on the same z, detached, through autograd: the score
    s = -dE/dz with create_graph, then v^T (d s/dz) v by a second backward pass;
    J = mean_v[v^T (ds/dz) v] + 0.5|s|^2 (variance-reduced, the default) or + 0.5 (v.s)^2;
    one Adam step (lr 2e-4) on mu, log_sigma, W, b.
The data set stays on the device; each epoch draws a permutation there and gathers batches by
index, like evae's gather_rows.

Modes: "eager" (the score matching Hessian term by a second backward pass, create_graph=True)
and "compile" (torch.compile of the ALB loss, the SSM loss and the Adam steps; since
aot_autograd cannot compile a double backward, the compiled SSM loss takes the Hessian-vector
product as torch.func.jvp of torch.func.grad, the same quantity; a part that fails to compile
falls back to eager and the JSON says which). bench/pytorch/check_match.py checks the model
against evae's own computation of one step.

  python3 bench/pytorch/vae_bench.py --dataset mnist --device cuda --json out.json
"""
import argparse
import json
import math
import os
import platform
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as exc:  # the caller (scripts/bench_all.sh) reports the skip
    print(f"vae_bench: PyTorch is not available: {exc}", file=sys.stderr)
    sys.exit(3)

LN_2PI = math.log(2.0 * math.pi)
LOGIT_ALPHA = 0.05
LAPLACE_SCALE_FLOOR = 1e-3


class GRBM(nn.Module):
    """Gaussian-Bernoulli RBM energy, evae/math/grbm.h parameterization (sigma = exp(log_sigma))."""

    def __init__(self, d, n):
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(d))
        self.log_sigma = nn.Parameter(torch.zeros(d))
        self.W = nn.Parameter(0.01 * torch.randn(d, n))  # evae_grbm_init
        self.b = nn.Parameter(torch.zeros(n))

    @staticmethod
    def energy(mu, log_sigma, W, b, z):
        """E(z)[B] = 0.5 sum_i ((z_i - mu_i)/sigma_i)^2 - sum_j softplus(a_j),
        a = W^T (z / sigma^2) + b."""
        prec = torch.exp(-2.0 * log_sigma)
        a = (z * prec) @ W + b
        return 0.5 * (prec * (z - mu) ** 2).sum(-1) - F.softplus(a).sum(-1)

    def params(self, detach=False):
        p = (self.mu, self.log_sigma, self.W, self.b)
        return tuple(t.detach() for t in p) if detach else p


def mlp_nets(d, hidden, x_dim):
    enc = nn.Sequential(nn.Linear(x_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                        nn.Linear(hidden, 2 * d))
    dec = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                        nn.Linear(hidden, x_dim))
    return enc, dec


def conv_nets(d, channels=3, side=32):
    s = side // 16
    ch = [channels, 32, 64, 128, 256]
    enc_layers = []
    for i in range(4):
        enc_layers += [nn.Conv2d(ch[i], ch[i + 1], 4, 2, 1), nn.ReLU()]
    enc = nn.Sequential(*enc_layers, nn.Flatten(), nn.Linear(256 * s * s, 2 * d))
    dch = [128, 128, 64, 32, channels]
    dec_layers = [nn.Unflatten(1, (128, s, s))]
    for i in range(4):
        dec_layers.append(nn.ConvTranspose2d(dch[i], dch[i + 1], 4, 2, 1))
        if i < 3:
            dec_layers.append(nn.ReLU())
    dec = nn.Sequential(*dec_layers)
    return enc, dec


class EnergyPriorVAE(nn.Module):
    def __init__(self, dataset, d, n, hidden=512):
        super().__init__()
        self.dataset = dataset
        self.d = d
        if dataset == "mnist":
            self.x_shape = (784,)
            self.enc, self.dec = mlp_nets(d, hidden, 784)
        else:
            self.x_shape = (3, 32, 32)
            self.enc, self.dec = conv_nets(d)
        self.prior = GRBM(d, n)

    def model_input(self, p):
        """Dynamic binarization (MNIST) or dequantization + logit (CIFAR-10) of a raw batch."""
        u = torch.rand_like(p)
        if self.dataset == "mnist":
            return (u < p).to(p.dtype)
        s = LOGIT_ALPHA + (1.0 - 2.0 * LOGIT_ALPHA) * (p + u) / 256.0
        return torch.log(s) - torch.log1p(-s)

    def alb_loss(self, p):
        """-(1/B) sum_b ALB(x_b) and the detached z for the prior step."""
        x = self.model_input(p)
        loss, z, _ = self.alb_terms(x)
        return loss, z.detach()

    def alb_terms(self, x, eps=None, scale=None):
        """The loss, z and the per-example ALB for model input x; eps (the reparameterization
        noise) and the Laplace scale are drawn / calibrated here unless given."""
        B = x.shape[0]
        enc = self.enc(x.view(B, *self.x_shape))
        mean, logvar = enc[:, : self.d], enc[:, self.d:]
        if eps is None:
            eps = torch.randn_like(mean)
        z = mean + torch.exp(0.5 * logvar) * eps
        out = self.dec(z).reshape(B, -1)
        if self.dataset == "mnist":
            ll = -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(-1)
        else:
            err = (x - out).abs()
            if scale is None:  # calibrated on the batch, then a constant
                scale = err.detach().mean().clamp_min(LAPLACE_SCALE_FLOOR)
            ll = -(err / scale).sum(-1) - x.shape[1] * torch.log(2.0 * scale)
        energy = GRBM.energy(*self.prior.params(detach=True), z)
        ent = 0.5 * (1.0 + LN_2PI + logvar).sum(-1)
        alb = ll - energy + ent
        return -alb.mean(), z, alb

    def ssm_loss(self, z, projections, variance_reduced, v=None, per_example=False):
        """Sliced score matching of the prior on z (data), through autograd; v [B*M, d] are
        the projections (drawn here unless given)."""
        B, d = z.shape
        zr = z.repeat_interleave(projections, 0).requires_grad_(True)  # [B*M, d]
        if v is None:
            v = torch.randn_like(zr)
        energy = GRBM.energy(*self.prior.params(), zr).sum()
        score = -torch.autograd.grad(energy, zr, create_graph=True)[0]  # [B*M, d]
        vs = (v * score).sum()
        grad_vs = torch.autograd.grad(vs, zr, create_graph=True)[0]
        hess_term = (v * grad_vs).sum(-1)  # v^T (ds/dz) v per row
        if variance_reduced:
            second = 0.5 * (score ** 2).sum(-1)
        else:
            second = 0.5 * (v * score).sum(-1) ** 2
        J = (hess_term + second).view(B, projections).mean(-1)
        return J if per_example else J.mean()

    def ssm_loss_func(self, z, projections, variance_reduced):
        """The same loss with the Hessian-vector product as a forward-mode derivative of the
        gradient (torch.func), which torch.compile can trace into one differentiable graph."""
        B, d = z.shape
        params = self.prior.params()
        zr = z.repeat_interleave(projections, 0)  # [B*M, d]
        v = torch.randn_like(zr)

        def energy_sum(zz):
            return GRBM.energy(*params, zz).sum()

        grad_e, hess_v = torch.func.jvp(torch.func.grad(energy_sum), (zr,), (v,))
        score = -grad_e
        hess_term = -(v * hess_v).sum(-1)  # v^T (ds/dz) v = -v^T H v
        if variance_reduced:
            second = 0.5 * (score ** 2).sum(-1)
        else:
            second = 0.5 * (v * score).sum(-1) ** 2
        J = (hess_term + second).view(B, projections).mean(-1)
        return J.mean()


def load_config(path):
    """The keys of an experiments/*.ini file that the benchmark needs (plain INI parsing)."""
    cfg = {}
    section = ""
    with open(path) as f:
        for raw in f:
            line = raw.split(";")[0].split("#")[0].strip()
            if not line:
                continue
            if line.startswith("["):
                section = line.strip("[]").strip()
                continue
            if "=" in line:
                k, v = (t.strip() for t in line.split("=", 1))
                cfg[f"{section}.{k}" if section else k] = v
    return cfg


def make_data(dataset, examples, device, data_dir):
    """MNIST: the bundled training digits tiled to `examples` rows, intensities in [0,1];
    CIFAR-10: generated 8-bit pixels of the right shape as floats 0..255. On the device."""
    if dataset == "mnist":
        import gzip
        path = os.path.join(data_dir, "train-images-idx3-ubyte.gz")
        with gzip.open(path, "rb") as f:
            raw = f.read()
        n = int.from_bytes(raw[4:8], "big")
        pix = torch.frombuffer(bytearray(raw[16:16 + n * 784]), dtype=torch.uint8).view(n, 784)
        reps = (examples + n - 1) // n
        pix = pix.repeat(reps, 1)[:examples]
        return (pix.to(torch.float32) / 255.0).to(device)
    g = torch.Generator().manual_seed(77)
    pix = torch.randint(0, 256, (examples, 3072), dtype=torch.uint8, generator=g)
    return pix.to(torch.float32).to(device)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run(args, mode):
    device = torch.device(args.device)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = load_config(os.path.join(root, "experiments", f"{args.dataset}.ini"))
    d = int(cfg.get("model.latent", 64))
    n = int(cfg.get("model.grbm_hidden", 128))
    hidden = int(cfg.get("model.hidden", 512))
    batch = int(cfg.get("train.batch", 512))
    lr = float(cfg.get("train.lr", 1e-3))
    prior_lr = float(cfg.get("train.prior_lr", 2e-4))
    M = int(cfg.get("ssm.projections", 1))
    vr = cfg.get("ssm.variance_reduced", "true").lower() in ("true", "1", "yes", "on")
    torch.manual_seed(1)
    model = EnergyPriorVAE(args.dataset, d, n, hidden).to(device)
    vae_params = list(model.enc.parameters()) + list(model.dec.parameters())
    opt_vae = torch.optim.Adam(vae_params, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    opt_prior = torch.optim.Adam(model.prior.parameters(), lr=prior_lr, betas=(0.9, 0.999),
                                 eps=1e-8)
    data = make_data(args.dataset, args.examples, device,
                     args.data or os.path.join(root, "data", "mnist-10k"))
    N = data.shape[0]
    steps = (N + batch - 1) // batch
    if args.max_steps:
        steps = min(steps, args.max_steps)

    alb_fn, ssm_fn = model.alb_loss, model.ssm_loss
    vae_step, prior_step = opt_vae.step, opt_prior.step
    parts = {"alb": "eager", "ssm": "eager (double backward)", "adam": "eager"}

    def one_step(p):
        loss, z = alb_fn(p)
        opt_vae.zero_grad(set_to_none=True)
        loss.backward()
        vae_step()
        J = ssm_fn(z, M, vr)
        opt_prior.zero_grad(set_to_none=True)
        J.backward()
        prior_step()
        return loss, J

    p0 = data[:batch]
    t0 = time.perf_counter()
    if mode == "compile":
        # one part at a time, so that a part that does not compile falls back alone;
        # dynamic=False: the full batch and the short last batch get one graph each
        def compile_alb():
            nonlocal alb_fn
            alb_fn = torch.compile(model.alb_loss, dynamic=False)

        def compile_ssm():
            # aot_autograd cannot differentiate a double backward, so the compiled prior step
            # takes the same loss through torch.func (jvp of grad), traced into one graph
            nonlocal ssm_fn
            ssm_fn = torch.compile(model.ssm_loss_func, dynamic=False)

        def compile_adam():
            nonlocal vae_step, prior_step
            vae_step = torch.compile(opt_vae.step, dynamic=False)
            prior_step = torch.compile(opt_prior.step, dynamic=False)

        saved = {"alb": lambda: model.alb_loss, "ssm": lambda: model.ssm_loss}
        for name, enable, label in (("alb", compile_alb, "compiled"),
                                    ("ssm", compile_ssm, "compiled (torch.func jvp of grad)"),
                                    ("adam", compile_adam, "compiled")):
            enable()
            try:
                one_step(p0)
                parts[name] = label
            except Exception as exc:  # noqa: BLE001 - report and fall back, part by part
                msg = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
                parts[name] += f" (compile failed: {msg})"
                if name == "alb":
                    alb_fn = saved["alb"]()
                elif name == "ssm":
                    ssm_fn = saved["ssm"]()
                else:
                    vae_step, prior_step = opt_vae.step, opt_prior.step
    if N % batch and steps * batch >= N:
        one_step(data[: N % batch])  # the short last batch's shape, before the timed epochs
    sync(device)
    compile_s = time.perf_counter() - t0

    def epoch(e, max_steps):
        perm = torch.randperm(N, device=device)
        acc = torch.zeros((), device=device)
        for s in range(max_steps):
            idx = perm[s * batch:(s + 1) * batch]
            loss, J = one_step(data[idx])
            acc += loss.detach()
        return acc

    if args.warmup_steps > 0:
        epoch(-1, min(steps, args.warmup_steps))
    sync(device)
    times, cpu_times = [], []
    last = None
    for e in range(args.epochs):
        sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        last = epoch(e, steps)
        float(last)  # the host reads the epoch's sum, as evae does
        sync(device)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)  # all threads: robust to a shared machine
        print(f"  {args.dataset} {mode} epoch {e + 1}: {times[-1]:.3f} s "
              f"({cpu_times[-1]:.3f} CPU s)", flush=True)

    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] if len(xs) % 2 else 0.5 * (xs[len(xs) // 2 - 1] + xs[len(xs) // 2])

    med = median(times)
    ex = min(N, steps * batch)
    return {
        "dataset": args.dataset,
        "mode": mode,
        "examples": ex,
        "batch": batch,
        "steps": steps,
        "epochs_timed": args.epochs,
        "epoch_s": med,
        "epoch_s_all": times,
        "epoch_cpu_s": median(cpu_times),
        "params": sum(p.numel() for p in vae_params),
        "prior_params": sum(p.numel() for p in model.prior.parameters()),
        "ms_per_epoch": med * 1e3,
        "examples_per_s": ex / med,
        "compile_s": compile_s if mode == "compile" else 0.0,
        "parts": parts,
        "final_batch_loss": float(last) / steps if last is not None else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=["mnist", "cifar10"], required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--modes", default="eager,compile")
    ap.add_argument("--examples", type=int, default=0,
                    help="examples per epoch (default 60000 MNIST, 50000 CIFAR-10)")
    ap.add_argument("--max-steps", type=int, default=0, help="time only the first steps")
    ap.add_argument("--epochs", type=int, default=0, help="timed epochs (default 5 GPU, 1 CPU)")
    ap.add_argument("--warmup-steps", type=int, default=-1)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    ap.add_argument("--data", default=None, help="MNIST folder (default data/mnist-10k)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    gpu = args.device.startswith("cuda")
    if gpu and not torch.cuda.is_available():
        print("vae_bench: --device cuda but torch.cuda.is_available() is False", file=sys.stderr)
        return 3
    if not args.examples:
        args.examples = 60000 if args.dataset == "mnist" else 50000
    if not args.epochs:
        args.epochs = 5 if gpu else 1
    if args.warmup_steps < 0:
        args.warmup_steps = 20 if gpu else 3
    if args.threads:
        torch.set_num_threads(args.threads)
    if gpu:
        # FP32 products, as evae's cuBLAS/cuDNN default (no TF32 tensor cores)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    out = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if gpu else platform.processor() or "cpu",
        "threads": torch.get_num_threads(),
        "tf32": False,
        "results": [],
    }
    for mode in args.modes.split(","):
        try:
            out["results"].append(run(args, mode))
        except Exception as exc:  # noqa: BLE001 - one failed mode must not lose the others
            msg = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            print(f"vae_bench: {args.dataset} {mode} failed: {msg}", file=sys.stderr)
            out["results"].append({"dataset": args.dataset, "mode": mode, "error": msg})
    for r in out["results"]:
        if "error" not in r:
            print(f"{r['dataset']} {r['mode']}: {r['epoch_s']:.3f} s/epoch "
                  f"({r['examples_per_s']:.0f} examples/s, {r['examples']} examples)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
