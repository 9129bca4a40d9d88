"""The settings of a generated catalog model: a complete, ready config around its layer lists.

Data paths are placeholders relative to the config's folder (:data:`DATA_FILES`); outputs go to ``out/``
beside the config. Settings follow the original's prebuilt configs where they make sense (Adam at 1e-4 with
plateau decay, early stopping after 10 epochs, augmentation with flips, the SSD options of its SSDs), with
batch sizes that fit large inputs and, for the GANs, inputs and targets scaled to [-1, 1] for the tanh
generator and Adam with beta1 0.5.
"""

from __future__ import annotations

import json

from dlae_core.prebuilt.catalog import Generated
from dlae_core.prebuilt.plain import ssd_aspect_ratios

__all__ = ["DATA_FILES", "build_config", "config_text", "key_settings", "output_files"]

DATA_FILES = {"train_X": "data/train_X.h5", "train_y": "data/train_y.h5", "validation_X": "data/validation_X.h5",
              "validation_y": "data/validation_y.h5", "test_X": "data/test_X.h5"}
_BATCH = {"CNN": 16, "FCN": 4, "BBD": 4, "GAN": 1}
_GAN_OPTIMIZER = "Adam:0.5:0.999:0.9:0.0:None"


def output_files(technique: str) -> dict[str, str]:
    model = "out/generator.pt" if technique == "GAN" else "out/model.pt"
    best = "out/checkpoints/generator.pt" if technique == "GAN" else "out/best.pt"
    return {"model": model, "history": "out/history.csv", "checkpoint": best}


def hook_count(model: Generated) -> int:
    if model.entry.pretrained:
        return 5
    return sum(text == "Hook connection source" for text in model.layers["serial_layer_list"])


def build_config(model: Generated) -> dict:
    """The config of ``model`` as a typed-form dict (the keys that differ from the defaults, every key that
    says what the model is); :func:`config_text` writes it with every key."""
    entry, technique = model.entry, model.entry.technique
    outputs = output_files(technique)
    batch = 1 if entry.rank == 3 else _BATCH.get(technique, 8)
    raw: dict = {
        "config_file": {"model_signal": technique, "type_signal": "Train", "input_shape": list(model.input_shape)},
        "paths": dict(DATA_FILES, load_model=outputs["model"]),
        "preprocessing": {"image_context": f"{entry.rank}D", "normalization_type": "samplewise_unity_x",
                          "categorical_switch": False, "categories": max(model.classes, 1),
                          "repeat_X_switch": False},
        "augmentation": {"apply_augmentation_switch": True, "horizontal_flip_switch": True,
                         "vertical_flip_switch": True, "random_seed": 1},
        "learning_rate_schedule": {"learning_rate": 0.0001, "decay_on_plateau_switch": True,
                                   "decay_on_plateau_factor": 0.2, "decay_on_plateau_patience": 3},
        "optimizer": {"optimizer": "Adam", "beta1": 0.9, "beta2": 0.999, "epsilon": None},
        "training_configurations": {"hardware": "gpu", "batch_size": batch, "epochs": 100, "validation_split": 0.0,
                                    "shuffle_data_switch": True, "early_stop_switch": True, "early_stop_patience": 10},
        "monitors": {"accuracy_switch": technique in ("CNN", "FCN")},
        "save_configurations": {"save_model_switch": True, "save_model_path": outputs["model"],
                                "save_csv_switch": True, "save_csv_path": outputs["history"],
                                "save_checkpoints_switch": True, "save_checkpoints_path": outputs["checkpoint"],
                                "save_checkpoints_frequency": 1},
    }
    if technique in ("CNN", "FCN"):
        raw["loss_function"] = {"loss": "sparse_categorical_crossentropy", "parameter1": 0.0, "parameter2": 0.0}
    elif technique == "BBD":
        hooks = hook_count(model)
        raw["preprocessing"]["categories"] = 2
        raw["loss_function"] = {"loss": "ssd", "parameter1": 3, "parameter2": 1.0}
        raw["bbd_options"] = {
            "number_classes": model.classes, "scaling_type": "global", "scales": [0.1, 0.9],
            "aspect_ratios_type": "per predictor layer",
            "aspect_ratios": [list(r) for r in ssd_aspect_ratios(hooks)],
            "steps": None, "offsets": None, "variances": [0.1, 0.1, 0.2, 0.2], "confidence_threshold": 0.01,
            "iou_threshold": 0.45, "top_k": 200, "nms_maximum_output": 400, "coordinates_type": "centroids",
            "two_boxes_for_AR1_switch": False, "clip_boxes_switch": False, "normalize_coordinates_switch": True,
            "positive_iou_threshold": 0.5, "negative_iou_limit": 0.3}
    else:  # GAN: the generator ends in tanh, so inputs and targets are scaled to [-1, 1]
        raw["preprocessing"].update(normalization_type="samplewise_negpos_xy", categories=2)
        cyclegan = entry.name == "cyclegan"
        raw["loss_function"] = {"loss": entry.name, "parameter1": 100.0, "parameter2": 1.0 if cyclegan else 0.0,
                                "adversarial": "log"}
        raw["learning_rate_schedule"].update(learning_rate=0.0002, decay_on_plateau_switch=False,
                                             discriminator_learning_rate="0.0002:0.0", gan_learning_rate="0.0002:0.0")
        raw["optimizer"].update(discriminator_optimizer=_GAN_OPTIMIZER, gan_optimizer=_GAN_OPTIMIZER)
        raw["training_configurations"]["early_stop_switch"] = False
    raw["layers"] = {name: list(model.layers.get(name, [])) for name in
                     ("serial_layer_list", "generator_layer_list", "discriminator_layer_list")}
    return raw


