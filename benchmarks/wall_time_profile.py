"""Where the time of a whole `dlae run` goes: a profile by phase, kept to find what a hand-written
script does not pay (issue 19).

    python benchmarks/wall_time_profile.py [--case cnn] [--backend torch] [--epochs 10] [--top 0]

Runs `dlae run --quiet` of a wall_time.py case in a child process under cProfile and prints the
seconds of each phase (cumulative time of the functions that do it): process start and imports,
plugin loading, config and data checks, model and optimizer, keeping the data in memory, the
training steps, validation, checkpoint and CSV writes, progress, the run report and record. For
comparison it times what the hand-written script cannot avoid either: starting Python and
importing the framework and h5py. ``--top N`` also prints the N most expensive functions.
"""

from __future__ import annotations

import argparse
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402
from wall_time_cases import CASES, dlae_config  # noqa: E402

#: phase -> (file fragment, function name) whose cumulative time is the phase's
PHASES = [
    ("plugin loading (entry points, registry)", "plugin/registry.py", "get_registry"),
    ("config parsing, planning, data checks", "cli/loading.py", "load_and_plan"),
    ("framework import (backend module)", "plugin/registry.py", "backend"),
    ("model, loss and optimizer", "techniques/base.py", "training_engine"),
    ("keeping data in memory", "data/memory.py", "keep_in_memory"),
    ("reading earlier outputs (keep_better)", "training/keep_better.py", "read"),
    ("training epochs (steps)", "training/loop.py", "_train_epoch"),
    ("validation", "training/loop.py", "_evaluate"),
    ("checkpoint writes (training thread)", "training/saver.py", "save"),
    ("CSV history", "training/history.py", "write"),
    ("final model", "training/loop.py", "save_final_model"),
    ("report at the end (pictures, report.html)", "report/reporter.py", "end"),
    ("run record at the end", "running/record.py", "__exit__"),
]


def phase_seconds(stats: pstats.Stats, fragment: str, name: str) -> float:
    return sum(entry[3] for (path, _, function), entry in stats.stats.items()
               if function == name and path.endswith(fragment))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", default="cnn", choices=sorted(CASES))
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--top", type=int, default=0)
    args = parser.parse_args()
    case = CASES[args.case]
    common.require_data(*case.files())
    work = Path(tempfile.mkdtemp(prefix="dlae_profile_"))
    config = common.write_config(dlae_config(case, work / "out", epochs=args.epochs), work / "config.json")
    profile = work / "run.prof"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "dlae_core.cli.main", "run",
                    "--backend", args.backend, "--quiet", str(config)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    framework = "torch" if args.backend == "torch" else "tensorflow"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {framework}, h5py, numpy"], check=True)
    baseline = time.perf_counter() - start

    stats = pstats.Stats(str(profile))
    total = max(stats.total_tt, 1e-9)
    print(f"dlae run, {case.name} case, {args.epochs} epochs, {args.backend}: {wall:.2f} s wall "
          f"({total:.2f} s profiled; the profiler slows Python-heavy parts)")
    print(f"  python + import {framework}, h5py, numpy alone (what any script pays): {baseline:.2f} s")
    for label, fragment, name in PHASES:
        seconds = phase_seconds(stats, fragment, name)
        print(f"  {label:42s} {seconds:7.2f} s  {100 * seconds / total:5.1f}%")
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
