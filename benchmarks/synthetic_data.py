"""How long the example-data generator takes per kind (what `dlae example` and the tests pay).

Writes ``--samples`` training samples (plus the validation and test splits, a quarter each) of every
kind ``dlae_core.data.synthetic`` knows into a scratch folder, ``--repeats`` times, and prints the
median seconds per kind. The generator is meant to stay well under a second for a few hundred
samples on a 2-core CPU, so the README example and the test suite never wait on it.

    python benchmarks/synthetic_data.py [--samples 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def time_kind(kind: str, samples: int, repeats: int) -> list[float]:
    from dlae_core.data.synthetic import write_example_data

    seconds = []
    for repeat in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            write_example_data(Path(folder), kind, n=samples, seed=repeat)
            seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from dlae_core.data.synthetic import KINDS

    print(f"{'kind':<16}{'median s':>10}{'min s':>8}{'max s':>8}")
    for kind in KINDS:
        seconds = time_kind(kind, args.samples, args.repeats)
        print(f"{kind:<16}{statistics.median(seconds):>10.3f}{min(seconds):>8.3f}{max(seconds):>8.3f}")


if __name__ == "__main__":
    main()
