"""The script a tf.keras user would write for a wall_time.py case (run as its own process).

    python benchmarks/wall_time_hand_tf.py CASE OUT_FOLDER [--epochs N]

Reads the case's HDF5 files whole, normalizes each sample to [0, 1], builds the network with the
Keras functional API, trains with ``model.fit`` (Adam, sparse categorical cross-entropy,
validation every epoch, ``ModelCheckpoint(save_best_only=True)``), saves the final model and
scores the test set. Prints one line: test accuracy (pixel accuracy for the U-Nets).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wall_time_cases import CASES  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load(prefix: str) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(DATA / f"{prefix}_X.h5", "r") as fx, h5py.File(DATA / f"{prefix}_y.h5", "r") as fy:
        names = sorted(fx.keys(), key=int)
        x = np.stack([fx[n][()] for n in names]).astype(np.float32)
        y = np.stack([fy[n][()] for n in names]).astype(np.int64)
    axes = tuple(range(1, x.ndim))
    lo, hi = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
    return np.where(hi > lo, (x - lo) / np.where(hi > lo, hi - lo, 1), x), y


def conv_block(x, filters, dims, twice=True):
    Conv = layers.Conv2D if dims == 2 else layers.Conv3D
    for _ in range(2 if twice else 1):
        x = Conv(filters, 3, padding="same", kernel_initializer="he_normal")(x)
        x = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)(x)
        x = layers.ReLU()(x)
    return x


def make_model(case) -> keras.Model:
    dims = case.dims
    Pool = layers.MaxPooling2D if dims == 2 else layers.MaxPooling3D
    inputs = keras.Input(case.input_shape)
    x = inputs
    if case.kind == "cnn":
        for f in case.widths:
            x = Pool(2)(conv_block(x, f, dims, twice=False))
        pooled = (layers.GlobalAveragePooling2D if dims == 2 else layers.GlobalAveragePooling3D)()(x)
        return keras.Model(inputs, layers.Dense(case.classes, activation="softmax")(pooled))
    Conv = layers.Conv2D if dims == 2 else layers.Conv3D
    Up = layers.UpSampling2D if dims == 2 else layers.UpSampling3D
    skips = []
    for f in case.widths[:-1]:
        x = conv_block(x, f, dims)
        skips.append(x)
        x = Pool(2)(x)
    x = conv_block(x, case.widths[-1], dims)
    for f in reversed(case.widths[:-1]):
        x = Conv(f, 3, padding="same", activation="relu", kernel_initializer="he_normal")(Up(2)(x))
        x = conv_block(layers.Concatenate()([skips.pop(), x]), f, dims)
    return keras.Model(inputs, Conv(case.classes, 1, activation="softmax")(x))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    case, out = CASES[args.case], Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(1)
    x, y = load(f"{case.data}_train")
    xv, yv = load(f"{case.data}_val")
    model = make_model(case)
    model.compile(optimizer=keras.optimizers.Adam(case.lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    best = keras.callbacks.ModelCheckpoint(str(out / "best.keras"), monitor="val_loss", save_best_only=True)
    model.fit(x, y, batch_size=case.batch, epochs=args.epochs or case.epochs, validation_data=(xv, yv),
              callbacks=[best], shuffle=True, verbose=0)
    model.save(out / "model.keras")
    xt, yt = load(f"{case.data}_test")
    print(f"test accuracy {model.evaluate(xt, yt, batch_size=case.batch, verbose=0)[1]:.4f}")


if __name__ == "__main__":
    main()
