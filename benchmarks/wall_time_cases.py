"""The cases of benchmarks/wall_time.py: data, network, settings, and the dlae config of each.

Each case is what a user would train on small or medium data: the digits CNN of issue 19
(digits32, 1,258 training and 270 validation samples, batch 16), a small 2-D U-Net (shapes2d,
64x64, 400 samples) and a small 3-D U-Net (shapes3d, 32x32x16, 280 samples). Both sides validate
every epoch, keep the best model (lowest validation loss) and use samplewise-unity normalization,
Adam and sparse categorical cross-entropy; no augmentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import common


@dataclass(frozen=True)
class Case:
    name: str
    data: str  # shared data set prefix: <data>_{train,val,test}_{X,y}
    input_shape: tuple
    classes: int
    widths: tuple
    batch: int
    epochs: int
    lr: float
    kind: str  # "cnn" or "unet"

    def files(self) -> list[str]:
        return [f"{self.data}_{split}_{xy}" for split in ("train", "val", "test") for xy in ("X", "y")]

    @property
    def dims(self) -> int:
        return len(self.input_shape) - 1


CASES = {
    "cnn": Case("cnn", "digits32", (32, 32, 1), 10, (32, 64, 128), 16, 50, 0.003, "cnn"),
    "unet2d": Case("unet2d", "shapes2d", (64, 64, 1), 3, (16, 32, 64), 8, 8, 0.003, "unet"),
    "unet3d": Case("unet3d", "shapes3d", (32, 32, 16, 1), 3, (8, 16, 32), 4, 4, 0.003, "unet"),
}


def cnn_layers(case: Case) -> list[str]:
    layers = [f"Input:({', '.join(map(str, case.input_shape))})"]
    for f in case.widths:
        layers += [common.conv(case.dims, f), common.BN, "Activation:relu", common.pool(case.dims)]
    return layers + [f"Global average pooling {case.dims}D", f"Dense:{case.classes}", "Activation:softmax"]


def dlae_config(case: Case, out: Path, *, epochs: int | None = None, hardware: str = "cpu") -> dict:
    """The typed dlae config of ``case`` writing into ``out``."""
    d = common.data_path
    layers = (cnn_layers(case) if case.kind == "cnn"
              else common.unet_layers(case.input_shape, case.classes, case.widths))
    return {
        "config_file": {"model_signal": "CNN" if case.kind == "cnn" else "FCN", "type_signal": "Train",
                        "input_shape": list(case.input_shape)},
        "paths": {"train_X": d(f"{case.data}_train_X"), "train_y": d(f"{case.data}_train_y"),
                  "validation_X": d(f"{case.data}_val_X"), "validation_y": d(f"{case.data}_val_y")},
        "preprocessing": {"normalization_type": "samplewise_unity_x", "categorical_switch": False,
                          "categories": case.classes},
        "augmentation": {"apply_augmentation_switch": False, "random_seed": 1},
        "loss_function": {"loss": "sparse_categorical_crossentropy"},
        "learning_rate_schedule": {"learning_rate": case.lr},
        "optimizer": {"optimizer": "Adam"},
        "training_configurations": {"hardware": hardware, "batch_size": case.batch,
                                    "epochs": epochs or case.epochs, "validation_split": 0.0,
                                    "early_stop_switch": False, "shuffle_data_switch": True},
        "monitors": {"accuracy_switch": case.kind == "cnn"},
        "save_configurations": {"save_model_switch": True, "save_model_path": str(out / "model.pt"),
                                "save_csv_switch": True, "save_csv_path": str(out / "history.csv"),
                                "save_checkpoints_switch": True, "save_checkpoints_path": str(out / "best.pt"),
                                "save_checkpoints_frequency": 1},
        "layers": {"serial_layer_list": layers},
    }
