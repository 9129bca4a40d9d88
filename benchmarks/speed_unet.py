"""Speed check: the small U-Net of learning_shapes.py trained through dlae's torch backend and through a
hand-written loop, in one process, plus the loader alone with full augmentation.

    python benchmarks/speed_unet.py [--rounds 8] [--batch 4] [--threads 1] [--workers N] [--profile] [--ops]

* Training throughput: one "round" is one epoch of shapes2d_train (400 samples, 64x64x1; 100 steps at
  batch 4), no augmentation, no validation. dlae: its loader (streaming from HDF5 in worker processes),
  TorchSteps (forward, loss, regularization, backward, Adam, accuracy monitor) and the core
  TrainingLoop's epoch (schedule, progress accounting), driven through TrainingLoop._train_epoch; hand-written: in-memory tensors, shuffled, logits +
  F.cross_entropy, Adam. Both sides run with the same torch thread count (--threads, default 1, so
  that dlae's loader worker has the other core of a 2-core machine). One warm-up round each, then
  pairs of rounds in ABBA order (dlae first in odd pairs, hand-written first in even ones) so that
  load from other processes and drift hit both alike; reported: the median over the pairs of the
  per-pair ratio dlae / hand-written (the headline, target >= 0.97), samples/s over all timed rounds,
  best rounds and their ratio.
* Loader alone: dlae's TrainingSamples + DataLoader with full augmentation (rotation, shifts, zoom,
  shear, flips), samples/s, against the training consumption rate measured above.
* --profile: cProfile of one extra dlae round (main process), top functions by own time;
  --ops: torch.profiler table (self CPU time per aten op) of one more round of each side.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import handwritten as hw  # noqa: E402

SHAPE, CLASSES = (64, 64, 1), 3
FULL_AUGMENTATION = {"apply_augmentation_switch": True, "rotation_range": 15, "width_shift": 0.1,
                     "height_shift": 0.1, "zoom_range": 0.1, "shear_range": 5.0,
                     "horizontal_flip_switch": True, "vertical_flip_switch": True, "fill_mode": "nearest"}


def config(args, augmentation: dict) -> dict:
    d = common.data_path
    return {
        "config_file": {"model_signal": "FCN", "type_signal": "Train", "input_shape": list(SHAPE)},
        "paths": {"train_X": d("shapes2d_train_X"), "train_y": d("shapes2d_train_y")},
        "preprocessing": {"normalization_type": "samplewise_unity_x", "categories": CLASSES},
        "augmentation": {"random_seed": 1, **augmentation},
        "loss_function": {"loss": "sparse_categorical_crossentropy"},
        "learning_rate_schedule": {"learning_rate": 0.001, "decay_on_plateau_switch": False},
        "optimizer": {"optimizer": "Adam"},
        "training_configurations": {"hardware": "cpu", "batch_size": args.batch, "epochs": 1000,
                                    "validation_split": 0.0, "early_stop_switch": False},
        "monitors": {"accuracy_switch": True},
        "layers": {"serial_layer_list": common.unet_layers(SHAPE, CLASSES)},
    }


def make_run(args, augmentation: dict, out: Path):
    from dlae_core.cli.loading import load_and_plan
    from dlae_core.running.run import Run, RunOptions

    path = common.write_config(config(args, augmentation), out / "config.json")
    cfg, plan, registry = load_and_plan(str(path), check_data=True)
    return Run(cfg, plan, registry, RunOptions(backend="torch", overwrite=True, quiet=True, workers=args.workers))


class DlaeSide:
    """dlae's step engine, core epoch loop (TrainingLoop) and loader on the torch backend, set up
    exactly as the core's supervised session (dlae_core.running.training) does; one epoch per call
    of round()."""

    def __init__(self, args, out: Path):
        from dlae_core.training.progress import TrainingProgress

        run = make_run(args, {"apply_augmentation_switch": False}, out)
        backend = run.registry.backend("torch")
        technique = run.registry.techniques[run.plan.technique]
        placement = backend.placement(run.config, 2)
        backend.seed(run.config.augmentation.random_seed)
        data = technique.training_data(run, placement)
        self.steps = technique.training_engine(run, backend, data, placement)
        self.loop = technique.training_loop(run, self.steps, "")
        self.loader, self.set_epoch = backend.training_batches(data.train, args.batch, args.workers, placement)
        self.progress = TrainingProgress(10 ** 6, quiet=True).__enter__()
        self.epoch, self.samples = 0, len(data.train)

    def round(self) -> float:
        self.set_epoch(self.epoch)
        start, cpu = time.perf_counter(), time.process_time()
        self.loop._train_epoch(self.loader, self.epoch, self.progress)
        self.epoch += 1
        self.cpu = time.process_time() - cpu
        return time.perf_counter() - start

    def wait_share(self) -> float:
        p = self.progress
        return p.wait / max(p.wait + p.busy, 1e-9)


class HandSide:
    def __init__(self, args):
        _, x = common.load_h5(common.data_path("shapes2d_train_X"))
        _, y = common.load_h5(common.data_path("shapes2d_train_y"))
        self.x = common.to_channels_first(common.samplewise_unity(x))
        self.y = torch.from_numpy(y[..., 0].astype(np.int64))
        torch.manual_seed(1)
        self.model = hw.HandUNet(2, 1, CLASSES)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=0.001, eps=1e-7)
        self.batch, self.samples, self.gen = args.batch, len(self.x), torch.Generator().manual_seed(1)

    def round(self) -> float:
        start, cpu = time.perf_counter(), time.process_time()
        self.model.train()
        order = torch.randperm(len(self.x), generator=self.gen)
        for i in range(0, len(self.x), self.batch):
            idx = order[i:i + self.batch]
            self.opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.model(self.x[idx]), self.y[idx])
            loss.backward()
            self.opt.step()
            loss.item()
        self.cpu = time.process_time() - cpu
        return time.perf_counter() - start


def loader_rate(args, out: Path, model_rate: float) -> None:
    from dlae_torch.loader import EpochIndexed, EpochSampler, make_loader
    from dlae_core.training.data_setup import prepare_data

    run = make_run(args, FULL_AUGMENTATION, out)
    data = prepare_data(run)
    for workers in sorted({args.workers if args.workers is not None else -1, 0, 1, 2} - {-1}):
        dataset = EpochIndexed(data.train)
        sampler = EpochSampler(len(dataset))
        loader = make_loader(dataset, args.batch, workers=workers, pin=False, sampler=sampler)
        count, start = 0, None
        for epoch in range(args.loader_epochs + 1):
            sampler.set_epoch(epoch)
            if epoch == 1:  # epoch 0 warms up (worker start, file handles)
                start = time.perf_counter()
            for batch in loader:
                count += batch["x"].shape[0] if epoch else 0
        rate = count / (time.perf_counter() - start)
        print(f"  loader alone, full augmentation, {workers} worker(s): {rate:7.1f} samples/s "
              f"({rate / model_rate:.1f}x the dlae training consumption of {model_rate:.1f} samples/s)")
        del loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8, help="timed epochs per side (after one warm-up each)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of both sides (0: torch's default)")
    parser.add_argument("--workers", type=int, default=None, help="dlae loader workers (default: dlae's choice)")
    parser.add_argument("--loader-epochs", type=int, default=2, help="timed epochs of the loader-alone check")
    parser.add_argument("--profile", action="store_true", help="cProfile one more dlae epoch")
    parser.add_argument("--ops", action="store_true", help="torch.profiler op table of one epoch of each side")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    common.require_data("shapes2d_train_X", "shapes2d_train_y")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    out = common.workdir(args.workdir, "speed")
    from dlae_torch.loader import default_workers

    workers = default_workers() if args.workers is None else args.workers
    print(f"U-Net 16-32-64 + BN on shapes2d_train (400 x 64x64x1), batch {args.batch}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, dlae loader workers {workers} "
          f"({common.MACHINE})", flush=True)
    dlae, hand = DlaeSide(args, out), HandSide(args)
    print(f"  warm-up: dlae {dlae.round():.2f} s, hand-written {hand.round():.2f} s", flush=True)
    times, cpu = {"dlae": [], "hand": []}, {"dlae": [], "hand": []}
    sides = {"dlae": dlae, "hand": hand}
    for r in range(args.rounds):
        for name in (("dlae", "hand") if r % 2 == 0 else ("hand", "dlae")):  # ABBA: drift cancels
            times[name].append(sides[name].round())
            cpu[name].append(sides[name].cpu)
        print(f"  round {r + 1}: dlae {times['dlae'][-1]:.2f} s, hand-written {times['hand'][-1]:.2f} s "
              f"(ratio {times['hand'][-1] / times['dlae'][-1]:.3f}; main-process CPU time dlae {cpu['dlae'][-1]:.2f} s, "
              f"hand-written {cpu['hand'][-1]:.2f} s)", flush=True)
    ratios = [h / d for d, h in zip(times["dlae"], times["hand"])]
    median = float(np.median(ratios))
    cpu_ratio = float(np.median([h / d for d, h in zip(cpu["dlae"], cpu["hand"])]))
    rate = {k: dlae.samples * len(v) / sum(v) for k, v in times.items()}
    best = {k: dlae.samples / min(v) for k, v in times.items()}
    print(f"\ntraining throughput over {args.rounds} x {dlae.samples} samples:")
    print(f"  dlae          {rate['dlae']:7.1f} samples/s (best round {best['dlae']:.1f}), "
          f"data wait {100 * dlae.wait_share():.0f}% of the last epoch's step time")
    print(f"  hand-written  {rate['hand']:7.1f} samples/s (best round {best['hand']:.1f})")
    print(f"  ratio dlae / hand-written: median of {len(ratios)} pairs {median:.3f} (pairs {min(ratios):.3f} .. "
          f"{max(ratios):.3f}; all rounds {rate['dlae'] / rate['hand']:.3f}; best rounds "
          f"{best['dlae'] / best['hand']:.3f}); target >= 0.97: {'yes' if median >= 0.97 else 'NO'}")
    print(f"  main-process CPU time per epoch, median ratio hand-written / dlae: {cpu_ratio:.3f} (less sensitive to "
          f"other jobs; excludes dlae's loader worker, which runs on another core)")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        dlae.round()
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        print("\ncProfile of one dlae epoch (main process), by own time:")
        print("\n".join(line for line in text.getvalue().splitlines()[6:] if line.strip()))
    if args.ops:
        from torch.profiler import ProfilerActivity, profile

        for name, side in (("dlae", dlae), ("hand-written", hand)):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                side.round()
            print(f"\ntorch ops of one {name} epoch (self CPU time):")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18, max_name_column_width=40))
    print("\ndata loader alone:", flush=True)
    loader_rate(args, out, rate["dlae"])


if __name__ == "__main__":
    main()
