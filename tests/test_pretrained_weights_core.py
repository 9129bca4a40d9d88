"""Reading pretrained weights files, without a framework: layouts, name and rank matching, ResNeXt's
regrouping, channel adaptation, ImageNet preprocessing constants and the one-line errors."""

from __future__ import annotations

import hashlib

import attrs
import numpy as np
import pytest

from dlae_core.data.preprocess import normalizations
from dlae_core.config.schema import Preprocessing
from dlae_core.layers.grammar import parse_layer
from dlae_core.layers.networks import record_network
from dlae_core.planning.graph import build_graph
from dlae_core.plugin.registry import get_registry
from dlae_core.pretrained import download
from dlae_core.pretrained.loading import weights_source
from dlae_core.pretrained.weight_files import WEIGHT_FILES
from dlae_core.pretrained.weights_file import (
    PretrainedWeightsError, adapt_input_channels, network_weights, read_layer_weights,
)
from dlae_core.testing.weights_files import network_file_layers, write_keras3_weights, write_legacy_weights


def graph_of(network: str, weights: str, shape=(32, 32, 3), keep_heads=False):
    registry = get_registry()
    text = f"({shape[0]}, {shape[1]}, {shape[2]})"
    specs = tuple(parse_layer(entry, "layers.serial_layer_list", registry)[0]
                  for entry in (f"Input:{text}", f"{network}:{keep_heads}:{weights}:{text}:False:False"))
    return build_graph("serial_layer_list", specs, registry)


file_layers = network_file_layers
write_legacy = write_legacy_weights
write_keras3 = write_keras3_weights


def loaded(network, path, **kwargs):
    graph = graph_of(network, path, **kwargs)
    use = graph.networks[0]
    return graph, network_weights(use, graph, record_network(network, use.spec["input_shape"],
                                                             use.spec["keep_heads"]), path)


@pytest.mark.parametrize("writer", [write_legacy, write_keras3])
def test_both_file_layouts_give_every_weighted_layer(tmp_path, writer):
    layers = file_layers("MobileNet")
    graph, weights = loaded("MobileNet", writer(tmp_path / "m.h5", layers))
    assert set(weights) == set(layers)
    np.testing.assert_array_equal(weights["conv_pw_13_bn"]["moving_variance"], layers["conv_pw_13_bn"][3])
    assert set(weights["conv_dw_1"]) == {"kernel"}  # no bias in Keras' depthwise layers


def test_unnamed_layers_match_by_rank_whatever_their_numbers(tmp_path):
    """Xception's shortcut convolutions are unnamed in Keras: a file written after other models were
    built in the process numbers them conv2d_7 … conv2d_10 (Keras 3 starts at conv2d, Keras 2 at
    conv2d_1); they are matched in creation order."""
    def keras_name(layer):
        if layer.auto is None:
            return layer.name
        number = int(layer.name.rsplit("_", 1)[1]) + 6
        return f"{layer.auto}_{number}"

    layers = file_layers("Xception", shape=(71, 71, 3), rename=keras_name)
    assert "conv2d_7" in layers and "conv2d_1" not in layers
    _, weights = loaded("Xception", write_legacy(tmp_path / "x.h5", layers), shape=(71, 71, 3))
    np.testing.assert_array_equal(weights["conv2d_1"]["kernel"], layers["conv2d_7"][0])
    np.testing.assert_array_equal(weights["batch_normalization_4"]["gamma"], layers["batch_normalization_10"][0])


def test_keras2_densenet_slash_names_are_read(tmp_path):
    layers = file_layers("DenseNet121", rename=lambda layer: layer.name.replace("conv1_", "conv1/"))
    assert "conv1/conv" in layers
    _, weights = loaded("DenseNet121", write_legacy(tmp_path / "d.h5", layers))
    np.testing.assert_array_equal(weights["conv1_conv"]["kernel"], layers["conv1/conv"][0])


