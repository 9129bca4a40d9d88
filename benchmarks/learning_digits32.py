"""Learning check: a small CNN on digits32 through dlae and through hand-written PyTorch, in one run.

    python benchmarks/learning_digits32.py [--epochs 15] [--lr 0.003] [--batch 32] [--seed 1]

Both sides: the same network (3 x [3x3 conv, batch norm, ReLU, 2x2 max pooling] with 32-64-128
filters, global average pooling, dense 10, softmax), Adam, sparse categorical cross-entropy,
samplewise-unity normalization, batch size, epochs, plateau decay on the validation loss
(digits32_val). dlae: `dlae run` then `dlae predict` on digits32_test_X. Prints both test
accuracies (aim: >= 0.98; logistic regression reaches 0.970, see shared/data/baselines.json).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import handwritten as hw  # noqa: E402

FILES = ["digits32_train_X", "digits32_train_y", "digits32_val_X", "digits32_val_y",
         "digits32_test_X", "digits32_test_y"]
WIDTHS = (32, 64, 128)


def dlae_config(args, out: Path) -> dict:
    layers = ["Input:(32, 32, 1)"]
    for f in WIDTHS:
        layers += [common.conv(2, f), common.BN, "Activation:relu", common.pool(2)]
    layers += ["Global average pooling 2D", "Dense:10", "Activation:softmax"]
    d = common.data_path
    return {
        "config_file": {"model_signal": "CNN", "type_signal": "Train", "input_shape": [32, 32, 1]},
        "paths": {"train_X": d("digits32_train_X"), "train_y": d("digits32_train_y"),
                  "validation_X": d("digits32_val_X"), "validation_y": d("digits32_val_y"),
                  "test_X": d("digits32_test_X"), "load_model": str(out / "model.pt")},
        "preprocessing": {"normalization_type": "samplewise_unity_x", "categorical_switch": False,
                          "categories": 10},
        "augmentation": {"apply_augmentation_switch": False, "random_seed": args.seed},
        "loss_function": {"loss": "sparse_categorical_crossentropy"},
        "learning_rate_schedule": {"learning_rate": args.lr, "decay_on_plateau_switch": True,
                                   "decay_on_plateau_factor": 0.2, "decay_on_plateau_patience": 3},
        "optimizer": {"optimizer": "Adam"},
        "training_configurations": {"hardware": "cpu", "batch_size": args.batch, "epochs": args.epochs,
                                    "validation_split": 0.0, "early_stop_switch": False,
                                    "shuffle_data_switch": True},
        "monitors": {"accuracy_switch": True},
        "save_configurations": {"save_model_switch": True, "save_model_path": str(out / "model.pt"),
                                "save_csv_switch": True, "save_csv_path": str(out / "history.csv")},
        "layers": {"serial_layer_list": layers},
    }


class HandCNN(nn.Module):
    def __init__(self):
        super().__init__()
        mods, c = [], 1
        for f in WIDTHS:
            mods += [nn.Conv2d(c, f, 3, padding=1), nn.BatchNorm2d(f, momentum=0.1, eps=1e-3), nn.ReLU(inplace=True),
                     nn.MaxPool2d(2)]
            c = f
        self.features = nn.Sequential(*mods)
        self.dense = nn.Linear(c, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.xavier_uniform_(self.dense.weight)
        nn.init.zeros_(self.dense.bias)

    def forward(self, x):
        return self.dense(self.features(x).mean(dim=(2, 3)))


def load(split: str):
    _, x = common.load_h5(common.data_path(f"digits32_{split}_X"))
    _, y = common.load_h5(common.data_path(f"digits32_{split}_y"))
    return common.to_channels_first(common.samplewise_unity(x)), torch.from_numpy(y.reshape(-1).astype(np.int64))


def run_dlae(args) -> tuple[float, float]:
    out = common.workdir(args.workdir, "digits32")
    config = common.write_config(dlae_config(args, out), out / "config.json")
    quiet = ["--quiet"] if args.quiet else []
    with common.Timer() as t:
        common.run_dlae("run", str(config), "--backend", "torch", "--overwrite", *quiet)
    pred_file = out / "predictions.h5"
    common.run_dlae("predict", str(config), "--backend", "torch", "--overwrite", "--quiet",
                    "--predictions", str(pred_file))
    names, labels = common.load_h5(common.data_path("digits32_test_y"))
    probs = common.load_predictions(pred_file, names)
    return common.accuracy(probs.argmax(axis=-1), labels), t.seconds


def run_hand(args) -> tuple[float, float]:
    torch.manual_seed(args.seed)
    (x, y), (xv, yv), (xt, yt) = load("train"), load("val"), load("test")
    model = HandCNN()
    with common.Timer() as t:
        hw.train_hand(model, x, y, xv, yv, epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed,
                          plateau=(0.2, 3), log_every=0 if args.quiet else 1)
    pred = hw.predict_hand(model, xt).argmax(dim=1).numpy()
    return common.accuracy(pred, yt.numpy()), t.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", default=None, help="folder for the dlae config and outputs (default: a temp dir)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    parser.add_argument("--only", choices=["dlae", "hand"], default=None, help="run one side only")
    args = parser.parse_args()
    common.require_data(*FILES)
    results = {}
    if args.only in (None, "dlae"):
        print("== dlae (torch backend) ==", flush=True)
        results["dlae"] = run_dlae(args)
    if args.only in (None, "hand"):
        print("== hand-written PyTorch ==", flush=True)
        results["hand-written"] = run_hand(args)
    print(f"\ndigits32 CNN, {args.epochs} epochs, batch {args.batch}, Adam lr {args.lr} ({common.MACHINE})")
    for side, (acc, seconds) in results.items():
        print(f"  {side:13s} test accuracy {acc:.4f}  (training {seconds:.0f} s)  aim >= 0.98: "
              f"{'yes' if acc >= 0.98 else 'NO'}")


if __name__ == "__main__":
    main()
