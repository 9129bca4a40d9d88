"""Graph assembly and shape inference: outer skips (LIFO), inner skips,
hooks, pretrained encoders with their tap points, the pix2pix discriminator, and walk errors."""

from __future__ import annotations

import json

import pytest

from dlae_core.config.parser import load_config, parse_config
from dlae_core.planning.graph import WalkError, build_graph
from dlae_core.layers.grammar import parse_layer
from dlae_core.planning.plan import plan_model


def specs(registry, *entries):
    out = []
    for i, entry in enumerate(entries):
        spec, problems = parse_layer(entry, f"layers.serial_layer_list[{i}]", registry)
        assert not problems, [p.line() for p in problems]
        out.append(spec)
    return tuple(out)


def walk(registry, *entries, list_name="serial_layer_list", **kwargs):
    return build_graph(list_name, specs(registry, *entries), registry, **kwargs)


def walk_error(registry, *entries, **kwargs) -> str:
    with pytest.raises(WalkError) as info:
        walk(registry, *entries, **kwargs)
    return info.value.problem.line()


def by_position(graph, position):
    found = [n for n in graph.nodes if n.position == position and n.network is None]
    assert len(found) == 1
    return found[0]


# ------------------------------------------------------------------ outer skips (U-Net, LIFO)

def test_outer_skips_pair_last_in_first_out(registry):
    g = walk(registry,
             "Input:(16, 16, 1)",                 # 0
             "Convolution 2D:4",                  # 1  a: (16, 16, 4)
             "Outer skip source",                 # 2  push a
             "Max pooling 2D",                    # 3  (8, 8, 4)
             "Convolution 2D:8",                  # 4  b: (8, 8, 8)
             "Outer skip source",                 # 5  push b
             "Max pooling 2D",                    # 6  (4, 4, 8)
             "Convolution 2D:16",                 # 7  (4, 4, 16)
             "Upsample 2D",                       # 8  (8, 8, 16)
             "Outer skip target:concatenate",     # 9  [b, x] -> 8 + 16 = 24 channels
             "Upsample 2D",                       # 10 (16, 16, 24)
             "Outer skip target:concatenate",     # 11 [a, x] -> 4 + 24 = 28 channels
             "Convolution 2D:2:(1, 1)")           # 12
    a, b = by_position(g, 1), by_position(g, 4)
    first, second = by_position(g, 9), by_position(g, 11)
    assert (first.op, first.mode) == ("merge", "concatenate")
    assert first.inputs == (b.id, by_position(g, 8).id)          # skip first, then the current tensor
    assert first.output_shape == (8, 8, 24)
    assert second.inputs == (a.id, by_position(g, 10).id)
    assert second.output_shape == (16, 16, 28)
    assert g.output_shape == (16, 16, 2)
    assert g.nodes[g.output].inputs == (second.id,)
    assert g.inputs == (0,) and g.nodes[0].op == "input"
    # markers make no nodes; parameters: 9*1*4+4, 9*4*8+8, 9*8*16+16, 1*28*2+2
    assert [n.position for n in g.nodes] == [0, 1, 3, 4, 6, 7, 8, 9, 10, 11, 12]
    assert g.totals() == (40 + 296 + 1168 + 58, 0)


@pytest.mark.parametrize("mode", ["add", "subtract", "multiply", "average", "maximum"])
def test_elementwise_merges_keep_the_shape(registry, mode):
    g = walk(registry, "Input:(8, 8, 4)", "Convolution 2D:4", "Outer skip source", "Convolution 2D:4",
             f"Outer skip target:{mode}")
    merge = g.nodes[g.output]
    assert (merge.op, merge.mode, merge.output_shape) == ("merge", mode, (8, 8, 4))
    assert merge.inputs == (by_position(g, 1).id, by_position(g, 3).id)


