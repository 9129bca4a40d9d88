"""Data-parallel overhead on the CPU (issue 14): the same FCN training (same global batch) in one
process and in ``--processes 2`` (torch: gloo; tensorflow: two MultiWorkerMirroredStrategy workers).
Settings: one process with 1 thread and with ``--cores`` threads, two processes with ``--cores / 2``
threads each (the same cores as the second). The training throughput is read from the epoch lines
(samples/s of the training steps: torch's rank 0 counts its own samples, so times the processes), the
median over the epochs after the first; start-up, imports and validation are out. Needs no data
set: tiny generated data. Prints one JSON object.

    python benchmarks/distributed_overhead.py [--backend torch] [--size 64] [--samples 128] [--batch 16] [--cores 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "backends"))
from support import fcn_layers, make_config, make_data, save_to, write_config  # noqa: E402


def throughput(backend: str, config: dict, folder: Path, processes: int, threads: int) -> tuple[float, float]:
    """(global training samples/s: the median of the epochs after the first, wall seconds of the
    command); ``threads`` per process."""
    path = write_config(folder / "config.json", config)
    extra = ["--processes", str(processes)] if processes > 1 else []
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TF_NUM_INTRAOP_THREADS": str(threads)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dlae_core.cli.main", "run", "--backend", backend, path, "--quiet",
                           "--workers", "0", "--overwrite", *extra], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"dlae run failed:\n{done.stdout}{done.stderr}")
    rates = [float(m.group(1)) for m in re.finditer(r"^epoch \d+/\d+: .*\| ([\d.]+) samples/s", done.stderr, re.M)]
    counted = processes if backend == "torch" else 1  # torch's rank 0 counts its own part, TF the global batch
    return statistics.median(rates[1:]) * counted, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch", choices=("torch", "tensorflow"))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    out: dict = {"backend": args.backend, "image": args.size, "samples": args.samples, "global_batch": args.batch}
    with tempfile.TemporaryDirectory(prefix="dlae-ddp-bench-") as tmp:
        folder = Path(tmp)
        data = make_data(folder / "data", "segmentation", n=args.samples, size=args.size)
        settings = {"1_process_1_thread": (1, 1), f"1_process_{args.cores}_threads": (1, args.cores),
                    f"2_processes_{args.cores // 2}_thread_each": (2, max(1, args.cores // 2))}
        for name, (processes, threads) in settings.items():
            config = make_config("FCN", (args.size, args.size, 1), fcn_layers(args.size), data,
                                 save_configurations=save_to(folder / "out", csv_=False),
                                 training_configurations={"hardware": "cpu", "batch_size": args.batch,
                                                          "epochs": args.epochs, "validation_split": 0.0,
                                                          "early_stop_switch": False})
            rate, wall = throughput(args.backend, config, folder, processes, threads)
            out[name] = {"samples_per_s": round(rate, 1), "epoch_s": round(args.samples / rate, 3),
                         "wall_s": round(wall, 1)}
    names = list(settings)
    two = out[names[2]]["epoch_s"]
    out["epoch_time_2_processes_vs_1_process_same_cores"] = round(two / out[names[1]]["epoch_s"], 3)
    out["epoch_time_2_processes_vs_1_process_1_thread"] = round(two / out[names[0]]["epoch_s"], 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
