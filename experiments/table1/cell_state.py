"""The state of one cell's run folder, for experiments/table1.sh (standard library only).

    cell_state.py DIR EPOCHS [eval.key=value ...]   prints finished | trained | epoch E/N |
                                                    started | new
    cell_state.py --summary DIR                     one line of the cell's main numbers

finished: eval.json and eval_examples.csv exist, eval.json evaluated the checkpoint of epoch
EPOCHS, and each eval.key=value given is the value in its settings; trained: the checkpoint holds
epoch EPOCHS but the evaluation is missing or was made otherwise; epoch E/N: a checkpoint of an
earlier epoch (a resume continues it); started: a folder without a checkpoint.
"""
import json
import math
import os
import struct
import sys

CHECKPOINT = "checkpoint.safetensors"


def checkpoint_epoch(path):
    """The completed epoch stored in a safetensors checkpoint's metadata, None if unreadable."""
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        return int(header["__metadata__"]["epoch"])
    except (OSError, ValueError, KeyError, struct.error):
        return None


def same_value(setting, text):
    """Whether eval.json's setting (number, bool or text) is the override's text."""
    if isinstance(setting, bool):
        return str(setting).lower() == text.lower()
    if isinstance(setting, (int, float)):
        try:
            return math.isclose(float(setting), float(text), rel_tol=1e-12)
        except ValueError:
            return False
    return str(setting) == text


def state(folder, epochs, overrides):
    if not os.path.isdir(folder):
        return "new"
    epoch = checkpoint_epoch(os.path.join(folder, CHECKPOINT))
    if epoch is None:
        return "started"
    if epoch != epochs:
        return f"epoch {epoch}/{epochs}"
    try:
        with open(os.path.join(folder, "eval.json")) as f:
            ev = json.load(f)
    except (OSError, ValueError):
        return "trained"
    if ev.get("checkpoint_epoch") != epochs:
        return "trained"
    if not os.path.isfile(os.path.join(folder, "eval_examples.csv")):
        return "trained"
    settings = ev.get("settings", {})
    for kv in overrides:
        key, _, value = kv.partition("=")
        if not key.startswith("eval."):
            continue
        name = key[len("eval."):]
        if name not in settings or not same_value(settings[name], value):
            return "trained"
    return "finished"


def summary(folder):
    with open(os.path.join(folder, "eval.json")) as f:
        ev = json.load(f)
    est = ev["estimates"]
    bpd = "bits_per_dim" in est["nll_importance_sampling"]
    key, unit = ("bits_per_dim", "bits/dim") if bpd else ("value", "nats")
    parts = [f"{name} {est[e][key]:.4g}" for name, e in (
        ("IS NLL", "nll_importance_sampling"), ("classifier", "neg_vlb_classifier"),
        ("eq. 4", "nll_self_normalized_eq4"), ("-ELBO", "neg_elbo"))]
    return (f"{', '.join(parts)} ({unit}; {ev['test_set']['examples']} "
            f"{ev['test_set']['name']} examples, log Z {ev['log_z']['value']:.4f})")


def main(argv):
    if len(argv) == 2 and argv[0] == "--summary":
        print(summary(argv[1]))
        return 0
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(state(argv[0], int(argv[1]), argv[2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