def test_elementwise_merge_needs_identical_shapes(registry):
    line = walk_error(registry, "Input:(8, 8, 4)", "Outer skip target:add")
    assert line.startswith("layers.serial_layer_list[1]: no open outer skip source to merge with")
    line = walk_error(registry, "Input:(8, 8, 4)", "Convolution 2D:4", "Outer skip source", "Convolution 2D:8",
                      "Outer skip target:add")
    assert line == ("layers.serial_layer_list[4]: cannot merge the skip from convolution_2d_1: add needs identical "
                    "shapes, but the skip tensor is (8, 8, 4) and the current tensor is (8, 8, 8). "
                    "Received: 'Outer skip target:add'.")


def test_concat_spatial_mismatch_message(registry):
    line = walk_error(registry, "Input:(8, 8, 1)", "Convolution 2D:4", "Outer skip source", "Max pooling 2D",
                      "Convolution 2D:8", "Outer skip target:concatenate")
    assert line == ("layers.serial_layer_list[5]: cannot merge the skip from convolution_2d_1: concatenate needs "
                    "equal spatial shapes, but the skip tensor is (8, 8, 4) and the current tensor is (4, 4, 8). "
                    "Received: 'Outer skip target:concatenate'.")


def test_target_with_empty_stack(registry):
    line = walk_error(registry, "Input:(8, 8, 1)", "Convolution 2D:4", "Outer skip source", "Convolution 2D:4",
                      "Outer skip target", "Outer skip target")
    assert line == ("layers.serial_layer_list[5]: no open outer skip source to merge with (every Outer skip target "
                    "needs an earlier unconsumed Outer skip source). Received: 'Outer skip target:concatenate'.")
    line = walk_error(registry, "Input:(8, 8, 1)", "Convolution 2D:4", "Inner skip target:add")
    assert "no open inner skip source to merge with (every Inner skip target needs an earlier unconsumed " \
           "Inner skip source)" in line


def test_markers_at_position_one_tap_the_input(registry):
    # The original rejected markers at position 1; dlae lets a skip start at the raw input.
    g = walk(registry, "Input:(8, 8, 2)", "Outer skip source", "Convolution 2D:3", "Outer skip target")
    assert g.nodes[g.output].inputs == (0, by_position(g, 2).id)
    assert g.output_shape == (8, 8, 5)


# ------------------------------------------------------------------ inner skips (residual)

def test_inner_skip_is_a_residual_add(registry):
    g = walk(registry, "Input:(8, 8, 4)", "Convolution 2D:4", "Inner skip source", "Convolution 2D:4",
             "Activation:relu", "Convolution 2D:4", "Inner skip target:add", "Activation:relu")
    merge = by_position(g, 6)
    assert (merge.op, merge.mode, merge.output_shape) == ("merge", "add", (8, 8, 4))
    assert merge.inputs == (by_position(g, 1).id, by_position(g, 5).id)
    assert g.nodes[g.output].inputs == (merge.id,)


def test_inner_skip_default_mode_is_add(registry):
    g = walk(registry, "Input:(8, 8, 4)", "Inner skip source", "Convolution 2D:4", "Inner skip target")
    assert g.nodes[g.output].mode == "add"


def test_nested_inner_skips_pair_lifo(registry):
    g = walk(registry,
             "Input:(8, 8, 4)",                  # 0  s1 = input
             "Inner skip source",                # 1
             "Convolution 2D:4",                 # 2  c1
             "Inner skip source",                # 3  s2 = c1
             "Convolution 2D:4",                 # 4  c2
             "Inner skip target:add",            # 5  c1 + c2  (newest source first)
             "Convolution 2D:4",                 # 6  c3
             "Inner skip target:concatenate")    # 7  [input, c3]
    c1, c2, c3 = by_position(g, 2), by_position(g, 4), by_position(g, 6)
    inner, outer = by_position(g, 5), by_position(g, 7)
    assert inner.inputs == (c1.id, c2.id) and inner.output_shape == (8, 8, 4)
    assert outer.inputs == (0, c3.id) and outer.output_shape == (8, 8, 8)


def test_inner_and_outer_stacks_are_separate(registry):
    g = walk(registry, "Input:(8, 8, 2)", "Convolution 2D:3", "Outer skip source", "Convolution 2D:5",
             "Inner skip source", "Convolution 2D:5", "Inner skip target:add", "Outer skip target:concatenate")
    inner, outer = by_position(g, 6), by_position(g, 7)
    assert inner.inputs == (by_position(g, 3).id, by_position(g, 5).id)
    assert outer.inputs == (by_position(g, 1).id, inner.id)
    assert outer.output_shape == (8, 8, 8)


