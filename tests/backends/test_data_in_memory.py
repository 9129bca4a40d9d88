"""Training on data kept in memory (dlae_core.data.memory) gives the run that reads the files every
epoch (``--no-cache``), on every backend and technique, and the run says what it keeps in memory."""

from __future__ import annotations

import numpy as np
import pytest

from support import (BBD_SIZE, assert_same_weights, bbd_config, cnn_layers, fcn_layers, gan_config, make_config,
                     make_data, read_csv, save_to, saved_weights, train)


def _twice(backend, tmp_path, make, *, epochs_key="epochs"):
    """(output, history rows, weights) of the config ``make(out)`` run with and without the cache."""
    runs = []
    for name, extra in (("cached", ()), ("streamed", ("--no-cache",))):
        out = tmp_path / name
        result = train(backend, make(out), tmp_path / f"{name}.json", *extra)
        runs.append((result.output, read_csv(out / "history.csv")[1], out))
    return runs


def _assert_same_runs(backend, cached, streamed, *, weights=True):
    assert len(cached[1]) == len(streamed[1]) > 0
    for left, right in zip(cached[1], streamed[1]):
        assert left.keys() == right.keys()
        for key in left:
            assert left[key] == pytest.approx(right[key], rel=1e-5, abs=1e-6), key
    if weights:
        assert_same_weights(saved_weights(backend, cached[2] / "model.pt"),
                            saved_weights(backend, streamed[2] / "model.pt"))


def test_cnn_batches_from_memory_equal_streamed_batches(tmp_path, backend):
    data = make_data(tmp_path / "data", "classification", n=21, size=16)  # 21 % 4 == 1: the final-batch rule
    runs = _twice(backend, tmp_path, lambda out: make_config(
        "CNN", (16, 16, 1), cnn_layers(), data, save_configurations=save_to(out),
        training_configurations={"epochs": 3, "batch_size": 4, "shuffle_data_switch": True}))
    cached, streamed = runs
    assert "data in memory: training 21 samples" in cached[0] and "validation 5 samples" in cached[0]
    assert "read from disk every epoch (cache_data is off)" in streamed[0]
    _assert_same_runs(backend, cached, streamed)


def test_augmented_fcn_keeps_decoded_samples_and_augments_each_epoch(tmp_path, backend):
    data = make_data(tmp_path / "data", "segmentation", n=12, size=16)
    augmentation = {"apply_augmentation_switch": True, "random_seed": 4, "rotation_range": 20,
                    "horizontal_flip_switch": True}
    runs = _twice(backend, tmp_path, lambda out: make_config(
        "FCN", (16, 16, 1), fcn_layers(), data, save_configurations=save_to(out), augmentation=augmentation,
        training_configurations={"epochs": 2, "batch_size": 4}))
    cached, streamed = runs
    assert "training 12 samples" in cached[0] and "(augmented every epoch)" in cached[0]
    _assert_same_runs(backend, cached, streamed)


def test_bbd_and_gan_sessions_use_the_cache(tmp_path, backend):
    boxes = make_data(tmp_path / "boxes", "detection", n=10, size=BBD_SIZE)
    bbd = _twice(backend, tmp_path / "bbd", lambda out: bbd_config(boxes, out, epochs=2))
    assert "data in memory: training 10 samples" in bbd[0][0]
    _assert_same_runs(backend, *bbd, weights=False)

    pairs = make_data(tmp_path / "pairs", "translation", n=8, size=16)

    def pix2pix(out):
        config = gan_config(pairs, "pix2pix", epochs=2, validation=False)  # no previews to write
        config["save_configurations"] = {"save_model_switch": False, "save_csv_switch": True,
                                         "save_csv_path": str(out / "history.csv")}
        return config

    gan = _twice(backend, tmp_path / "gan", pix2pix)
    assert "data in memory: training 8 samples" in gan[0][0]
    assert "cache_data is off" in gan[1][0]
    _assert_same_runs(backend, *gan, weights=False)
    assert np.isfinite([row["d_loss"] for row in gan[0][1]]).all()