def config_text(model: Generated, registry) -> str:
    """The complete config (every key, typed form, the layer lists as layer strings), as the project's
    converter writes it (``dlae convert``), checked key by key on the way."""
    from dlae_core.config.convert import config_to_dict
    from dlae_core.config.parser import parse_config

    raw = build_config(model)
    config = parse_config(raw, registry)
    out = config_to_dict(config, registry, legacy=False)
    out["layers"] = raw["layers"]  # the layer strings: one line each, as the original and `dlae show` write them
    return _dump(out)


def _dump(config: dict) -> str:
    """JSON with one key (or one layer) per line and each value on its key's line."""
    sections = []
    for name, section in config.items():
        if name == "layers":
            rows = [f'  {json.dumps(key)}: [' + ",".join(f"\n   {json.dumps(text)}" for text in layers)
                    + ("\n  ]" if layers else "]") for key, layers in section.items()]
        else:
            rows = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in section.items()]
        sections.append(f" {json.dumps(name)}: {{\n" + ",\n".join(rows) + "\n }")
    text = "{\n" + ",\n".join(sections) + "\n}\n"
    assert json.loads(text) == config
    return text


def key_settings(model: Generated) -> list[tuple[str, str]]:
    """(setting, value) pairs that describe ``model``'s config, for ``dlae prebuilt show``."""
    raw = build_config(model)
    entry, pre, train = model.entry, raw["preprocessing"], raw["training_configurations"]
    loss = raw["loss_function"]
    rows = [("technique", entry.technique), ("encoder", entry.encoder or "-"),
            ("input shape", str(model.input_shape))]
    if entry.technique == "BBD":
        rows.append(("object classes", f"{model.classes} (+ background)"))
        rows.append(("predictor layers", str(hook_count(model))))
    elif entry.technique == "GAN":
        rows.append(("generated channels", str(model.classes)))
    else:
        rows.append(("classes", str(model.classes)))
    if entry.pretrained:
        rows.append(("weights", model.weights))
    params = ", ".join(f"{k} {loss[k]}" for k in ("parameter1", "parameter2") if loss[k])
    rows += [("loss", loss["loss"] + (f" ({params})" if params else "")),
             ("normalization", pre["normalization_type"]),
             ("optimizer", "Adam, learning rate " + (f"{raw['learning_rate_schedule']['learning_rate']}"
                                                     if entry.technique != "GAN" else "0.0002 (both networks)")),
             ("training", f"batch size {train['batch_size']}, up to {train['epochs']} epochs"
                          + (", early stopping after 10" if train["early_stop_switch"] else "")),
             ("data", ", ".join(DATA_FILES.values())),
             ("outputs", ", ".join(output_files(entry.technique).values()))]
    return rows