# ------------------------------------------------------------------ hooks

def test_hooks_are_collected_in_order(registry):
    g = walk(registry, "Input:(32, 32, 3)", "Convolution 2D:8", "Hook connection source", "Max pooling 2D",
             "Convolution 2D:16", "Hook connection source", "Max pooling 2D", "Hook connection source")
    assert g.hooks == (by_position(g, 1).id, by_position(g, 4).id, by_position(g, 6).id)
    assert g.hook_shapes() == ((32, 32, 8), (16, 16, 16), (8, 8, 16))


def test_hooks_can_tap_the_input(registry):
    g = walk(registry, "Input:(8, 8, 3)", "Hook connection source", "Convolution 2D:2")
    assert g.hooks == (0,)


# ------------------------------------------------------------------ pretrained encoders

TAPS_512 = {
    # The original's tap points for a 512x512 input: block1_conv2 .. block5_conv3 (VGG16), conv1_relu ..
    # conv5_block3_out (ResNet50), activation_1/4/29/75 + mixed10 padded to powers of two (InceptionV3)
    "VGG16": ([(512, 512, 64), (256, 256, 128), (128, 128, 256), (64, 64, 512), (32, 32, 512)], (16, 16, 512)),
    "ResNet50": ([(256, 256, 64), (128, 128, 256), (64, 64, 512), (32, 32, 1024), (16, 16, 2048)], (16, 16, 2048)),
    "InceptionV3": ([(256, 256, 32), (128, 128, 80), (64, 64, 96), (32, 32, 192), (16, 16, 2048)], (14, 14, 2048)),
    "InceptionResNetV2": ([(256, 256, 32), (128, 128, 80), (64, 64, 256), (32, 32, 288), (16, 16, 1536)],
                          (14, 14, 1536)),
    "Xception": ([(256, 256, 32), (128, 128, 256), (64, 64, 728), (32, 32, 1024), (16, 16, 2048)], (16, 16, 2048)),
    "DenseNet121": ([(256, 256, 64), (128, 128, 256), (64, 64, 512), (32, 32, 1024), (16, 16, 1024)],
                    (16, 16, 1024)),
    "MobileNet": ([(256, 256, 64), (128, 128, 128), (64, 64, 256), (32, 32, 512), (16, 16, 1024)], (16, 16, 1024)),
    "MobileNetV2": ([(256, 256, 96), (128, 128, 144), (64, 64, 192), (32, 32, 576), (16, 16, 1280)],
                    (16, 16, 1280)),
    "ResNet50V2": ([(256, 256, 64), (128, 128, 64), (64, 64, 128), (32, 32, 256), (16, 16, 2048)], (16, 16, 2048)),
}


@pytest.mark.parametrize("name", sorted(TAPS_512))
def test_pretrained_taps_become_the_skip_stack(registry, name):
    taps, out = TAPS_512[name]
    g = walk(registry, "Input:(512, 512, 1)", f"{name}:False:none:(512, 512, 1):True:True")
    output = g.nodes[g.output]
    assert (output.network, output.position, output.output_shape) == (name, 1, out)
    (use,) = g.networks
    assert (use.spec.type, use.position) == (name, 1)
    assert [n.id for n in g.nodes if n.network == name] == list(use.nodes)
    assert g.nodes[use.nodes[0]].inputs == (0,)  # the network's first layer reads the Input
    tap_nodes = sorted((n for n in g.nodes if n.tap_index is not None), key=lambda n: n.tap_index)
    assert [n.tap_index for n in tap_nodes] == [0, 1, 2, 3, 4]
    assert all(n.network == name for n in tap_nodes)
    assert [n.output_shape for n in tap_nodes] == taps
    assert g.hooks == tuple(n.id for n in tap_nodes)  # hooks are outputs: their processing stays


