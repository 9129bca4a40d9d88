"""Whole-run wall time: `dlae run` against the script a user would write, same work, same machine.

    python benchmarks/wall_time.py [--cases cnn,unet2d,unet3d] [--backends torch,tensorflow]
                                   [--repeats 3] [--epochs N] [--json results.json] [-- extra dlae run options]

For each case (benchmarks/wall_time_cases.py: the digits CNN of issue 19, a small 2-D U-Net, a small
3-D U-Net) and backend, runs -- alternating which goes first -- the hand-written script
(wall_time_hand_torch.py, or wall_time_hand_tf.py for the TensorFlow backend) and `dlae run --quiet`
on the same data and settings, each as its own process, and times the whole process (start,
imports, data, training, validation, best-model saving, exit). Prints per pair the seconds and the
ratio of medians hand / dlae (1.0: as fast as the script; the target is >= 0.95), and the median of
the paired ratios (each repeat's hand / dlae, the two runs back to back): on a shared machine whose
load drifts over minutes (a cloud VM's stolen CPU time), the paired figure is the steadier one.
Each run's seconds go to standard error as they come (`--quiet-progress` turns that off), with its
CPU seconds and the share of the machine's CPU time the hypervisor stole meanwhile (/proc/stat): a
figure taken while much is stolen says more about the neighbours than about dlae.

``--side-by-side`` runs the two at the same time instead, each pinned to its own core with one
thread (OMP_NUM_THREADS / TF_NUM_INTRAOP_THREADS = 1), the cores swapped every repeat: whatever the
machine does meanwhile (stolen time, a slower host, memory traffic of neighbours) falls on both runs
alike, so the paired ratio holds even where run-to-run times drift by 50%. It measures one thread
each, not torch's default two; the alternating mode is the one for the default settings.

The hand-written side also scores the test set, which `dlae run` does not: the ratio is, if anything,
in the script's disfavour. Needs the shared data sets (<workspace>/shared/data).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402
from wall_time_cases import CASES, dlae_config  # noqa: E402

HAND = {"torch": HERE / "wall_time_hand_torch.py", "tensorflow": HERE / "wall_time_hand_tf.py"}


def timed(command: list[str], log: Path, env: dict | None = None) -> tuple[float, float, float | None]:
    """Wall seconds of ``command`` as a process, its CPU seconds (user + system, its children
    included) and the share of the machine's CPU time stolen by the hypervisor meanwhile (None where
    /proc/stat is missing); raises with the output on failure."""
    cpu_before, steal_before = _children_cpu(), _cpu_ticks()
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seconds = time.perf_counter() - start
    cpu, ticks = _children_cpu() - cpu_before, _cpu_ticks()
    log.write_text(done.stdout)
    if done.returncode:
        raise _failed(command, done.returncode, done.stdout)
    stolen = None
    if ticks and steal_before:
        total = sum(ticks) - sum(steal_before)
        stolen = (ticks[7] - steal_before[7]) / total if total > 0 else 0.0
    return seconds, cpu, stolen


def _failed(command: list[str], code: int, output: str) -> SystemExit:
    return SystemExit(f"failed ({code}): {' '.join(command)}\n{output[-3000:]}")


ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1",
              "TF_NUM_INTEROP_THREADS": "1"}


def side_by_side(runs: dict[str, list[str]], cores: dict[str, int], logs: dict[str, Path]) -> dict[str, float]:
    """Wall seconds of each command, all started together, each pinned to its core with one thread."""
    env = {**os.environ, **ONE_THREAD}
    started, processes, seconds = time.perf_counter(), {}, {}
    for side, command in runs.items():
        processes[side] = subprocess.Popen(command, stdout=logs[side].open("w"), stderr=subprocess.STDOUT, env=env,
                                           preexec_fn=lambda core=cores[side]: os.sched_setaffinity(0, {core}))
    while len(seconds) < len(processes):
        for side, process in processes.items():
            if side not in seconds and process.poll() is not None:
                seconds[side] = time.perf_counter() - started
                if process.returncode:
                    raise _failed(runs[side], process.returncode, logs[side].read_text())
        time.sleep(0.05)
    return seconds


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_ticks() -> list[int] | None:
    """The machine's CPU time counters (user, nice, system, idle, iowait, irq, softirq, steal)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            return [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None


def tree_env(tree: str) -> dict:
    """The environment that runs the dlae of another checkout (e.g. an earlier commit's worktree)."""
    root = Path(tree).resolve()
    paths = [root, root / "backends" / "torch", root / "backends" / "tensorflow"]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}


