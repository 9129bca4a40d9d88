"""A resumed TensorFlow run continues exactly: the checkpoint carries the Keras seed generators' states
(dropout and noise masks) besides the weights, the optimizer and the loop state (CPU)."""

import warnings

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from support import (assert_same_weights, cnn_layers, make_config, make_data, model_state, read_csv,  # noqa: E402
                     saved_weights, save_to, train)

NOISY = [{"type": "Dropout", "rate": 0.3}, {"type": "Gaussian noise", "stddev": 0.1}]


def _model():
    from dlae_tensorflow import require_tensorflow_keras

    keras = require_tensorflow_keras()
    return keras.Sequential([keras.Input((32,)), keras.layers.Dropout(0.5), keras.layers.GaussianNoise(0.3),
                             keras.layers.Dense(4), keras.layers.Dropout(0.5)])


def test_restoring_a_snapshot_repeats_the_random_draws():
    from dlae_tensorflow import random_state

    model, x = _model(), np.ones((8, 32), np.float32)
    saved = random_state.snapshot(model)
    assert len(saved) >= 3  # the three layers' generators (and Keras' global one when it exists)
    first = model(x, training=True).numpy()
    second = model(x, training=True).numpy()
    assert not np.array_equal(first, second)  # each draw advances the generators
    random_state.restore(model, saved, "ckpt")
    np.testing.assert_array_equal(model(x, training=True).numpy(), first)


def test_a_snapshot_of_another_network_is_ignored_with_a_warning():
    from dlae_tensorflow import random_state

    model = _model()
    before = [v.numpy().copy() for v in random_state.seed_variables(model)]
    with pytest.warns(UserWarning, match="random state in 'ckpt' does not fit"):
        random_state.restore(model, [("seed_generator/state", np.array([1, 2], np.int64))], "ckpt")
    for variable, value in zip(random_state.seed_variables(model), before):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_a_resumed_run_with_dropout_and_augmentation_equals_the_uninterrupted_one(tmp_path):
    data = make_data(tmp_path / "data", "classification", n=32, size=16)

    def config(name: str, epochs: int) -> dict:
        return make_config("CNN", (16, 16, 1), cnn_layers(16, extra=NOISY), data,
                           save_configurations={**save_to(tmp_path / name, checkpoint=True),
                                                "save_checkpoints_frequency": 1},
                           augmentation={"apply_augmentation_switch": True, "horizontal_flip_switch": True,
                                         "rotation_range": 10.0, "random_seed": 3},
                           training_configurations={"epochs": epochs})

    train("tensorflow", config("whole", 4), tmp_path / "whole.json", workers=2)
    train("tensorflow", config("split", 2), tmp_path / "split.json", workers=2)
    (tmp_path / "split" / "model.pt").unlink()  # a run killed after its checkpoint writes no final model
    checkpoint = model_state("tensorflow", tmp_path / "split" / "best.pt")
    assert checkpoint["epoch"] == 1 and len(checkpoint["random"]) >= 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the random state must fit: no "starts afresh" warning
        train("tensorflow", config("split", 4), tmp_path / "split.json", "--resume", workers=2)

    assert_same_weights(saved_weights("tensorflow", tmp_path / "whole" / "model.pt"),
                        saved_weights("tensorflow", tmp_path / "split" / "model.pt"))
    whole, split = read_csv(tmp_path / "whole" / "history.csv"), read_csv(tmp_path / "split" / "history.csv")
    assert [row["epoch"] for row in split[1]] == [0, 1, 2, 3]
    assert split == whole  # every logged value of the resumed epochs, exactly
