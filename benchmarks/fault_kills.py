"""Fault test (full version): SIGKILL ``dlae run`` at random moments -- in training, in validation,
while a checkpoint or the final model is being written -- then ``dlae run --resume`` and compare the
final model with an uninterrupted run, exactly (torch, CPU, Dropout + augmentation). Also: two runs
started together on one output folder (the second must stop, naming the first's PID) and the
loader workers of each killed run (they must be gone).

    python benchmarks/fault_kills.py --kills 20 --seed 0

Uses the built-in ``dlae example cnn`` data (no shared data needed). Prints one line per trial and
a summary: kills survived (resumed run equals the uninterrupted one), kills before the first
checkpoint (rerun from scratch), orphaned workers, concurrent-run outcomes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

EPOCHS = 6


def dlae(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dlae_core.cli.main", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def make_example(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "dlae_core.cli.main", "example", "cnn", str(folder)], check=True,
                   capture_output=True)
    raw = json.loads((folder / "config.json").read_text())
    layers = raw["layers"]["serial_layer_list"]
    layers.insert(len(layers) - 2, {"type": "Dropout", "rate": 0.3})
    raw["augmentation"] = {"apply_augmentation_switch": True, "horizontal_flip_switch": True,
                           "rotation_range": 10, "random_seed": 3}
    raw["training_configurations"].update({"epochs": EPOCHS, "batch_size": 8})
    raw["save_configurations"].update({"save_checkpoints_switch": True, "save_checkpoints_path": "out/best.pt",
                                       "save_checkpoints_frequency": 1})
    (folder / "config.json").write_text(json.dumps(raw))
    return folder / "config.json"


def weights(path: Path) -> dict:
    return {k: v.numpy() for k, v in torch.load(path, weights_only=True)["state_dict"].items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def children_of(pid: int) -> list[str]:
    return subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()


def kill_trial(config: Path, reference: dict, delay: float, workers: int) -> str:
    out = config.parent / "out"
    for stale in out.glob("*") if out.exists() else []:
        stale.unlink()
    process = dlae("run", "--backend", "torch", config, "--quiet", "--workers", workers)
    time.sleep(delay)
    kids = children_of(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(1.0)
    orphans = [k for k in kids if os.path.exists(f"/proc/{k}") and "Z" not in Path(f"/proc/{k}/stat").read_text()]
    resume = "--resume" if (out / "best.pt").exists() else "--overwrite"
    finish = dlae("run", "--backend", "torch", config, "--quiet", "--workers", workers, resume)
    _, err = finish.communicate()
    if finish.returncode != 0:
        return f"resume failed ({err.strip().splitlines()[-1] if err.strip() else finish.returncode})"
    verdict = "equal" if same(weights(out / "model.pt"), reference) else "DIFFERENT"
    kind = "resumed" if resume == "--resume" else "rerun (no checkpoint yet)"
    return f"{kind}, {verdict}" + (f", {len(orphans)} orphaned workers" if orphans else "")


def concurrent_trial(config: Path) -> str:
    runs = [dlae("run", "--backend", "torch", config, "--quiet", "--overwrite") for _ in range(2)]
    errors = [run.communicate()[1] for run in runs]
    codes = sorted(run.returncode for run in runs)
    refused = [i for i, run in enumerate(runs) if run.returncode == 2 and f"PID {runs[1 - i].pid}" in errors[i]]
    if codes == [0, 2] and refused:
        return "one run trained, the other was refused naming the first's PID"
    return f"exit codes {codes}: {[e.strip()[-160:] for e in errors]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        reference_config = make_example(Path(tmp) / "reference")
        start = time.perf_counter()
        done = dlae("run", "--backend", "torch", reference_config, "--quiet", "--workers", args.workers)
        _, err = done.communicate()
        assert done.returncode == 0, err
        duration = time.perf_counter() - start
        reference = weights(reference_config.parent / "out/model.pt")
        print(f"uninterrupted run: {duration:.1f} s for {EPOCHS} epochs")
        config = make_example(Path(tmp) / "trial")
        results = []
        for trial in range(args.kills):
            delay = rng.uniform(0.5, duration)
            results.append(kill_trial(config, reference, delay, args.workers))
            print(f"kill {trial + 1}: after {delay:.2f} s -> {results[-1]}", flush=True)
        concurrent = concurrent_trial(config)
        print(f"concurrent runs: {concurrent}")
    survived = sum(r.endswith("equal") for r in results)
    orphaned = sum("orphaned" in r for r in results)
    print(f"{args.kills} kills: {survived} ended equal to the uninterrupted run "
          f"({sum(r.startswith('resumed') for r in results)} resumed from a checkpoint), "
          f"{args.kills - survived} different or failed, {orphaned} with orphaned workers")


if __name__ == "__main__":
    main()