def commands(case, backend: str, work: Path, epochs: int | None, extra: list[str]) -> dict[str, list[str]]:
    out = work / f"{case.name}_{backend}"
    config = common.write_config(dlae_config(case, out / "dlae", epochs=epochs), out / "config.json")
    hand = [sys.executable, str(HAND[backend]), case.name, str(out / "hand")]
    dlae = [sys.executable, "-m", "dlae_core.cli.main", "run", "--backend", backend, "--quiet", "--overwrite",
            str(config), *extra]
    if epochs:
        hand += ["--epochs", str(epochs)]
    return {"hand": hand, "dlae": dlae}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="cnn,unet2d,unet3d")
    parser.add_argument("--backends", default="torch,tensorflow")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="override every case's epochs")
    parser.add_argument("--json", default=None, help="write the timings here")
    parser.add_argument("--before", default=None, metavar="TREE",
                        help="also time the dlae of this checkout (e.g. `git worktree add /tmp/before REV`): "
                             "the figures before a change, in the same call")
    parser.add_argument("--side-by-side", action="store_true",
                        help="run hand and dlae at once, one core and one thread each, cores swapped per repeat")
    parser.add_argument("--quiet-progress", action="store_true", help="no line per run on standard error")
    parser.add_argument("extra", nargs="*", help="more `dlae run` options (after --)")
    args = parser.parse_args()
    if args.side_by_side and (args.before or len(os.sched_getaffinity(0)) < 2):
        raise SystemExit("--side-by-side needs two usable cores and no --before")
    cases = [CASES[name] for name in args.cases.split(",")]
    common.require_data(*{f for case in cases for f in case.files()})
    work = Path(tempfile.mkdtemp(prefix="dlae_wall_time_"))
    results = {}
    try:
        for case in cases:
            for backend in args.backends.split(","):
                runs = commands(case, backend, work, args.epochs, args.extra)
                if args.side_by_side:
                    results[f"{case.name}/{backend}"] = _side_by_side_case(case.name, backend, runs, work, args)
                    continue
                sides = ["hand", "dlae"] + (["before"] if args.before else [])
                envs = {"before": tree_env(args.before)} if args.before else {}
                if args.before:  # the same command with its own config and outputs, run by the other checkout
                    runs["before"] = commands(case, backend, work / "before", args.epochs, args.extra)["dlae"]
                times = {side: [] for side in sides}
                cpu = {side: [] for side in sides}
                steal = []
                for repeat in range(args.repeats):
                    order = sides if repeat % 2 == 0 else sides[::-1]
                    for side in order:
                        log = work / f"{case.name}_{backend}_{side}_{repeat}.log"
                        seconds, cpu_seconds, stolen = timed(runs[side], log, envs.get(side))
                        times[side].append(seconds)
                        cpu[side].append(cpu_seconds)
                        steal += [stolen] if stolen is not None else []
                        if not args.quiet_progress:
                            print(f"  {case.name} {backend} {side} run {repeat + 1}: {seconds:.2f} s, "
                                  f"CPU {cpu_seconds:.2f} s" + (f", stolen {100 * stolen:.0f}%" if stolen is not None
                                                                else ""), file=sys.stderr, flush=True)
                ratio = statistics.median(times["hand"]) / statistics.median(times["dlae"])
                paired = statistics.median(h / d for h, d in zip(times["hand"], times["dlae"]))
                cpu_ratio = statistics.median(cpu["hand"]) / statistics.median(cpu["dlae"])
                results[f"{case.name}/{backend}"] = {**times, "ratio": ratio, "paired_ratio": paired,
                                                     "cpu": cpu, "cpu_ratio": cpu_ratio, "stolen": steal}
                line = (f"{case.name:7s} {backend:10s} hand {_fmt(times['hand'])}  dlae {_fmt(times['dlae'])}  "
                        f"ratio of medians hand/dlae {ratio:.3f}, median paired ratio {paired:.3f}; CPU seconds "
                        f"hand/dlae {cpu_ratio:.3f}" + (f"; CPU stolen {100 * statistics.median(steal):.0f}% "
                                                        f"(median)" if steal else ""))
                if args.before:
                    before = statistics.median(times["hand"]) / statistics.median(times["before"])
                    results[f"{case.name}/{backend}"]["ratio_before"] = before
                    line += f"  | before: {_fmt(times['before'])}, ratio {before:.3f}"
                print(line, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {common.MACHINE}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def _side_by_side_case(name: str, backend: str, runs: dict, work: Path, args) -> dict:
    first, second = sorted(os.sched_getaffinity(0))[:2]
    times = {"hand": [], "dlae": []}
    for repeat in range(args.repeats):
        cores = {"hand": first, "dlae": second} if repeat % 2 == 0 else {"hand": second, "dlae": first}
        logs = {side: work / f"{name}_{backend}_{side}_{repeat}.log" for side in times}
        seconds = side_by_side({side: runs[side] for side in times}, cores, logs)
        for side in times:
            times[side].append(seconds[side])
        if not args.quiet_progress:
            print(f"  {name} {backend} side by side run {repeat + 1}: hand {seconds['hand']:.2f} s on core "
                  f"{cores['hand']}, dlae {seconds['dlae']:.2f} s on core {cores['dlae']}", file=sys.stderr, flush=True)
    ratio = statistics.median(times["hand"]) / statistics.median(times["dlae"])
    paired = statistics.median(h / d for h, d in zip(times["hand"], times["dlae"]))
    print(f"{name:7s} {backend:10s} side by side, 1 thread each: hand {_fmt(times['hand'])}  dlae "
          f"{_fmt(times['dlae'])}  ratio of medians hand/dlae {ratio:.3f}, median paired ratio {paired:.3f}", flush=True)
    return {**times, "ratio": ratio, "paired_ratio": paired, "mode": "side by side"}


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s (" + ", ".join(f"{v:.2f}" for v in values) + ")"


if __name__ == "__main__":
    main()
