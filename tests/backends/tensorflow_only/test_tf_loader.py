"""TensorFlow's tf.data loader yields, per epoch, exactly the batches of the core's training samples."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from support import fcn_layers, make_config, make_data  # noqa: E402


def test_batches_are_the_core_samples_in_order(tmp_path):
    from dlae_core.config.parser import parse_config
    from dlae_core.data.datasets import TrainingSamples
    from dlae_core.data.preprocess import Preprocessor
    from dlae_core.data.splits import make_splits
    from dlae_core.planning.plan import plan_model
    from dlae_core.plugin.registry import get_registry
    from dlae_tensorflow.loader import EpochIndexed, make_batches

    data = make_data(tmp_path / "data", "segmentation", n=17, size=8)  # 17 = 2 * 8 + 1: the last sample drops
    registry = get_registry()
    config = parse_config(make_config("FCN", (8, 8, 1), fcn_layers(8), data, augmentation={
        "apply_augmentation_switch": True, "rotation_range": 30, "random_seed": 2}), registry)
    plan = plan_model(config, registry)
    pre = Preprocessor(config, plan, registry)
    split = make_splits(config, "Train")["train"]
    reference = TrainingSamples(pre, split, config.augmentation, 2)
    batches = make_batches(EpochIndexed(TrainingSamples(pre, split, config.augmentation, 2)), 8, workers=3,
                           epochs=True)
    assert len(batches) == 2
    for epoch in (0, 3):
        batches.set_epoch(epoch)
        reference.set_epoch(epoch)
        got = list(batches)
        assert [b["x"].shape[0] for b in got] == [8, 8]
        for i in range(16):
            want = reference[i]
            np.testing.assert_array_equal(got[i // 8]["x"][i % 8].numpy(), want["x"])
            np.testing.assert_array_equal(got[i // 8]["y"][i % 8].numpy(), want["y"])
