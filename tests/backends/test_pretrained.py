"""Pretrained encoders against keras.applications: a weights file written from keras.applications' own
model (``weights=None``, random but non-trivial weights, saved in the published layout) loaded into the
dlae network on each backend gives keras.applications' features (≤ 1e-4 relative), and the parameter
counts are Keras' counts. Needs TensorFlow for the reference (skipped without it)."""

from __future__ import annotations

import numpy as np
import pytest

from dlae_core.layers.grammar import parse_layer
from dlae_core.planning.graph import build_graph
from dlae_core.plugin.registry import get_registry
from dlae_core.pretrained.loading import load_pretrained_weights
from dlae_core.pretrained.weights_file import read_layer_weights

SIZE = 75  # the smallest input every network accepts (Inception's)
KERAS_NETWORKS = ("Xception", "VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152", "ResNet50V2",
                  "ResNet101V2", "ResNet152V2", "InceptionV3", "InceptionResNetV2", "DenseNet121",
                  "DenseNet169", "DenseNet201", "MobileNet", "MobileNetV2")
_REFERENCES: dict = {}


def keras_reference(name: str, tmp_path_factory, channels: int = 3):
    """(weights file, input batch, keras features, keras counts) for ``name``, made once per process."""
    if name in _REFERENCES:
        return _REFERENCES[name]
    pytest.importorskip("tensorflow")
    import keras
    from keras.src.legacy.saving import legacy_h5_format
    import h5py

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    rng = np.random.default_rng(0)
    for layer in model.layers:  # BatchNormalization statistics away from 0 / 1, so they matter
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape).astype("float32"))
    path = tmp_path_factory.mktemp(name) / f"{name.lower()}_notop.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    x = rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")
    features = np.asarray(model(x, training=False))
    counts = (sum(int(np.prod(tuple(w.shape))) for w in model.trainable_weights),
              sum(int(np.prod(tuple(w.shape))) for w in model.non_trainable_weights))
    _REFERENCES[name] = (path, x, features, counts)
    keras.backend.clear_session()
    return _REFERENCES[name]


def network_graph(name: str, weights: str, channels: int = 3, size: int = SIZE):
    registry = get_registry()
    shape = f"({size}, {size}, {channels})"
    specs = tuple(parse_layer(text, "layers.serial_layer_list", registry)[0]
                  for text in (f"Input:{shape}", f"{name}:False:{weights}:{shape}:False:False"))
    return build_graph("serial_layer_list", specs, registry)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


@pytest.mark.parametrize("name", KERAS_NETWORKS)
def test_keras_weights_file_gives_keras_features(name, backend, engine, tmp_path_factory):
    path, x, features, counts = keras_reference(name, tmp_path_factory)
    graph = network_graph(name, str(path))
    assert graph.totals() == counts
    model = engine.build_model(graph)
    assert engine.count_params(model) == counts
    lines = load_pretrained_weights(engine, model, graph, progress=False)
    assert lines == [f"{name}: {path} weights from {path}"]
    out = engine.forward(model, [x])
    assert out.shape == features.shape
    assert relative_error(out, features) <= 1e-4


@pytest.mark.parametrize("name", ["ResNet50", "InceptionV3"])
def test_grey_input_reads_the_rgb_weights_summed(name, backend, engine, tmp_path_factory):
    """One channel: the first kernel summed over RGB, so a grey image gives the RGB network's features
    of that image repeated on three channels."""
    path, x, _, _ = keras_reference(name, tmp_path_factory)
    grey = x[..., :1]
    rgb_graph, grey_graph = network_graph(name, str(path)), network_graph(name, str(path), channels=1)
    rgb, mono = engine.build_model(rgb_graph), engine.build_model(grey_graph)
    load_pretrained_weights(engine, rgb, rgb_graph, progress=False)
    load_pretrained_weights(engine, mono, grey_graph, progress=False)
    expected = engine.forward(rgb, [np.repeat(grey, 3, axis=-1)])
    assert relative_error(engine.forward(mono, [grey]), expected) <= 1e-4


def test_two_channels_repeat_and_rescale_the_rgb_kernel(backend, engine, tmp_path_factory):
    path, x, _, _ = keras_reference("VGG16", tmp_path_factory)
    graph = network_graph("VGG16", str(path), channels=2)
    model = engine.build_model(graph)
    load_pretrained_weights(engine, model, graph, progress=False)
    kernel = engine.export_weights(model, graph)["block1_conv1"]["kernel"]
    rgb = read_layer_weights(path)["block1_conv1"][0]
    assert kernel.shape == (3, 3, 2, 64)
    np.testing.assert_allclose(kernel, rgb[:, :, :2, :] * 1.5, rtol=1e-6)


