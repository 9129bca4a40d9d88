"""Learning check of BBD (SSD-style detection) on the shared ``shapesdet`` data (64x64 images with
1-4 near-square shapes of 3 classes, sides 7-24 px).

    python benchmarks/bbd_shapesdet.py [--backends torch,tensorflow] [--epochs 30] [--batch 16]
                                       [--lr 0.003] [--augment] [--threads 1]

For each backend, through ``dlae run`` / ``dlae predict`` only (config keys, no code): a small conv
net (16-32-32-64 filters, batch norm, three hooks at 32x32, 16x16 and 8x8, i.e. anchor steps 2,
4 and 8 px), per-layer scales 0.12/0.18/0.28/0.40 of the image side with aspect ratio 1 and the
second AR-1 box (anchor sides 7.7/9.4, 11.5/14.3, 17.9/21.4 px), SSD loss 3:1 negatives, alpha 1,
Adam with plateau decay; inputs samplewise-unity normalized. Validation mAP@0.5 is logged every
epoch; the best checkpoint (val_loss) predicts shapesdet_test_X and the script computes the test
mAP@0.5 (dlae_core.techniques.bbd.metrics) against shapesdet_test_y. Aim: >= 0.8 on each backend.

The test machine shares two CPU cores; ``--threads`` (default 1) sets the frameworks' intra-op
threads, which is much faster there than the default.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

FILES = [f"shapesdet_{s}_{k}" for s in ("train", "val", "test") for k in ("X", "y")]
SIZE, CLASSES = 64, 3
BN = "Batch normalization:0.9:0.001"


def layers() -> list[str]:
    def conv(filters: int) -> str:
        return f"Convolution 2D:{filters}:(3, 3):(1, 1):same:(1, 1):he_normal:None:None:0.0:0.0"

    pool = "Max pooling 2D:(2, 2):(2, 2)"
    return [f"Input:({SIZE}, {SIZE}, 1)",
            conv(16), BN, "Activation:relu", pool,                                   # 32x32
            conv(32), BN, "Activation:relu", conv(32), BN, "Activation:relu",
            "Hook connection source", pool,                                          # hook 0: 32x32, step 2
            conv(32), BN, "Activation:relu", "Hook connection source", pool,         # hook 1: 16x16, step 4
            conv(64), BN, "Activation:relu", "Hook connection source"]               # hook 2: 8x8, step 8


def config(args, out: Path) -> dict:
    d = common.data_path
    return {
        "config_file": {"model_signal": "BBD", "type_signal": "Train", "input_shape": [SIZE, SIZE, 1]},
        "paths": {"train_X": d("shapesdet_train_X"), "train_y": d("shapesdet_train_y"),
                  "validation_X": d("shapesdet_val_X"), "validation_y": d("shapesdet_val_y")},
        "preprocessing": {"image_context": "2D", "normalization_type": "samplewise_unity_x"},
        "augmentation": {"apply_augmentation_switch": bool(args.augment), "random_seed": args.seed},
        "loss_function": {"loss": "ssd", "parameter1": 3, "parameter2": 1.0},
        "learning_rate_schedule": {"learning_rate": args.lr, "decay_on_plateau_switch": True,
                                   "decay_on_plateau_factor": 0.5, "decay_on_plateau_patience": 3},
        "optimizer": {"optimizer": "Adam"},
        "training_configurations": {"hardware": "cpu", "batch_size": args.batch, "epochs": args.epochs,
                                    "validation_split": 0.0, "shuffle_data_switch": True,
                                    "early_stop_switch": False},
        "save_configurations": {"save_model_switch": True, "save_model_path": str(out / "model.bin"),
                                "save_checkpoints_switch": True, "save_checkpoints_path": str(out / "best.bin"),
                                "save_csv_switch": True, "save_csv_path": str(out / "history.csv")},
        "bbd_options": {"number_classes": CLASSES, "scaling_type": "per predictor layer",
                        "scales": [0.12, 0.18, 0.28, 0.40], "aspect_ratios_type": "global", "aspect_ratios": [1.0],
                        "two_boxes_for_AR1_switch": True, "steps": None, "offsets": None,
                        "variances": [0.1, 0.1, 0.2, 0.2], "positive_iou_threshold": 0.5,
                        "negative_iou_limit": 0.3, "confidence_threshold": 0.05, "iou_threshold": 0.45,
                        "top_k": 50, "nms_maximum_output": 200},
        "layers": {"serial_layer_list": layers()},
    }


def history(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return [{k: float(v) if v else float("nan") for k, v in row.items()} for row in csv.DictReader(handle)]


def read_rows(path: str | Path, width: int) -> dict[str, np.ndarray]:
    """Ground truth (width 5) or predictions (width 6) per sample name."""
    with h5py.File(path, "r") as handle:
        return {name: np.asarray(handle[name][()], np.float32).reshape(-1, width) for name in handle}


def run_backend(args, backend: str, root: Path) -> dict:
    from dlae_core.techniques.bbd.metrics import mean_average_precision

    out = root / backend
    path = common.write_config(config(args, out), out / "config.json")
    quiet = ["--quiet"] if args.quiet else []
    start = time.perf_counter()
    common.run_dlae("run", str(path), "--backend", backend, "--overwrite", "--workers", str(args.workers), *quiet)
    seconds = time.perf_counter() - start
    inference = config(args, out)
    inference["config_file"]["type_signal"] = "Inference"
    inference["paths"] = {"load_model": str(out / "best.bin"), "test_X": common.data_path("shapesdet_test_X")}
    predictions = out / "predictions.h5"
    common.run_dlae("predict", str(common.write_config(inference, out / "predict.json")), "--backend", backend,
                    "--overwrite", "--workers", str(args.workers), "--predictions", str(predictions))
    truth, found = read_rows(common.data_path("shapesdet_test_y"), 5), read_rows(predictions, 6)
    names = sorted(truth, key=int)
    value, per_class = mean_average_precision([found[n] for n in names], [truth[n] for n in names],
                                              CLASSES)
    rows = history(out / "history.csv")
    return {"test_map": value, "per_class": per_class, "seconds": seconds, "epochs": len(rows),
            "loss": (rows[0]["loss"], rows[-1]["loss"]), "best_val_map": max(r["val_mAP"] for r in rows),
            "last_val_map": rows[-1]["val_mAP"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="torch,tensorflow")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--augment", action="store_true", help="the SSD augmentation chain on training batches")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of the frameworks")
    parser.add_argument("--workers", type=int, default=0, help="dlae loader workers")
    parser.add_argument("--workdir", default=None, help="folder for configs and outputs (default: a temp dir)")
    parser.add_argument("--quiet", action="store_true", help="one line per epoch, no progress bars")
    args = parser.parse_args()
    common.require_data(*FILES)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    common.set_threads(backends, args.threads)
    root = common.workdir(args.workdir, "bbd_shapesdet")
    results = {}
    for backend in backends:
        print(f"== BBD on {backend} ==", flush=True)
        results[backend] = run_backend(args, backend, root)
    print(f"\nshapesdet 64x64, {args.epochs} epochs, batch {args.batch}, lr {args.lr}, augmentation "
          f"{'on' if args.augment else 'off'} ({common.MACHINE}, {args.threads} thread(s)); outputs in {root}")
    for backend, r in results.items():
        verdict = "yes" if r["test_map"] >= 0.8 else "NO"
        classes = ", ".join(f"{v:.3f}" for v in r["per_class"])
        print(f"  {backend:10s} test mAP@0.5 {r['test_map']:.4f} (per class {classes}; aim >= 0.8: {verdict}); "
              f"val mAP best {r['best_val_map']:.4f}, last {r['last_val_map']:.4f}; loss {r['loss'][0]:.3f} -> "
              f"{r['loss'][1]:.3f}; {r['epochs']} epochs in {r['seconds']:.0f} s")


if __name__ == "__main__":
    main()
