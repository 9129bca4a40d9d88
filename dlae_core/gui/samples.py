"""A few validation samples with the trained model's predictions drawn, after a run:
``python -m dlae_core.gui.samples CONFIG BACKEND`` (the runner starts it when ``dlae run`` ends well).

The first samples of the validation file (else the training file) are copied to
``samples/inputs.h5`` beside the saved model and predicted by ``dlae predict`` (a process of its
own: the core imports no framework), then drawn from what the predictions are, so a plugin
technique is drawn too: a vector is class probabilities when the loss takes class labels, else
regression values (listed in ``samples.json`` for the page); detection rows ``[class, confidence,
xmin, ymin, xmax, ymax]`` (input pixels, as ``dlae predict`` writes them whatever
``normalize_coordinates_switch`` says) are boxes drawn on the input beside the true ones and listed;
an image is a label map (drawn over the input) when the loss takes class labels, else an image shown
beside the input and the target (a GAN's generated image). Panels are enlarged to about
``SAMPLE_PIXELS`` pixels.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from dlae_core.gui.colors import boxes_image, enlarge, grey, label_overlay
from dlae_core.techniques.gan.preview import panel_scale, write_preview

COUNT = 4
SAMPLE_PIXELS = 192  # panels are enlarged to about this size, so boxes and small maps stay readable
CLI_TIMEOUT_S = 600


def samples_folder(config) -> Path:
    """``samples/`` beside the saved model (a resolved config's), else beside the config."""
    model = config.save_configurations.save_model_path or config.paths.load_model
    return (Path(model).parent if model else Path(config.source or ".").parent) / "samples"


def _model_path(config) -> Path | None:
    for path in (config.save_configurations.save_model_path, config.paths.load_model):
        if path and Path(path).is_file():
            return Path(path)
    return None


def _copy_inputs(config, folder: Path, count: int) -> list[str]:
    """The first ``count`` validation (else training) inputs copied to ``folder/inputs.h5``; their names."""
    from dlae_core.data.hdf5 import sample_names

    source = config.paths.validation_X or config.paths.train_X
    names = sample_names(source)[:count]
    with h5py.File(source, "r") as src, h5py.File(folder / "inputs.h5", "w") as out:
        for name in names:
            out.create_dataset(name, data=src[name][()])
    return names


def _predict(config, folder: Path, model: Path, backend: str, registry) -> Path:
    """``dlae predict`` of ``inputs.h5`` with ``model``; returns the predictions file."""
    from dlae_core.config.convert import config_to_dict

    inference = config.evolve(config_file={"type_signal": "Inference"},
                              paths={"load_model": str(model), "test_X": str(folder / "inputs.h5")})
    (folder / "config.json").write_text(json.dumps(config_to_dict(inference, registry, legacy=False), indent=1))
    predictions = folder / "predictions.h5"
    command = [sys.executable, "-m", "dlae_core.cli.main", "predict", "--backend", backend, str(folder / "config.json"),
               "--predictions", str(predictions), "--overwrite"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError((done.stdout + done.stderr).strip() or f"dlae predict exited {done.returncode}")
    return predictions


def _target(config, name: str) -> np.ndarray | None:
    path = config.paths.validation_y if config.paths.validation_X else config.paths.train_y
    if not path or not Path(path).is_file():
        return None
    with h5py.File(path, "r") as handle:
        return handle[name][()] if name in handle else None


def _labels(array: np.ndarray, image_rank: int) -> np.ndarray:
    """A class map from a channels-last output or target: argmax of several channels, else the values."""
    array = np.asarray(array)
    if array.ndim > image_rank and array.shape[-1] > 1:
        return np.argmax(array, axis=-1)
    return np.rint(array.reshape(array.shape[:image_rank])).astype(np.int64)


def _detection_info(truth: np.ndarray | None, detections: np.ndarray) -> dict:
    """What the page lists beside a detection sample: the boxes in input pixels."""
    return {"detections": int(len(detections)), "panels": ["input, true boxes green, detections red"],
            "boxes": {"truth": [] if truth is None else [[float(v) for v in row] for row in truth],
                      "detections": [[float(v) for v in row] for row in detections]}}


def draw_sample(x: np.ndarray, prediction: np.ndarray, target: np.ndarray | None, *, labels: bool, rank: int,
                detections: bool = False, scale: int = 1) -> tuple[list, dict]:
    """The panels of one sample (RGB images in 0..255, enlarged ``scale`` times) and what the page
    lists beside them. ``detections``: the prediction is rows ``[class, confidence, xmin, ymin, xmax,
    ymax]`` (also taken when it is a (k, 6) array for a 2-D input); ``labels``: the loss takes class
    labels (a vector is class probabilities, an image a label map)."""
    x = np.asarray(x, np.float32)
    if x.ndim == rank:
        x = x[..., None]
    prediction = np.asarray(prediction)
    if detections or (prediction.ndim == 2 and prediction.shape[-1] == 6 and rank == 2):
        rows = prediction.reshape(-1, 6)
        truth = np.asarray(target, np.float32).reshape(-1, 5) if target is not None and np.size(target) else None
        return [boxes_image(x, truth, rows, scale)], _detection_info(truth, rows)
    if prediction.ndim == 1:  # one vector per sample: class probabilities, else regression values
        info = {"probabilities" if labels else "values": [float(v) for v in prediction], "panels": ["input"]}
        if target is not None and labels:
            info["target"] = int(np.argmax(target)) if np.size(target) > 1 else int(np.ravel(target)[0])
        elif target is not None:
            info["target_values"] = [float(v) for v in np.ravel(target)]
        return [enlarge(grey(x), scale)], info
    if labels:
        panels = [grey(x), label_overlay(x, _labels(prediction, rank))]
        if target is not None:
            panels.insert(1, label_overlay(x, _labels(target, rank)))
        names = ["input", "target", "prediction"] if target is not None else ["input", "prediction"]
    else:
        panels = [grey(x), grey(prediction)] + ([grey(np.asarray(target, np.float32))] if target is not None else [])
        names = ["input", "prediction", "target"][:len(panels)]
    return [enlarge(panel, scale) for panel in panels], {"panels": names}


def _is_detection_file(outputs) -> bool:
    """Whether a predictions file holds detection rows (its ``values`` attribute says so)."""
    from dlae_core.techniques.bbd.prediction import PREDICTION_VALUES

    return outputs.attrs.get("values") == PREDICTION_VALUES


def make_samples(config_path: str, backend: str, registry, count: int = COUNT) -> Path:
    """Predict and draw ``count`` samples of the config's run; returns ``samples.json``'s path."""
    from dlae_core.cli.loading import load_and_plan

    # absolute, so the config's relative paths stay right when the inference config is written elsewhere
    config, plan, _ = load_and_plan(str(Path(config_path).resolve()), check_data=False)
    folder = samples_folder(config)
    folder.mkdir(parents=True, exist_ok=True)
    model = _model_path(config)
    if model is None:
        raise RuntimeError("no saved model to predict with (save_configurations.save_model_switch is off)")
    names = _copy_inputs(config, folder, count)
    predictions = _predict(config, folder, model, backend, registry)
    loss = registry.losses.get(config.loss_function.loss)
    labels = getattr(loss, "target", "dense") in ("sparse", "onehot")
    shape = plan.main.input_shapes[0]
    rank, scale = len(shape) - 1, panel_scale(shape, SAMPLE_PIXELS)
    entries = []
    with h5py.File(folder / "inputs.h5", "r") as inputs, h5py.File(predictions, "r") as outputs:
        detections = _is_detection_file(outputs)
        for name in names:
            panels, info = draw_sample(inputs[name][()], outputs[name][()], _target(config, name), labels=labels,
                                       rank=rank, detections=detections, scale=scale)
            image = folder / f"sample_{name}.png"
            write_preview(image, [panels], (0.0, 255.0), scale=1)
            entries.append({"name": name, "image": str(image), "scale": scale, **info})
    out = folder / "samples.json"
    out.write_text(json.dumps({"model": str(model), "samples": entries}, indent=1))
    return out


def main(argv: list[str]) -> int:
    from dlae_core.plugin.registry import get_registry

    config_path, backend = argv
    try:
        print(f"samples: {make_samples(config_path, backend, get_registry())}")
    except Exception as exc:  # the run itself ended well: say why there are no samples, one line
        print(f"samples: not drawn: {' '.join(str(exc).split())[:500]}")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a process by the runner
    sys.exit(main(sys.argv[1:]))
