"""Learning check: a U-Net on shapes2d / shapes3d through dlae and hand-written PyTorch.

    python benchmarks/learning_shapes.py --dim 2 [--threads 1]
    python benchmarks/learning_shapes.py --dim 3 [--threads 1]
    python benchmarks/learning_shapes.py --config my_config.json --dim 2 [--epochs 10] ...

The experiment is a plain dlae config, ``benchmarks/configs/shapes{2,3}d_unet.json`` by default
(its ``paths`` and ``save_configurations`` are replaced by the shared data files and a work
folder; options given on the command line override the matching keys). dlae runs it with
``dlae run`` + ``dlae predict``; the hand-written side reads the *same* config and builds the same
thing in plain PyTorch: the U-Net of ``common.unet_layers`` (the config's layer list must be one,
any widths, with or without batch norm), Adam, learning rate, batch size,
epochs, plateau decay on the validation loss with dlae's rule, random flips / rotation / zoom, and
the loss: ``sparse_categorical_crossentropy`` exactly as dlae defines it
(softmax probabilities clipped to [1e-7, 1 - 1e-7], their log taken as logits; identical to
``F.cross_entropy`` except for pixels predicted with probability < 1e-7 or > 1 - 1e-7) or
``tversky`` (batch-global, per class). Prints the mean foreground Dice (classes 1 and 2, pooled
over the test set) of both. Aims: 2D >= 0.95, 3D >= 0.90 (Otsu thresholding: 0.68 / 0.60,
baselines.json).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import handwritten as hw  # noqa: E402

CLASSES = 3
CONFIGS = Path(__file__).resolve().parent / "configs"
AIMS = {2: 0.95, 3: 0.90}
EPSILON = 1e-7  # Keras backend epsilon of the clipped cross-entropy


def files(dim: int) -> list[str]:
    return [f"shapes{dim}d_{s}_{k}" for s in ("train", "val", "test") for k in ("X", "y")]


# -- the config -------------------------------------------------------------------------------------
def load_config(args) -> dict:
    """The experiment config with the command line's overrides applied (data paths and outputs are
    filled in by :func:`dlae_config`)."""
    path = Path(args.config) if args.config else CONFIGS / f"shapes{args.dim}d_unet.json"
    config = json.loads(path.read_text())
    sec = lambda name: config.setdefault(name, {})  # noqa: E731
    if args.epochs is not None:
        sec("training_configurations")["epochs"] = args.epochs
    if args.batch is not None:
        sec("training_configurations")["batch_size"] = args.batch
    if args.lr is not None:
        sec("learning_rate_schedule")["learning_rate"] = args.lr
    if args.plateau_factor is not None:
        sec("learning_rate_schedule")["decay_on_plateau_factor"] = args.plateau_factor
    if args.plateau_patience is not None:
        sec("learning_rate_schedule")["decay_on_plateau_patience"] = args.plateau_patience
    if args.seed is not None:
        sec("augmentation")["random_seed"] = args.seed
    aug = sec("augmentation")
    if args.no_flips:
        aug["horizontal_flip_switch"] = aug["vertical_flip_switch"] = False
    if args.rotation is not None:
        aug["rotation_range"] = args.rotation
    if args.zoom is not None:
        aug["zoom_range"] = args.zoom
    aug["apply_augmentation_switch"] = bool(aug.get("horizontal_flip_switch") or aug.get("vertical_flip_switch")
                                            or aug.get("rotation_range") or aug.get("zoom_range"))
    return config


def dlae_config(config: dict, dim: int, out: Path) -> dict:
    d = lambda name: common.data_path(f"shapes{dim}d_{name}")  # noqa: E731
    config = json.loads(json.dumps(config))
    config["paths"] = {"train_X": d("train_X"), "train_y": d("train_y"), "validation_X": d("val_X"),
                       "validation_y": d("val_y"), "test_X": d("test_X"), "load_model": str(out / "model.pt")}
    config["save_configurations"] = {"save_model_switch": True, "save_model_path": str(out / "model.pt"),
                                     "save_csv_switch": True, "save_csv_path": str(out / "history.csv")}
    return config


def value(config: dict, section: str, key: str, default):
    return config.get(section, {}).get(key, default)


class Experiment:
    """What the hand-written side needs from a config (dlae's defaults where a key is absent)."""

    def __init__(self, config: dict, dim: int):
        shape = tuple(config["config_file"]["input_shape"])
        if len(shape) != dim + 1 or shape[-1] != 1:
            raise SystemExit(f"error: input_shape {shape} is not a one-channel {dim}D image")
        self.shape = shape
        layers = config["layers"]["serial_layer_list"]
        encoder = []
        for layer in layers:
            if layer.startswith("Resize convolution"):
                break
            match = re.match(rf"Convolution {dim}D:(\d+):", layer)
            if match:
                encoder.append(int(match.group(1)))
        self.widths = tuple(encoder[::2])
        self.batch_norm = any(layer.startswith("Batch normalization") for layer in layers)
        if layers != common.unet_layers(shape, CLASSES, widths=self.widths, batch_norm=self.batch_norm):
            raise SystemExit("error: the hand-written side builds only U-Nets of common.unet_layers "
                             f"(widths {self.widths}, batch norm {self.batch_norm} do not reproduce the layer list)")
        self.loss = value(config, "loss_function", "loss", "categorical_crossentropy")
        if self.loss not in ("sparse_categorical_crossentropy", "tversky"):
            raise SystemExit(f"error: loss {self.loss!r} has no hand-written equivalent here")
        self.alpha = float(value(config, "loss_function", "parameter1", 0.0))
        self.beta = float(value(config, "loss_function", "parameter2", 0.0))
        opt = config.get("optimizer", {})
        if opt.get("optimizer", "Adam") != "Adam":
            raise SystemExit("error: the hand-written side uses Adam only")
        self.betas = (float(opt.get("beta1", 0.9)), float(opt.get("beta2", 0.999)))
        self.eps = float(opt["epsilon"]) if opt.get("epsilon") not in (None, "None") else 1e-7
        if self.betas != (0.9, 0.999) or self.eps != 1e-7:  # handwritten.train_hand's Adam
            raise SystemExit("error: the hand-written side uses Adam(betas=(0.9, 0.999), eps=1e-7) only")
        lrs = config.get("learning_rate_schedule", {})
        self.lr = float(lrs.get("learning_rate", 1e-4))
        if float(lrs.get("learning_rate_decay_factor", 0.0)) or lrs.get("step_decay_switch", False):
            raise SystemExit("error: the hand-written side has plateau decay only")
        self.plateau = ((float(lrs.get("decay_on_plateau_factor", 0.2)), int(lrs.get("decay_on_plateau_patience", 3)))
                        if lrs.get("decay_on_plateau_switch", True) else None)
        train = config.get("training_configurations", {})
        self.batch, self.epochs = int(train.get("batch_size", 32)), int(train.get("epochs", 10))
        if train.get("early_stop_switch", True):
            raise SystemExit("error: set training_configurations.early_stop_switch to false (not reproduced by hand)")
        aug = config.get("augmentation", {})
        on = aug.get("apply_augmentation_switch", False)
        self.flips = bool(on and aug.get("horizontal_flip_switch", False))
        if on and bool(aug.get("vertical_flip_switch", False)) != self.flips:
            raise SystemExit("error: the hand-written side flips both axes or none")
        self.rotation = float(aug.get("rotation_range", 0.0)) if on else 0.0
        self.zoom = float(aug.get("zoom_range", 0.0)) if on else 0.0
        self.seed = int(aug.get("random_seed", 1))
        unsupported = [k for k in ("width_shift", "height_shift", "shear_range", "channel_shift_range", "zca_epsilon",
                                   "brightness_range", "featurewise_centering_switch", "samplewise_centering_switch",
                                   "featurewise_normalization_switch", "samplewise_normalization_switch")
                       if aug.get(k) not in (None, "None", 0, 0.0, False, "False")]
        if unsupported or int(aug.get("rounds", 1)) != 1:
            raise SystemExit(f"error: augmentation keys without a hand-written equivalent: {unsupported or ['rounds']}")
        if value(config, "preprocessing", "normalization_type", "samplewise_unity_x") != "samplewise_unity_x":
            raise SystemExit("error: the hand-written side normalizes with samplewise_unity_x only")

    def loss_fn(self):
        if self.loss == "tversky":
            alpha, beta = self.alpha, self.beta

            def tversky(logits, labels):  # C - sum_c T_c over batch and space
                p = torch.softmax(logits, dim=1)
                t = F.one_hot(labels, p.shape[1]).movedim(-1, 1).to(p.dtype)
                axes = (0,) + tuple(range(2, p.dim()))
                tp, fp, fn = (p * t).sum(axes), (p * (1 - t)).sum(axes), ((1 - p) * t).sum(axes)
                return p.shape[1] - ((tp + EPSILON) / (tp + alpha * fp + beta * fn + EPSILON)).sum()

            return tversky

        def clipped_cross_entropy(logits, labels):
            p = torch.softmax(logits, dim=1).clamp(EPSILON, 1.0 - EPSILON)
            true = p.gather(1, labels.unsqueeze(1)).squeeze(1)
            return (torch.log(p.sum(dim=1)) - torch.log(true)).mean()

        return clipped_cross_entropy

    def describe(self) -> str:
        return (f"U-Net {'-'.join(map(str, self.widths))}{' + BN' if self.batch_norm else ''}, {self.loss}, "
                f"{self.epochs} epochs, batch {self.batch}, Adam lr {self.lr:g}, "
                + (f"plateau x{self.plateau[0]}/{self.plateau[1]}" if self.plateau else "no plateau decay")
                + f", flips {'on' if self.flips else 'off'}, rotation {self.rotation:g}, zoom {self.zoom:g}")


# -- the two sides -------------------------------------------------------------------------------------
def load(dim: int, split: str):
    _, x = common.load_h5(common.data_path(f"shapes{dim}d_{split}_X"))
    _, y = common.load_h5(common.data_path(f"shapes{dim}d_{split}_y"))
    y = torch.from_numpy(y.reshape(y.shape[:-1] if y.shape[-1] == 1 else y.shape).astype(np.int64))
    return common.to_channels_first(common.samplewise_unity(x)), y


def score(pred_labels: np.ndarray, labels: np.ndarray) -> tuple[float, list[float]]:
    return common.mean_dice(pred_labels, labels, CLASSES)


def run_dlae(args, config: dict):
    out = common.workdir(args.workdir, f"shapes{args.dim}d")
    path = common.write_config(dlae_config(config, args.dim, out), out / "config.json")
    quiet = ["--quiet"] if args.quiet else []
    workers = ["--workers", str(args.workers)] if args.workers is not None else []
    with common.Timer() as t:
        common.run_dlae("run", str(path), "--backend", "torch", "--overwrite", *quiet, *workers)
    pred_file = out / "predictions.h5"
    common.run_dlae("predict", str(path), "--backend", "torch", "--overwrite", "--quiet",
                    "--predictions", str(pred_file), *workers)
    names, labels = common.load_h5(common.data_path(f"shapes{args.dim}d_test_y"))
    probs = common.load_predictions(pred_file, names)
    return score(probs.argmax(axis=-1), labels[..., 0]), t.seconds


def run_hand(args, exp: Experiment):
    torch.manual_seed(exp.seed)
    (x, y), (xv, yv), (xt, yt) = (load(args.dim, s) for s in ("train", "val", "test"))
    model = hw.HandUNet(args.dim, 1, CLASSES, widths=exp.widths, batch_norm=exp.batch_norm)
    loss_fn = exp.loss_fn()
    with common.Timer() as t:
        hw.train_hand(model, x, y, xv, yv, epochs=exp.epochs, batch=exp.batch, lr=exp.lr, seed=exp.seed,
                      flips=exp.flips, rotation=exp.rotation, zoom=exp.zoom, plateau=exp.plateau,
                      loss_fn=loss_fn, log_every=0 if args.quiet else 1)
    pred = hw.predict_hand(model, xt, batch=8).argmax(dim=1).numpy()
    return score(pred, yt.numpy()), t.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, choices=(2, 3), default=2)
    parser.add_argument("--config", default=None, help="experiment config (default: configs/shapes{dim}d_unet.json)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--plateau-factor", type=float, default=None)
    parser.add_argument("--plateau-patience", type=int, default=None)
    parser.add_argument("--no-flips", action="store_true", help="no flip augmentation")
    parser.add_argument("--rotation", type=float, default=None, help="random rotation range in degrees")
    parser.add_argument("--zoom", type=float, default=None, help="random zoom range")
    parser.add_argument("--seed", type=int, default=None, help="augmentation.random_seed (both sides' seed)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--workers", type=int, default=None, help="dlae loader workers (default: dlae's)")
    parser.add_argument("--workdir", default=None, help="folder for the dlae config and outputs (default: a temp dir)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    parser.add_argument("--only", choices=["dlae", "hand"], default=None, help="run one side only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    common.require_data(*files(args.dim))
    config = load_config(args)
    exp = Experiment(config, args.dim)
    results = {}
    if args.only in (None, "dlae"):
        print("== dlae (torch backend) ==", flush=True)
        results["dlae"] = run_dlae(args, config)
    if args.only in (None, "hand"):
        print("== hand-written PyTorch ==", flush=True)
        results["hand-written"] = run_hand(args, exp)
    aim = AIMS[args.dim]
    print(f"\nshapes{args.dim}d {exp.describe()}, seed {exp.seed} "
          f"({common.MACHINE}, {torch.get_num_threads()} torch thread(s))")
    for side, ((dice, per_class), seconds) in results.items():
        print(f"  {side:13s} mean foreground Dice {dice:.4f} (per class {', '.join(f'{v:.4f}' for v in per_class)})"
              f"  training {seconds:.0f} s  aim >= {aim}: {'yes' if dice >= aim else 'NO'}")


if __name__ == "__main__":
    main()