@pytest.mark.parametrize("name", ["VGG16", "DenseNet121", "MobileNet"])  # Keras' caffe, torch, tf modes
def test_imagenet_normalization_is_keras_preprocess_input(name, backend):
    pytest.importorskip("tensorflow")
    import keras

    from dlae_core.data.preprocess import normalizations
    from dlae_core.config.schema import Preprocessing

    module = {"VGG16": keras.applications.vgg16, "DenseNet121": keras.applications.densenet,
              "MobileNet": keras.applications.mobilenet}[name]
    images = np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    expected = np.asarray(module.preprocess_input(images.copy()))
    x_norm, y_norm = normalizations(Preprocessing(normalization_type="imagenet"), True, name, 3)
    assert y_norm.kind == "none"
    np.testing.assert_allclose(np.stack([x_norm.apply(i) for i in images]), expected, rtol=1e-5, atol=1e-4)
    # the accelerator path (device augmentation) normalizes batches the same way
    if backend == "torch":
        import torch
        from dlae_torch.device_augment import normalize
        on_device = normalize(torch.from_numpy(images), x_norm).numpy()
    else:
        import tensorflow as tf
        from dlae_tensorflow.device_augment import normalize
        on_device = normalize(tf.constant(images), x_norm).numpy()
    np.testing.assert_allclose(on_device, expected, rtol=1e-5, atol=1e-4)


# -- whole runs: weights loaded, frozen, saved without training --------------------------------------
def mobilenet_classifier(weights: str, size: int = 32) -> list:
    return [f"Input:({size}, {size}, 1)", f"MobileNet:False:{weights}:({size}, {size}, 1):False:False",
            "Global average pooling 2D", "Dense:3", "Activation:softmax"]


def test_frozen_pretrained_network_keeps_its_weights_while_the_head_learns(tmp_path, backend):
    from dlae_core.testing.weights_files import network_file_layers, write_legacy_weights
    from support import make_config, make_data, read_csv, save_to, saved_weights, train

    layers = network_file_layers("MobileNet", (32, 32, 3))
    write_legacy_weights(tmp_path / "mobilenet.h5", layers)
    data = make_data(tmp_path / "data", "classification", n=8, size=32)
    out = tmp_path / "out"
    config = make_config("CNN", (32, 32, 1), mobilenet_classifier("mobilenet.h5"), data,
                         save_configurations=save_to(out),
                         training_configurations={"epochs": 2, "batch_size": 4, "freeze_pretrained": True})
    train(backend, config, tmp_path / "config.json")
    saved = saved_weights(backend, out / "model.pt")
    # the network's weights, moving statistics included, are the file's (the grey input reads the
    # RGB kernel summed); the head has moved away from its initialisation
    np.testing.assert_allclose(saved["conv1/kernel"], layers["conv1"][0].sum(axis=2, keepdims=True), rtol=1e-6)
    for name in ("conv_pw_13_bn", "conv_dw_7_bn"):
        for index, weight in enumerate(("gamma", "beta", "moving_mean", "moving_variance")):
            np.testing.assert_array_equal(saved[f"{name}/{weight}"], layers[name][index])
    _, rows = read_csv(out / "history.csv")
    assert rows[1]["loss"] != rows[0]["loss"]  # the head trained


def test_unfrozen_pretrained_network_trains_from_the_file(tmp_path, backend):
    from dlae_core.testing.weights_files import network_file_layers, write_legacy_weights
    from support import make_config, make_data, save_to, saved_weights, train

    layers = network_file_layers("MobileNet", (32, 32, 3))
    write_legacy_weights(tmp_path / "mobilenet.h5", layers)
    data = make_data(tmp_path / "data", "classification", n=8, size=32)
    out = tmp_path / "out"
    config = make_config("CNN", (32, 32, 1), mobilenet_classifier("mobilenet.h5"), data,
                         save_configurations=save_to(out), training_configurations={"epochs": 1, "batch_size": 4})
    train(backend, config, tmp_path / "config.json")
    saved = saved_weights(backend, out / "model.pt")
    start = layers["conv_pw_13_bn"][2]
    moved = np.max(np.abs(saved["conv_pw_13_bn/moving_mean"] - start))
    assert 0 < moved < 1  # trained from the file's values (its moving statistics updated), not from scratch


def test_pix2pix_generator_on_a_pretrained_encoder_trains_and_predicts(tmp_path, backend):
    """A U-Net generator whose encoder is MobileNet (its five taps merged by the decoder), with weights
    from a file, in a pix2pix run on each backend."""
    from dlae_core.testing.weights_files import network_file_layers, write_legacy_weights
    from support import conv, discriminator_layers, gan_config, make_data, predict, read_csv, save_to, train

    write_legacy_weights(tmp_path / "mobilenet.h5", network_file_layers("MobileNet", (32, 32, 3)))
    generator = ["Input:(32, 32, 1)", "MobileNet:False:mobilenet.h5:(32, 32, 1):True:False"]
    for _ in range(5):  # 1 -> 2 -> 4 -> 8 -> 16, each merged with the tap of that size (#5 .. #1)
        generator += ["Outer skip target:concatenate", conv(8), "Leaky reLU:0.2", "Upsample 2D"]
    generator += [conv(1, 1, init="glorot_uniform"), "Activation:sigmoid"]
    data = make_data(tmp_path / "data", "translation", n=8, size=32)
    out = tmp_path / "out"
    config = gan_config(data, "pix2pix", size=32, epochs=1, layers=(generator, discriminator_layers(32)),
                        save_configurations=save_to(out))
    train(backend, config, tmp_path / "config.json")
    _, rows = read_csv(out / "history.csv")
    assert len(rows) == 1 and np.isfinite(rows[0]["g_l1"])
    predictions = predict(backend, tmp_path, config, out / "model.pt", data["validation_X"])
    assert {v.shape for v in predictions.values()} == {(32, 32, 1)}