def test_resnext_depthwise_kernels_become_the_grouped_convolution_they_compute(tmp_path):
    """keras-applications 1.0.8: a depthwise (3, 3, F, F/32) kernel, reshaped to (groups, c, c) and summed
    over the input index. The regrouped kernel gives the same output as that computation."""
    rng = np.random.default_rng(3)
    groups, c = 32, 4
    filters = groups * c
    depthwise = rng.normal(size=(3, 3, filters, c)).astype("float32")
    layers = file_layers("ResNeXt50")
    assert layers["conv2_block1_2_conv"][0].shape == (3, 3, 4, 128)
    layers["conv2_block1_2_conv"] = [depthwise]
    _, weights = loaded("ResNeXt50", write_legacy(tmp_path / "r.h5", layers))
    grouped = weights["conv2_block1_2_conv"]["kernel"]
    assert grouped.shape == (3, 3, c, filters)
    x = rng.normal(size=(3, 3, filters)).astype("float32")  # one 3x3 window
    per_channel = np.einsum("hwi,hwim->im", x, depthwise)             # depthwise: (in channel, multiplier)
    keras_out = per_channel.reshape(groups, c, c).sum(axis=1).reshape(filters)  # sum over the input index
    group_in = x.reshape(3, 3, groups, c)
    grouped_out = np.einsum("hwga,hwagb->gb", group_in, grouped.reshape(3, 3, c, groups, c)).reshape(filters)
    np.testing.assert_allclose(grouped_out, keras_out, rtol=1e-5, atol=1e-5)


def test_first_kernel_adapted_to_the_input_channels():
    kernel = np.random.default_rng(0).normal(size=(3, 3, 3, 8)).astype("float32")
    np.testing.assert_allclose(adapt_input_channels(kernel, 1), kernel.sum(axis=2, keepdims=True), rtol=1e-6)
    five = adapt_input_channels(kernel, 5)
    np.testing.assert_allclose(five[:, :, 3], kernel[:, :, 0] * 0.6, rtol=1e-6)
    # a constant image keeps its response: channels x scale = 3
    np.testing.assert_allclose(five.sum(axis=2), kernel[:, :, [0, 1, 2, 0, 1]].sum(axis=2) * 0.6, rtol=1e-5)


def test_missing_layer_names_the_file_and_the_layer(tmp_path):
    layers = file_layers("MobileNet")
    del layers["conv_pw_5"]
    path = write_legacy(tmp_path / "m.h5", layers)
    with pytest.raises(PretrainedWeightsError) as info:
        loaded("MobileNet", path)
    assert str(info.value) == f"MobileNet: the weights file {path} has no weights for the layer 'conv_pw_5'"


def test_notop_file_for_a_network_with_heads_says_which_file_to_use(tmp_path):
    path = write_legacy(tmp_path / "m.h5", file_layers("MobileNet"))
    with pytest.raises(PretrainedWeightsError) as info:
        loaded("MobileNet", path, keep_heads=True)
    assert "has no weights for the layer 'conv_preds' (the network keeps its ImageNet head" in str(info.value)


def test_wrong_shape_is_one_line(tmp_path):
    layers = file_layers("MobileNet")
    layers["conv_pw_2"][0] = np.zeros((1, 1, 64, 99), "float32")
    path = write_legacy(tmp_path / "m.h5", layers)
    with pytest.raises(PretrainedWeightsError) as info:
        loaded("MobileNet", path)
    assert str(info.value) == (f"MobileNet: the weights file {path} does not fit the layer 'conv_pw_2': kernel has "
                               f"the shape (1, 1, 64, 99), the network needs (1, 1, 64, 128)")


def test_unreadable_and_absent_files(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(PretrainedWeightsError, match="cannot read the weights file"):
        read_layer_weights(bad)
    spec = graph_of("MobileNet", str(tmp_path / "absent.h5")).networks[0].spec
    with pytest.raises(PretrainedWeightsError, match="absent.h5 does not exist"):
        weights_source(spec)


def test_imagenet_weights_come_from_the_weights_folder(tmp_path, monkeypatch):
    entry = download.weight_file("MobileNet", False)
    path = write_legacy(tmp_path / entry.file_name, file_layers("MobileNet"))
    monkeypatch.setenv("DLAE_WEIGHTS_DIR", str(tmp_path))
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    monkeypatch.setitem(WEIGHT_FILES, ("MobileNet", False), attrs.evolve(entry, file_hash=digest))
    spec = graph_of("MobileNet", "imagenet").networks[0].spec
    assert weights_source(spec, progress=False) == tmp_path / entry.file_name


@pytest.mark.parametrize("channels, offset", [(1, (114.799,)), (2, (103.939, 116.779))])
def test_imagenet_normalization_for_other_channel_counts(channels, offset):
    x_norm, _ = normalizations(Preprocessing(normalization_type="imagenet"), False, "VGG16", channels)
    assert x_norm.order == tuple(range(channels))
    np.testing.assert_allclose(x_norm.offset, offset, rtol=1e-5)
    image = np.full((2, 2, channels), 200.0, "float32")
    np.testing.assert_allclose(x_norm.apply(image)[0, 0], 200.0 - np.asarray(offset), rtol=1e-5)
