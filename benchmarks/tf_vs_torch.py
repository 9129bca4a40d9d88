"""TensorFlow vs torch backend: steady-state training throughput on the same config, and the
learning checks (digits32, shapes2d) with ``--backend tensorflow``.

    python benchmarks/tf_vs_torch.py [--size 64] [--samples 256] [--batch 8] [--epochs 5] [--repeats 2] [--threads N]
    python benchmarks/tf_vs_torch.py --learning [--only-learning]

Throughput: the 16-32-64 U-Net with batch normalization of benchmarks/common.py (unet_layers) on
generated segmentation data (dlae_core.data.synthetic), Adam, sparse categorical cross-entropy,
trained by ``dlae run --quiet`` on each backend in turn (the same config file, only ``--backend``
differs); each run's training samples/s of every epoch after the first (tracing, warm-up) is read
from the per-epoch lines, and the median taken. ``--repeats`` alternates the backends and keeps
each one's best median. Prints the TF/torch ratio (target >= 0.8 on CPU).

Learning (needs <workspace>/shared/data): the configs of learning_digits32.py and
learning_shapes.py (--dim 2) run with ``--backend tensorflow``; prints the digits32 test accuracy
(aim >= 0.98) and the shapes2d mean foreground Dice (aim >= 0.95).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

RATE = re.compile(r"^epoch (\d+)/\d+: .*\| ([0-9.]+) samples/s, data wait (\d+)%")
DLAE = [sys.executable, "-c", "from dlae_core.cli.main import main; main()"]


def throughput_config(args, data: dict, out: Path) -> dict:
    shape = (args.size, args.size, 1)
    return {
        "config_file": {"model_signal": "FCN", "type_signal": "Train", "input_shape": list(shape)},
        "paths": {"train_X": data["train_X"], "train_y": data["train_y"]},
        "preprocessing": {"normalization_type": "samplewise_unity_x", "categorical_switch": False, "categories": 3},
        "augmentation": {"apply_augmentation_switch": False, "random_seed": 1},
        "loss_function": {"loss": "sparse_categorical_crossentropy"},
        "learning_rate_schedule": {"learning_rate": 0.003, "decay_on_plateau_switch": False},
        "optimizer": {"optimizer": "Adam"},
        "training_configurations": {"hardware": "cpu", "batch_size": args.batch, "epochs": args.epochs,
                                    "validation_split": 0.0, "early_stop_switch": False, "shuffle_data_switch": True},
        "monitors": {"accuracy_switch": True},
        "save_configurations": {"save_model_switch": False, "save_csv_switch": False},
        "layers": {"serial_layer_list": common.unet_layers(shape, 3)},
    }


def timed_run(config: Path, backend: str, workers: int | None,
              threads: int | None = None) -> tuple[float, list[float], list[int]]:
    """(seconds, samples/s of each epoch, data-wait % of each epoch) of one ``dlae run``."""
    command = [*DLAE, "run", str(config), "--backend", backend, "--quiet", "--overwrite"]
    if workers is not None:
        command += ["--workers", str(workers)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if threads is not None:  # compute threads of both frameworks (torch: OpenMP; TensorFlow: intra/inter-op)
        env.update({name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                                                     "TF_NUM_INTEROP_THREADS")})
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"dlae run --backend {backend} failed:\n{done.stderr[-3000:]}")
    rates, waits = [], []
    for line in (done.stdout + done.stderr).splitlines():
        match = RATE.match(line.strip())
        if match:
            rates.append(float(match.group(2)))
            waits.append(int(match.group(3)))
    return seconds, rates, waits


def throughput(args) -> float:
    from dlae_core.data.synthetic import write_example_data

    work = common.workdir(args.workdir, "tf_vs_torch")
    files = write_example_data(work / "data", "segmentation", n=args.samples, size=args.size, seed=0, classes=3)
    data = {k: str(v) for k, v in files.items()}
    config = common.write_config(throughput_config(args, data, work), work / "unet.json")
    best: dict[str, float] = {}
    for repeat in range(args.repeats):
        for backend in ("torch", "tensorflow"):
            seconds, rates, waits = timed_run(config, backend, args.workers, args.threads)
            steady = statistics.median(rates[1:]) if len(rates) > 1 else rates[0]
            best[backend] = max(best.get(backend, 0.0), steady)
            print(f"  [{repeat + 1}/{args.repeats}] {backend:10s} epochs (samples/s): "
                  f"{', '.join(f'{r:.1f}' for r in rates)}; data wait {', '.join(f'{w}%' for w in waits)}; "
                  f"steady {steady:.1f} samples/s; whole run {seconds:.1f} s", flush=True)
    ratio = best["tensorflow"] / best["torch"]
    print(f"\nU-Net 16-32-64 + BN on {args.size}x{args.size}x1, {args.samples} samples, batch {args.batch}, "
          f"{args.epochs} epochs, workers {args.workers if args.workers is not None else 'default'}, "
          f"compute threads {args.threads or 'default'} ({common.MACHINE})")
    print(f"  torch      {best['torch']:.1f} samples/s")
    print(f"  tensorflow {best['tensorflow']:.1f} samples/s")
    print(f"  ratio TF/torch {ratio:.2f}  (target >= 0.8 on CPU: {'yes' if ratio >= 0.8 else 'NO'})")
    return ratio


def learning(args) -> None:
    import learning_digits32 as digits
    import learning_shapes as shapes

    results = []
    if all((common.DATA / f"{n}.h5").is_file() for n in digits.FILES):
        options = SimpleNamespace(epochs=15, lr=0.003, batch=32, seed=1)
        out = common.workdir(None, "digits32_tf")
        config = common.write_config(digits.dlae_config(options, out), out / "config.json")
        with common.Timer() as t:
            common.run_dlae("run", str(config), "--backend", "tensorflow", "--overwrite", "--quiet")
        pred = out / "predictions.h5"
        common.run_dlae("predict", str(config), "--backend", "tensorflow", "--overwrite", "--quiet",
                        "--predictions", str(pred))
        names, labels = common.load_h5(common.data_path("digits32_test_y"))
        acc = common.accuracy(common.load_predictions(pred, names).argmax(axis=-1), labels)
        results.append(f"digits32 CNN (15 epochs, batch 32): test accuracy {acc:.4f}, aim >= 0.98: "
                       f"{'yes' if acc >= 0.98 else 'NO'} (training {t.seconds:.0f} s)")
        print(results[-1], flush=True)
    else:
        results.append("digits32: SKIP (data not found)")
    if all((common.DATA / f"{n}.h5").is_file() for n in shapes.files(2)):
        options = SimpleNamespace(dim=2, epochs=shapes.DEFAULT_EPOCHS[2], lr=0.003, batch=4, plateau_factor=0.5,
                                  plateau_patience=3, flips=True, rotation=0, zoom=0.0, no_bn=False, seed=1)
        out = common.workdir(None, "shapes2d_tf")
        config = common.write_config(shapes.dlae_config(options, out), out / "config.json")
        with common.Timer() as t:
            common.run_dlae("run", str(config), "--backend", "tensorflow", "--overwrite", "--quiet")
        pred = out / "predictions.h5"
        common.run_dlae("predict", str(config), "--backend", "tensorflow", "--overwrite", "--quiet",
                        "--predictions", str(pred))
        names, labels = common.load_h5(common.data_path("shapes2d_test_y"))
        probs = common.load_predictions(pred, names)
        dice, per_class = shapes.score(probs.argmax(axis=-1), labels[..., 0])
        results.append(f"shapes2d U-Net ({options.epochs} epochs, batch 4, flips): mean foreground Dice "
                       f"{dice:.4f} ({', '.join(f'{v:.4f}' for v in per_class)}), aim >= 0.95: "
                       f"{'yes' if dice >= 0.95 else 'NO'} (training {t.seconds:.0f} s)")
        print(results[-1], flush=True)
    else:
        results.append("shapes2d: SKIP (data not found)")
    print("\nlearning with --backend tensorflow (" + common.MACHINE + "):")
    for line in results:
        print("  " + line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None, help="loader workers/threads (default: dlae's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="compute threads of both frameworks (default: theirs); 1 is steadier on a busy machine")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--learning", action="store_true", help="also run digits32 and shapes2d on tensorflow")
    parser.add_argument("--only-learning", action="store_true", help="skip the throughput comparison")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not args.only_learning:
        print("== throughput: same config, torch then tensorflow ==", flush=True)
        throughput(args)
    if args.learning or args.only_learning:
        print("\n== learning with --backend tensorflow ==", flush=True)
        learning(args)


if __name__ == "__main__":
    main()