def test_vgg16_unet_decoder_consumes_taps_from_the_lowest_resolution(registry):
    g = walk(registry, "Input:(512, 512, 1)", "VGG16:False:none:(512, 512, 1):True:False",
             "Upsample 2D", "Outer skip target:concatenate",                   # 32x32 with tap #5
             "Convolution 2D:8", "Upsample 2D", "Outer skip target:concatenate",   # 64x64 with tap #4
             "Outer skip source",                                               # pushed after the encoder
             "Convolution 2D:8", "Outer skip target:concatenate",               # consumes that source first
             "Upsample 2D", "Outer skip target:concatenate")                    # 128x128 with tap #3
    taps = {n.tap_index: n for n in g.nodes if n.tap_index is not None}
    m1, m2, m3, m4 = (by_position(g, p) for p in (3, 6, 9, 11))
    assert m1.inputs == (taps[4].id, by_position(g, 2).id) and m1.output_shape == (32, 32, 512 + 512)
    assert m2.inputs == (taps[3].id, by_position(g, 5).id) and m2.output_shape == (64, 64, 512 + 8)
    assert m3.inputs == (m2.id, by_position(g, 8).id) and m3.output_shape == (64, 64, 520 + 8)
    assert m4.inputs == (taps[2].id, by_position(g, 10).id) and m4.output_shape == (128, 128, 256 + 528)


def test_taps_follow_the_input_size_and_skip_starts_false_leaves_no_stack(registry):
    g = walk(registry, "Input:(64, 64, 3)", "ResNet50:False:none:(64, 64, 3):True:False")
    assert [n.output_shape for n in g.nodes if n.tap_index is not None] == [
        (32, 32, 64), (16, 16, 256), (8, 8, 512), (4, 4, 1024), (2, 2, 2048)]
    line = walk_error(registry, "Input:(64, 64, 3)", "ResNet50:False:none:(64, 64, 3):False:False",
                      "Outer skip target:concatenate")
    assert line.startswith("layers.serial_layer_list[2]: no open outer skip source to merge with")


def test_five_targets_empty_the_tap_stack(registry):
    entries = ["Input:(64, 64, 3)", "VGG16:False:none:(64, 64, 3):True:False"]
    for _ in range(5):
        entries += ["Upsample 2D", "Outer skip target:concatenate",
                    "Convolution 2D:4"]
    g = walk(registry, *entries)
    assert g.output_shape == (64, 64, 4)
    merges = [n for n in g.nodes if n.op == "merge"]
    assert [g.nodes[m.inputs[0]].tap_index for m in merges] == [4, 3, 2, 1, 0]
    assert [m.output_shape for m in merges] == [(4, 4, 1024), (8, 8, 516), (16, 16, 260), (32, 32, 132),
                                                (64, 64, 68)]
    line = walk_error(registry, *entries, "Outer skip target:concatenate")
    assert line.startswith(f"layers.serial_layer_list[{len(entries)}]: no open outer skip source")


def test_hook_connections_make_the_taps_the_hooks(registry):
    g = walk(registry, "Input:(512, 512, 1)", "ResNet50:False:none:(512, 512, 1):False:True",
             "Convolution 2D:16", "Hook connection source")
    taps = [n.id for n in g.nodes if n.tap_index is not None]
    assert g.hooks == (*taps, by_position(g, 2).id)
    assert g.hook_shapes() == ((256, 256, 64), (128, 128, 256), (64, 64, 512), (32, 32, 1024), (16, 16, 2048),
                               (16, 16, 16))


