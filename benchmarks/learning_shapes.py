"""Learning check: a 16-32-64 U-Net on shapes2d / shapes3d through dlae and hand-written PyTorch.

    python benchmarks/learning_shapes.py --dim 2 [--epochs 40] [--lr 0.001] [--batch 4]
    python benchmarks/learning_shapes.py --dim 3 [--epochs 30]

Both sides: the same U-Net (two 3x3 conv + batch norm + ReLU per level, 16-32-64 filters, max
pooling, nearest x2 upsampling + 3x3 conv, concatenated skips, 1x1 softmax head), Adam, sparse
categorical cross-entropy, samplewise-unity normalization, batch size, epochs, random left-right
and up-down flips, plateau decay on the validation loss (factor 0.5, patience 3). dlae gets all of
it from config keys only. Prints the mean foreground Dice (classes 1 and 2, pooled over the test
set) of both. Aims: 2D >= 0.95, 3D >= 0.90 (Otsu thresholding: 0.68 / 0.60, baselines.json).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import handwritten as hw  # noqa: E402

CLASSES = 3
SHAPES = {2: (64, 64, 1), 3: (32, 32, 16, 1)}
DEFAULT_EPOCHS = {2: 40, 3: 30}
AIMS = {2: 0.95, 3: 0.90}


def files(dim: int) -> list[str]:
    return [f"shapes{dim}d_{s}_{k}" for s in ("train", "val", "test") for k in ("X", "y")]


def dlae_config(args, out: Path) -> dict:
    d = lambda name: common.data_path(f"shapes{args.dim}d_{name}")  # noqa: E731
    shape = SHAPES[args.dim]
    return {
        "config_file": {"model_signal": "FCN", "type_signal": "Train", "input_shape": list(shape)},
        "paths": {"train_X": d("train_X"), "train_y": d("train_y"), "validation_X": d("val_X"),
                  "validation_y": d("val_y"), "test_X": d("test_X"), "load_model": str(out / "model.pt")},
        "preprocessing": {"image_context": f"{args.dim}D", "normalization_type": "samplewise_unity_x",
                          "categorical_switch": False, "categories": CLASSES},
        "augmentation": {"apply_augmentation_switch": bool(args.flips or args.rotation or args.zoom),
                         "horizontal_flip_switch": args.flips, "vertical_flip_switch": args.flips,
                         "rotation_range": args.rotation, "zoom_range": args.zoom, "fill_mode": "reflect",
                         "random_seed": args.seed},
        "loss_function": {"loss": "sparse_categorical_crossentropy"},
        "learning_rate_schedule": {"learning_rate": args.lr, "decay_on_plateau_switch": True,
                                   "decay_on_plateau_factor": args.plateau_factor,
                                   "decay_on_plateau_patience": args.plateau_patience},
        "optimizer": {"optimizer": "Adam"},
        "training_configurations": {"hardware": "cpu", "batch_size": args.batch, "epochs": args.epochs,
                                    "validation_split": 0.0, "early_stop_switch": False,
                                    "shuffle_data_switch": True},
        "monitors": {"accuracy_switch": True},
        "save_configurations": {"save_model_switch": True, "save_model_path": str(out / "model.pt"),
                                "save_csv_switch": True, "save_csv_path": str(out / "history.csv")},
        "layers": {"serial_layer_list": common.unet_layers(shape, CLASSES, batch_norm=not args.no_bn)},
    }


def load(dim: int, split: str):
    _, x = common.load_h5(common.data_path(f"shapes{dim}d_{split}_X"))
    _, y = common.load_h5(common.data_path(f"shapes{dim}d_{split}_y"))
    y = torch.from_numpy(y.reshape(y.shape[:-1] if y.shape[-1] == 1 else y.shape).astype(np.int64))
    return common.to_channels_first(common.samplewise_unity(x)), y


def score(pred_labels: np.ndarray, labels: np.ndarray) -> tuple[float, list[float]]:
    return common.mean_dice(pred_labels, labels, CLASSES)


def run_dlae(args):
    out = common.workdir(args.workdir, f"shapes{args.dim}d")
    config = common.write_config(dlae_config(args, out), out / "config.json")
    quiet = ["--quiet"] if args.quiet else []
    workers = ["--workers", str(args.workers)] if args.workers is not None else []
    with common.Timer() as t:
        common.run_dlae("run", str(config), "--backend", "torch", "--overwrite", *quiet, *workers)
    pred_file = out / "predictions.h5"
    common.run_dlae("predict", str(config), "--backend", "torch", "--overwrite", "--quiet",
                    "--predictions", str(pred_file))
    names, labels = common.load_h5(common.data_path(f"shapes{args.dim}d_test_y"))
    probs = common.load_predictions(pred_file, names)
    return score(probs.argmax(axis=-1), labels[..., 0]), t.seconds


def run_hand(args):
    torch.manual_seed(args.seed)
    (x, y), (xv, yv), (xt, yt) = (load(args.dim, s) for s in ("train", "val", "test"))
    model = hw.HandUNet(args.dim, 1, CLASSES, batch_norm=not args.no_bn)
    with common.Timer() as t:
        hw.train_hand(model, x, y, xv, yv, epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed,
                          flips=args.flips, rotation=args.rotation, zoom=args.zoom,
                          plateau=(args.plateau_factor, args.plateau_patience),
                          log_every=0 if args.quiet else 1)
    pred = hw.predict_hand(model, xt, batch=8).argmax(dim=1).numpy()
    return score(pred, yt.numpy()), t.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, choices=(2, 3), default=2)
    parser.add_argument("--epochs", type=int, default=None, help="default: 40 (2D), 30 (3D)")
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--plateau-factor", type=float, default=0.5)
    parser.add_argument("--plateau-patience", type=int, default=3)
    parser.add_argument("--no-flips", dest="flips", action="store_false", help="no flip augmentation")
    parser.add_argument("--rotation", type=int, default=0, help="random rotation range in degrees")
    parser.add_argument("--zoom", type=float, default=0.0, help="random zoom range")
    parser.add_argument("--no-bn", action="store_true", help="U-Net without batch normalization")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None, help="dlae loader workers (default: dlae's)")
    parser.add_argument("--workdir", default=None, help="folder for the dlae config and outputs (default: a temp dir)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    parser.add_argument("--only", choices=["dlae", "hand"], default=None, help="run one side only")
    args = parser.parse_args()
    args.epochs = args.epochs or DEFAULT_EPOCHS[args.dim]
    common.require_data(*files(args.dim))
    results = {}
    if args.only in (None, "dlae"):
        print("== dlae (torch backend) ==", flush=True)
        results["dlae"] = run_dlae(args)
    if args.only in (None, "hand"):
        print("== hand-written PyTorch ==", flush=True)
        results["hand-written"] = run_hand(args)
    aim = AIMS[args.dim]
    print(f"\nshapes{args.dim}d U-Net 16-32-64{'' if args.no_bn else ' + BN'}, {args.epochs} epochs, batch "
          f"{args.batch}, Adam lr {args.lr}, plateau x{args.plateau_factor}/{args.plateau_patience}, "
          f"flips {'on' if args.flips else 'off'}, rotation {args.rotation}, zoom {args.zoom} ({common.MACHINE})")
    for side, ((dice, per_class), seconds) in results.items():
        print(f"  {side:13s} mean foreground Dice {dice:.4f} (per class {', '.join(f'{v:.4f}' for v in per_class)})"
              f"  training {seconds:.0f} s  aim >= {aim}: {'yes' if dice >= aim else 'NO'}")


if __name__ == "__main__":
    main()
