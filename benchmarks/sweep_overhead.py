"""Sweep overhead (issue 13): a ``dlae sweep`` of N one-epoch trials against the same N configs run one
after another with ``dlae run``, and the same sweep with ``--jobs 2`` against ``--jobs 1`` (pinned to two
cores with taskset where it exists). Needs no data set: tiny generated FCN data. Prints one JSON object.

    python benchmarks/sweep_overhead.py [--trials 20] [--jobs-trials 10] [--workdir D]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from sweep_support import write_base, write_sweep  # noqa: E402


def dlae(*args: str, pin: bool = False) -> float:
    """Wall seconds of ``dlae ARGS`` (failure stops the benchmark)."""
    prefix = ["taskset", "-c", "0,1"] if pin and shutil.which("taskset") else []
    start = time.perf_counter()
    done = subprocess.run([*prefix, sys.executable, "-m", "dlae_core.cli.main", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"dlae {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - start


def rates(count: int) -> list[float]:
    return [round(0.0005 * 1.2 ** i, 8) for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--jobs-trials", type=int, default=10)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="dlae-sweep-bench-"))
    base = write_base(work)
    import dlae_core.experiments as api

    configs = []
    for index, rate in enumerate(rates(args.trials)):
        exp = api.load(base)
        exp.learning_rate_schedule.learning_rate = rate
        configs.append(exp.into_folder(work / "plain" / str(index)).save(work / "plain" / str(index) / "config.json"))
    plain = sum(dlae("run", "--backend", "torch", str(c), "--quiet", "--workers", "0") for c in configs)
    sweep = write_sweep(work, "grid.json", search="grid",
                        parameters={"learning_rate_schedule.learning_rate": rates(args.trials)})
    swept = dlae("sweep", str(sweep), "-o", str(work / "sweep"))
    small = write_sweep(work, "jobs.json", search="grid",
                        parameters={"learning_rate_schedule.learning_rate": rates(args.jobs_trials)})
    jobs1 = dlae("sweep", str(small), "-o", str(work / "jobs1"), "--jobs", "1", pin=True)
    jobs2 = dlae("sweep", str(small), "-o", str(work / "jobs2"), "--jobs", "2", pin=True)
    print(json.dumps({"trials": args.trials, "plain_dlae_runs_s": round(plain, 1), "sweep_s": round(swept, 1),
                      "sweep_over_plain": round(swept / plain, 3), "jobs_trials": args.jobs_trials,
                      "jobs1_s": round(jobs1, 1), "jobs2_s": round(jobs2, 1),
                      "jobs2_over_jobs1": round(jobs2 / jobs1, 3), "workdir": str(work)}, indent=1))


if __name__ == "__main__":
    main()