def test_pretrained_parameter_counts_in_the_graph(registry):
    g = walk(registry, "Input:(224, 224, 3)", "VGG16:True:none:(224, 224, 3):False:False")
    assert g.output_shape == (1000,)
    assert g.totals() == (138_357_544, 0)
    unused = walk(registry, "Input:(64, 64, 3)", "ResNet50V2:False:none:(64, 64, 3):True:False")
    assert not any(n.name.startswith("resnet50v2_tap") for n in unused.nodes)  # no skip merges them: pruned
    assert unused.totals() == (23_519_360, 45_440)                             # Keras' ResNet50V2 counts
    assert unused.networks[0].nodes[-2:] == (None, None)
    g = walk(registry, "Input:(64, 64, 3)", "ResNet50V2:False:none:(64, 64, 3):False:True")
    assert g.totals() == (23_519_360 + 128, 45_440 + 128)
    tap_bn = next(n for n in g.nodes if n.name == "resnet50v2_tap1_bn")
    first_tap = next(n for n in g.nodes if n.tap_index == 0)
    assert (first_tap.name, first_tap.inputs) == ("resnet50v2_tap1_relu", (tap_bn.id,))
    # the new BatchNormalization on tap #1 (64 channels): gamma, beta / moving mean, variance
    assert (tap_bn.trainable_params, tap_bn.non_trainable_params) == (128, 128)
    assert g.nodes[tap_bn.inputs[0]].name == "conv1_conv"


def test_pretrained_must_be_at_position_one(registry):
    line = walk_error(registry, "Input:(64, 64, 3)", "Convolution 2D:3", "VGG16:False:none:(64, 64, 3):True:False")
    assert line.startswith("layers.serial_layer_list[2]: VGG16 must directly follow the Input layer (it replaces "
                           "the network input; layers before it would be discarded)")


def test_pretrained_input_shape_must_match_the_input(registry):
    line = walk_error(registry, "Input:(64, 64, 3)", "VGG16:False:none:(512, 512, 1):True:False")
    assert line.startswith("layers.serial_layer_list[1]: VGG16's input_shape (512, 512, 1) differs from the Input "
                           "layer's shape (64, 64, 3). Expected input_shape (64, 64, 3).")


def test_imagenet_weights_accept_any_channel_count(registry):
    # the first convolution's kernel is adapted when the weights are read (docs/COMPATIBILITY.md)
    g = walk(registry, "Input:(64, 64, 1)", "VGG16:False:imagenet:(64, 64, 1):True:False")
    assert g.nodes[g.networks[0].nodes[0]].name == "block1_conv1"


def test_pretrained_too_small_input(registry):
    line = walk_error(registry, "Input:(32, 32, 3)", "InceptionV3:False:none:(32, 32, 3):True:False")
    assert line.startswith("layers.serial_layer_list[1]: cannot build InceptionV3: InceptionV3: input too small")
    assert "the smallest input InceptionV3 accepts is 75×75" in line


# ------------------------------------------------------------------ list-level errors

def test_first_layer_must_be_input(registry):
    line = walk_error(registry, "Convolution 2D:4", "Dense:2")
    assert line == ("layers.serial_layer_list[0]: the first layer must be Input. Expected \"Input:(rows, cols, "
                    "channels)\". Received: 'Convolution 2D:4:(3, 3):(1, 1):same:(1, 1):he_normal:None:None:0.001:"
                    "0.001'.")


def test_input_only_first(registry):
    line = walk_error(registry, "Input:(8, 8, 1)", "Convolution 2D:4", "Input:(8, 8, 1)")
    assert line == ("layers.serial_layer_list[2]: Input may only be the first entry of a layer list. "
                    "Received: 'Input:(8, 8, 1)'.")


def test_empty_and_input_only_lists(registry):
    with pytest.raises(WalkError) as info:
        build_graph("generator_layer_list", (), registry)
    assert info.value.problem.line() == ("layers.generator_layer_list: the layer list is empty. "
                                         "Expected a list starting with an Input layer.")
    line = walk_error(registry, "Input:(8, 8, 1)")
    assert line == "layers.serial_layer_list: the layer list has only an Input layer. Expected at least one layer " \
                   "after Input."


def test_walk_errors_reach_plan_model_with_the_list_path(registry, minimal_typed_config):
    from dlae_core.errors import ConfigError
    raw = minimal_typed_config()
    raw["layers"]["serial_layer_list"] = ["Input:(8, 8, 3)", "Flatten", "Convolution 2D:4"]
    with pytest.raises(ConfigError) as info:
        plan_model(parse_config(raw, registry), registry)
    assert info.value.lines() == ["layers.serial_layer_list[2]: cannot apply Convolution 2D to the shape (192,): "
                                  "Convolution 2D needs a 3-D input (rows, cols, channels), got shape (192,). "
                                  "Received: 'Convolution 2D:4:(3, 3):(1, 1):same:(1, 1):he_normal:None:None:0.001:"
                                  "0.001'."]


