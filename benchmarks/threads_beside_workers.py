"""Intra-op threads beside loader workers: `dlae run` on augmented data with torch's own thread count
(dlae's behaviour) against the same run with OMP_NUM_THREADS = cores - loader workers (the rule
"leave the workers their cores", which dlae tried and does not use: on 2 cores it made this run
~1.6x slower; see benchmarks/README.md).

    python benchmarks/threads_beside_workers.py [--case unet2d] [--epochs 3] [--repeats 4] [--workers N]

Augmentation (flips, rotation, shifts) keeps the loader workers busy each epoch: that is the case the
rule would be for (without random augmentation the data come from memory and no worker runs). Whole
processes, alternating order; prints the medians, the median paired ratio (torch default / rule:
above 1.0, the rule would be faster) and the CPU share stolen by the hypervisor meanwhile.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402
from wall_time import timed  # noqa: E402
from wall_time_cases import CASES, dlae_config  # noqa: E402


def augmented_config(case, out: Path, epochs: int) -> dict:
    config = dlae_config(case, out, epochs=epochs)
    config["augmentation"].update({"apply_augmentation_switch": True, "horizontal_flip_switch": True,
                                   "vertical_flip_switch": True, "rotation_range": 20.0,
                                   "width_shift": 0.1, "height_shift": 0.1})
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", default="unet2d", choices=sorted(CASES))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--workers", type=int, default=None, help="loader workers (default: dlae's choice)")
    args = parser.parse_args()
    case = CASES[args.case]
    common.require_data(*case.files())
    work = Path(tempfile.mkdtemp(prefix="dlae_threads_"))
    config = common.write_config(augmented_config(case, work / "out", args.epochs), work / "config.json")
    command = [sys.executable, "-m", "dlae_core.cli.main", "run", "--backend", "torch", "--quiet", "--overwrite",
               str(config)] + (["--workers", str(args.workers)] if args.workers is not None else [])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = args.workers if args.workers is not None else max(1, min(8, cores // 2))  # dlae's default
    environment = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    sides = {"rule": {**environment, "OMP_NUM_THREADS": str(max(1, cores - workers))}, "torch default": environment}
    times: dict[str, list[float]] = {side: [] for side in sides}
    stolen = []
    for repeat in range(args.repeats):
        for side in (list(sides) if repeat % 2 == 0 else list(sides)[::-1]):
            seconds, _, steal = timed(command, work / f"{side.replace(' ', '_')}_{repeat}.log", sides[side])
            times[side].append(seconds)
            stolen += [steal] if steal is not None else []
            print(f"  {side} run {repeat + 1}: {seconds:.2f} s" + (f", stolen {100 * steal:.0f}%" if steal is not None
                                                                   else ""), file=sys.stderr, flush=True)
    paired = statistics.median(d / r for r, d in zip(times["rule"], times["torch default"]))
    print(f"{case.name} with augmentation, {args.epochs} epochs, {cores} cores: "
          f"rule {statistics.median(times['rule']):.2f} s {times['rule']}, torch default "
          f"{statistics.median(times['torch default']):.2f} s {times['torch default']}; median paired ratio "
          f"default/rule {paired:.3f}" + (f"; CPU stolen {100 * statistics.median(stolen):.0f}% (median)"
                                          if stolen else ""))
    print(f"machine: {common.MACHINE}")


if __name__ == "__main__":
    main()
