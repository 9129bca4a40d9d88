"""dlae's training step against the hand-written one in the same process, on the same batches,
alternating epochs: the part of benchmarks/wall_time.py that a busy or shared machine disturbs least.

    python benchmarks/wall_time_steps.py [--case cnn] [--rounds 6]

Starts `dlae run --backend torch` of a wall_time.py case in this process and, instead of its epoch
loop, takes the run's own training batches (data kept in memory) and step engine and times, round
after round, one epoch of each:

* ``dlae step`` -- the engine's train_step (what `dlae run` does per batch: forward, loss, finiteness
  check, backward, optimizer step, loss and accuracy values) after setting the scheduled rate;
* ``hand step`` -- the network of wall_time_hand_torch.py (its CNN or benchmarks/handwritten.py's
  U-Net), F.cross_entropy on logits, Adam: what the hand-written script does per batch.

Both run under the same threads, heap and machine load, so stolen CPU time and other neighbours
affect them alike; the median paired ratio (hand / dlae per round) is the figure to read. Each
side's minor page faults and system CPU seconds per epoch are printed too (what the allocator costs).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402
from wall_time_cases import CASES, dlae_config  # noqa: E402


def hand_network(case):
    if case.kind == "cnn":
        from wall_time_hand_torch import CNN

        return CNN(case.dims, case.input_shape[-1], case.widths, case.classes)
    from handwritten import HandUNet

    return HandUNet(case.dims, case.input_shape[-1], case.classes, case.widths)


def compare(case, engine, batches, rounds: int) -> dict[str, list[float]]:
    """Seconds per epoch of each side, ``rounds`` times, alternating which goes first."""
    import torch
    import torch.nn.functional as F

    hand = hand_network(case)
    optimizer = torch.optim.Adam(hand.parameters(), lr=case.lr, eps=1e-7)
    # the hand side's batches: channels-first inputs, integer labels (what the script holds)
    hand_batches = [(b["x"].movedim(-1, 1).contiguous(),
                     b["y"].long().reshape(-1) if case.kind == "cnn" else b["y"].long().squeeze(-1)) for b in batches]

    def hand_epoch() -> None:
        hand.train()
        for x, y in hand_batches:
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(hand(x), y).backward()
            optimizer.step()

    def dlae_epoch() -> None:
        for batch in batches:
            engine.set_learning_rate(case.lr)
            engine.train_step(batch)

    sides = {"hand step": hand_epoch, "dlae step": dlae_epoch}
    times: dict[str, list[float]] = {side: [] for side in sides}
    kernel = {side: [] for side in sides}  # (minor page faults, system CPU seconds) per epoch
    for round_ in range(rounds):
        for side in (list(sides) if round_ % 2 == 0 else list(sides)[::-1]):
            before = resource.getrusage(resource.RUSAGE_SELF)
            start = time.perf_counter()
            sides[side]()
            times[side].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_SELF)
            kernel[side].append((after.ru_minflt - before.ru_minflt, after.ru_stime - before.ru_stime))
    return times, kernel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", default="cnn", choices=sorted(CASES))
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    case = CASES[args.case]
    common.require_data(*case.files())
    work = Path(tempfile.mkdtemp(prefix="dlae_steps_"))
    config = common.write_config(dlae_config(case, work / "out", epochs=1), work / "config.json")

    from dlae_core.cli.main import cli
    from dlae_core.training import loop

    def timed_instead_of_training(self, train_batches, validation_batches=None, *, set_epoch=None):
        if set_epoch is not None:
            set_epoch(0)
        batches = list(train_batches)
        times, kernel = compare(case, self.engine, batches, args.rounds)
        hand, dlae = times["hand step"], times["dlae step"]
        paired = statistics.median(h / d for h, d in zip(hand, dlae))
        print(f"{case.name}: seconds per epoch ({len(batches)} batches), hand step "
              f"{statistics.median(hand):.3f} ({', '.join(f'{v:.2f}' for v in hand)}), dlae step "
              f"{statistics.median(dlae):.3f} ({', '.join(f'{v:.2f}' for v in dlae)}); median paired ratio "
              f"hand/dlae {paired:.3f}")
        for side, values in kernel.items():
            print(f"  {side}: minor page faults per epoch {statistics.median(v[0] for v in values):.0f}, "
                  f"system CPU {statistics.median(v[1] for v in values):.3f} s per epoch")
        print(f"machine: {common.MACHINE}")
        raise SystemExit(0)

    loop.TrainingLoop.run = timed_instead_of_training
    cli.main(["run", "--backend", "torch", "--quiet", "--overwrite", str(config)], standalone_mode=False)


if __name__ == "__main__":
    main()
