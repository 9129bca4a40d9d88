"""What the run record and the pictures cost on the example FCN (issue 17: under 2% of wall time).

Runs ``dlae run --backend torch`` on ``dlae example fcn`` alternately with the report (as shipped) and
without it (the reporter and the end-of-run page switched off), ``--rounds`` times each, in fresh
processes; prints wall and CPU seconds of each run, the medians, and what the reporter itself
measured (seconds the training thread waited for it, CPU seconds of its drawing thread).

    python benchmarks/report_cost.py [--rounds 3] [--folder /tmp/dlae-report-cost]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

WITHOUT = """
import sys
import dlae_core.running.training as training, dlae_core.report as report
training.for_session = lambda *a, **k: (None, None)
report.finish = lambda *a, **k: None
from dlae_core.cli.main import main
sys.argv = ["dlae"] + sys.argv[1:]
main()
"""


def one(folder: Path, with_report: bool) -> dict:
    shutil.rmtree(folder / "out", ignore_errors=True)
    args = ["run", "--backend", "torch", str(folder / "config.json"), "--quiet"]
    command = ([sys.executable, "-m", "dlae_core.cli.main", *args] if with_report
               else [sys.executable, "-c", WITHOUT, *args])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    timing = folder / "out" / "model.pt.report" / "timing.json"
    row = {"report": with_report, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
    if with_report and timing.is_file():
        row.update(json.loads(timing.read_text()))
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folder", default="/tmp/dlae-report-cost")
    options = parser.parse_args()
    folder = Path(options.folder)
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "dlae_core.cli.main", "example", "fcn", str(folder)], check=True,
                   stdout=subprocess.DEVNULL)
    rows = []
    for _ in range(options.rounds):
        for with_report in (False, True):
            rows.append(one(folder, with_report))
            print(json.dumps(rows[-1]), flush=True)
    on = [r for r in rows if r["report"]]
    off = [r for r in rows if not r["report"]]
    wall_on, wall_off = statistics.median(r["wall_s"] for r in on), statistics.median(r["wall_s"] for r in off)
    blocking = statistics.median(r.get("seconds_blocking", 0) for r in on)
    drawing = statistics.median(r.get("seconds_drawing", 0) for r in on)
    print(f"median wall: {wall_off:.2f} s without, {wall_on:.2f} s with the report "
          f"({100 * (wall_on - wall_off) / wall_off:+.1f}%)")
    print(f"median CPU: {statistics.median(r['cpu_s'] for r in off):.2f} s without, "
          f"{statistics.median(r['cpu_s'] for r in on):.2f} s with")
    print(f"reporter: training thread waited {blocking:.3f} s ({100 * blocking / wall_on:.2f}% of wall), "
          f"drawing thread used {drawing:.3f} s CPU ({100 * drawing / wall_on:.2f}% of wall)")


if __name__ == "__main__":
    main()