# ------------------------------------------------------------------ pix2pix discriminator

def test_pix2pix_discriminator_has_two_inputs_target_then_source(registry):
    d = walk(registry, "Input:(8, 8, 1)", "Convolution 2D:4", "Leaky reLU:0.2", "Convolution 2D:1",
             list_name="discriminator_layer_list", condition_shape=(8, 8, 2))
    target, source = (d.nodes[i] for i in d.inputs)
    assert (target.output_shape, source.output_shape) == ((8, 8, 1), (8, 8, 2))
    assert target.position == 0 and source.position is None
    joined = next(n for n in d.nodes if n.op == "merge")
    assert (joined.mode, joined.inputs, joined.output_shape) == ("concatenate", (target.id, source.id), (8, 8, 3))
    first_conv = by_position(d, 1)
    assert first_conv.inputs == (joined.id,)
    assert first_conv.trainable_params == 3 * 3 * 3 * 4 + 4  # sees 1 + 2 channels
    assert d.output_shape == (8, 8, 1)


def test_pix2pix_discriminator_rejects_hooks_and_networks(registry):
    line = walk_error(registry, "Input:(8, 8, 1)", "Hook connection source", "Convolution 2D:1",
                      list_name="discriminator_layer_list", condition_shape=(8, 8, 1))
    assert line.startswith("layers.discriminator_layer_list[1]: Hook connection source cannot be used in a pix2pix "
                           "discriminator")
    line = walk_error(registry, "Input:(8, 8, 1)", "Convolution 2D:1",
                      list_name="discriminator_layer_list", condition_shape=(16, 16, 1))
    assert "the discriminator's target input cannot be joined with the generator's source input" in line


def test_pix2pix_plan_from_a_config(registry, minimal_typed_config):
    raw = minimal_typed_config(
        config_file={"model_signal": "GAN", "input_shape": [16, 16, 3]},
        loss_function={"loss": "pix2pix", "parameter1": 100.0},
        layers={"serial_layer_list": [],
                "generator_layer_list": ["Input:(16, 16, 3)", "Convolution 2D:1", "Activation:tanh"],
                "discriminator_layer_list": ["Input:(16, 16, 1)", "Convolution 2D:8:(4, 4):(2, 2)",
                                             "Convolution 2D:1:(4, 4):(2, 2)"]})
    plan = plan_model(parse_config(raw, registry), registry)
    d = plan.graphs["discriminator"]
    assert d.input_shapes == ((16, 16, 1), (16, 16, 3))
    assert d.output_shape == (4, 4, 1)
    # cycleGAN: the same lists are walked with one input each
    raw["loss_function"]["loss"] = "cyclegan"
    raw["layers"]["generator_layer_list"][0] = "Input:(16, 16, 1)"
    plan = plan_model(parse_config(raw, registry), registry)
    assert plan.graphs["discriminator"].input_shapes == ((16, 16, 1),)
    assert plan.graphs["discriminator"].nodes[1].trainable_params == 4 * 4 * 1 * 8 + 8


def test_shipped_pix2pix_example(registry, original_dir):
    config = load_config(original_dir / "configs" / "example_gan.json", registry)
    plan = plan_model(config, registry)
    g, d = plan.graphs["generator"], plan.graphs["discriminator"]
    assert g.output_shape == (512, 512, 1)
    target, source = (d.nodes[i].output_shape for i in d.inputs)
    assert target == g.output_shape
    assert source == g.input_shapes[0]
    joined = next(n for n in d.nodes if n.op == "merge" and n.position is None)
    assert joined.inputs == d.inputs
    assert joined.output_shape == target[:2] + (target[2] + source[2],)
    assert d.output_shape == (32, 32, 1)
    raw = json.loads((original_dir / "configs" / "example_gan.json").read_text())
    assert raw["loss_function"]["loss"] == "pix2pix"
