"""Learning check of the GANs on the shared ``edges`` data (64x64 images -> binary edge maps).

    python benchmarks/gan_edges.py [--backends torch,tensorflow] [--pix2pix-epochs 20]
                                   [--cyclegan-epochs 5] [--batch 4] [--threads 1]

For each backend, through ``dlae run`` / ``dlae predict`` only (config keys, no code):

* pix2pix (log adversarial loss + 100 x L1): a 16-32-64 U-Net generator (leaky ReLUs, linear output)
  and a PatchGAN discriminator (two stride-2 4x4 convolutions, linear 4x4 convolution -> 16x16
  patch map), Adam (beta1 0.5); inputs samplewise-unity normalized, targets unchanged (0/1). The
  saved generator predicts edges_test_X; the test L1 (mean |prediction - edges_test_y| over all
  pixels) is compared with the trivial baselines of baselines.json (predicting zeros: 0.049, the
  best of them). Aim: far below it (< 0.5 x l1_zeros).
* cycleGAN (least-squares adversarial + 10 x cycle + 1 x identity) with the same networks on
  unpaired batches: the cycle loss (g_cycle, the mean of both cycle terms) of the first and last
  epoch. Aim: it falls.

The test machine shares two CPU cores; ``--threads`` (default 1) sets the frameworks' intra-op
threads, which is much faster there than the default.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

FILES = [f"edges_{s}_{k}" for s in ("train", "val", "test") for k in ("X", "y")]
SIZE = 64


def conv(filters: int, kernel: int = 3, stride: int = 1, init: str = "he_normal") -> str:
    return (f"Convolution 2D:{filters}:({kernel}, {kernel}):({stride}, {stride}):same:(1, 1):{init}"
            f":None:None:0.0:0.0")


def resize(filters: int) -> str:
    return f"Resize convolution 2D:{filters}:(3, 3):(1, 1):(2, 2):same:(1, 1):he_normal:None:None:0.0:0.0"


LEAKY = "Leaky reLU:0.2"


def generator_layers() -> list[str]:
    """U-Net 16-32-64: stride-2 4x4 convolutions down, resize convolutions up, concatenated skips."""
    return [f"Input:({SIZE}, {SIZE}, 1)",
            conv(16), LEAKY, conv(16), LEAKY, "Outer skip source:concatenate",
            conv(32, 4, 2), LEAKY, conv(32), LEAKY, "Outer skip source:concatenate",
            conv(64, 4, 2), LEAKY, conv(64), LEAKY,
            resize(32), LEAKY, "Outer skip target:concatenate", conv(32), LEAKY,
            resize(16), LEAKY, "Outer skip target:concatenate", conv(16), LEAKY,
            conv(1, 1, init="glorot_uniform")]  # linear: a sigmoid saturates at 0 under L1 on sparse edges


def discriminator_layers() -> list[str]:
    return [f"Input:({SIZE}, {SIZE}, 1)", conv(16, 4, 2), LEAKY, conv(32, 4, 2), LEAKY, conv(1, 4)]


def config(args, variant: str, out: Path) -> dict:
    d = common.data_path
    epochs = args.pix2pix_epochs if variant == "pix2pix" else args.cyclegan_epochs
    return {
        "config_file": {"model_signal": "GAN", "type_signal": "Train", "input_shape": [SIZE, SIZE, 1]},
        "paths": {"train_X": d("edges_train_X"), "train_y": d("edges_train_y"),
                  "validation_X": d("edges_val_X"), "validation_y": d("edges_val_y")},
        "preprocessing": {"image_context": "2D", "normalization_type": "samplewise_unity_x"},
        "augmentation": {"apply_augmentation_switch": False, "random_seed": args.seed},
        "loss_function": {"loss": variant, "parameter1": 100.0 if variant == "pix2pix" else 10.0,
                          "parameter2": 1.0, "adversarial": "log" if variant == "pix2pix" else "least_squares"},
        "learning_rate_schedule": {"discriminator_learning_rate": f"{args.d_lr}:0.0",
                                   "gan_learning_rate": f"{args.g_lr}:0.0"},
        "optimizer": {"optimizer": "Adam", "discriminator_optimizer": "Adam:0.5:0.999:0.9:0.0:None",
                      "gan_optimizer": "Adam:0.5:0.999:0.9:0.0:None"},
        "training_configurations": {"hardware": "cpu", "batch_size": args.batch, "epochs": epochs,
                                    "validation_split": 0.0, "shuffle_data_switch": True},
        "save_configurations": {"save_model_switch": True, "save_model_path": str(out / "generator.model"),
                                "save_csv_switch": True, "save_csv_path": str(out / "history.csv")},
        "layers": {"generator_layer_list": generator_layers(), "discriminator_layer_list": discriminator_layers()},
    }


def history(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def run_pix2pix(args, backend: str, root: Path) -> dict:
    out = root / f"pix2pix_{backend}"
    path = common.write_config(config(args, "pix2pix", out), out / "config.json")
    quiet = ["--quiet"] if args.quiet else []
    start = time.perf_counter()
    common.run_dlae("run", str(path), "--backend", backend, "--overwrite", "--workers", str(args.workers), *quiet)
    seconds = time.perf_counter() - start
    inference = config(args, "pix2pix", out)
    inference["config_file"]["type_signal"] = "Inference"
    inference["paths"] = {"load_model": str(out / "generator.model"), "test_X": common.data_path("edges_test_X")}
    predictions = out / "predictions.h5"
    common.run_dlae("predict", str(common.write_config(inference, out / "predict.json")), "--backend", backend,
                    "--overwrite", "--workers", str(args.workers), "--predictions", str(predictions))
    names, truth = common.load_h5(common.data_path("edges_test_y"))
    pred = common.load_predictions(predictions, names)
    rows = history(out / "history.csv")
    return {"test_l1": float(np.mean(np.abs(pred - truth.reshape(pred.shape)))), "seconds": seconds,
            "g_l1": (rows[0]["g_l1"], rows[-1]["g_l1"]), "d_acc": rows[-1]["d_acc"], "epochs": len(rows),
            "previews": str(out / "previews")}


def run_cyclegan(args, backend: str, root: Path) -> dict:
    out = root / f"cyclegan_{backend}"
    path = common.write_config(config(args, "cyclegan", out), out / "config.json")
    quiet = ["--quiet"] if args.quiet else []
    start = time.perf_counter()
    common.run_dlae("run", str(path), "--backend", backend, "--overwrite", "--workers", str(args.workers), *quiet)
    rows = history(out / "history.csv")
    return {"g_cycle": (rows[0]["g_cycle"], rows[-1]["g_cycle"]), "g_identity": (rows[0]["g_identity"],
                                                                                 rows[-1]["g_identity"]),
            "seconds": time.perf_counter() - start, "epochs": len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="torch,tensorflow")
    parser.add_argument("--pix2pix-epochs", type=int, default=20)
    parser.add_argument("--cyclegan-epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--g-lr", type=float, default=0.001, help="gan_learning_rate")
    parser.add_argument("--d-lr", type=float, default=0.0002, help="discriminator_learning_rate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of the frameworks")
    parser.add_argument("--workers", type=int, default=0, help="dlae loader workers")
    parser.add_argument("--only", choices=["pix2pix", "cyclegan"], default=None)
    parser.add_argument("--workdir", default=None, help="folder for configs and outputs (default: a temp dir)")
    parser.add_argument("--quiet", action="store_true", help="one line per epoch, no progress bars")
    args = parser.parse_args()
    common.require_data(*FILES)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    common.set_threads(backends, args.threads)
    baselines = json.loads((common.DATA / "baselines.json").read_text())["edges"]
    zeros = baselines["l1_zeros"]
    root = common.workdir(args.workdir, "gan_edges")
    results = {}
    for backend in backends:
        if args.only in (None, "pix2pix"):
            print(f"== pix2pix on {backend} ==", flush=True)
            results[("pix2pix", backend)] = run_pix2pix(args, backend, root)
        if args.only in (None, "cyclegan"):
            print(f"== cycleGAN on {backend} ==", flush=True)
            results[("cyclegan", backend)] = run_cyclegan(args, backend, root)
    print(f"\nedges 64x64, batch {args.batch}, G lr {args.g_lr}, D lr {args.d_lr} ({common.MACHINE}, "
          f"{args.threads} thread(s)); outputs in {root}")
    print("trivial test L1 baselines: " + ", ".join(f"{k} {v:.4f}" for k, v in baselines.items()))
    for (variant, backend), r in results.items():
        if variant == "pix2pix":
            verdict = "yes" if r["test_l1"] < 0.5 * zeros else "NO"
            print(f"  pix2pix  {backend:10s} {r['epochs']} epochs: test L1 {r['test_l1']:.4f} "
                  f"({r['test_l1'] / zeros:.2f} x l1_zeros; far below: {verdict}); train g_l1 "
                  f"{r['g_l1'][0]:.4f} -> {r['g_l1'][1]:.4f}, last d_acc {r['d_acc']:.2f}; {r['seconds']:.0f} s")
        else:
            verdict = "yes" if r["g_cycle"][1] < r["g_cycle"][0] else "NO"
            print(f"  cycleGAN {backend:10s} {r['epochs']} epochs: g_cycle {r['g_cycle'][0]:.4f} -> "
                  f"{r['g_cycle'][1]:.4f} (falls: {verdict}); g_identity {r['g_identity'][0]:.4f} -> "
                  f"{r['g_identity'][1]:.4f}; {r['seconds']:.0f} s")


if __name__ == "__main__":
    main()
