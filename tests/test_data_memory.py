"""Data kept in memory (dlae_core.data.memory): the same items and batches as streaming from disk,
each sample read once, the budget respected, and the switch that turns it off."""

from __future__ import annotations

import numpy as np
import pytest

from dlae_core.data import hdf5
from dlae_core.data.datasets import EvaluationSamples, TrainingSamples
from dlae_core.data.memory import (InMemorySamples, batch_slices, fill_read_cache, fixed_items, keep_in_memory,
                                   memory_budget)
from test_datasets import AUGMENT, data, training_setup  # noqa: F401  (the data fixture)


def _items(samples, epoch: int) -> list[dict]:
    samples.set_epoch(epoch)
    return [samples[i] for i in range(len(samples))]


def _assert_same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for left, right in zip(a, b):
        assert left.keys() == right.keys()
        for key in left:
            np.testing.assert_array_equal(left[key], right[key])


def test_batch_slices_follow_the_final_batch_rule():
    assert batch_slices(10, 3, training=True) == [slice(0, 3), slice(3, 6), slice(6, 9)]  # 10 % 3 == 1: dropped
    assert batch_slices(10, 3, training=False)[-1] == slice(9, 10)  # validation reads every sample
    assert batch_slices(11, 3, training=True)[-1] == slice(9, 11)
    assert batch_slices(1, 4, training=True) == [slice(0, 1)]


def test_in_memory_items_equal_streamed_items_in_every_epoch(data):
    config, pre, split = training_setup(data, augmentation={"apply_augmentation_switch": False, "random_seed": 5,
                                                            "rounds": 2})
    streamed = TrainingSamples(pre, split, config.augmentation, 5, rounds=2, augment=False)
    kept = InMemorySamples.fill(TrainingSamples(pre, split, config.augmentation, 5, rounds=2, augment=False),
                                budget=2 ** 30)
    assert kept is not None and kept.count == 6 and len(kept) == 12  # 6 samples stored once, 2 rounds
    for epoch in (0, 1, 3):
        _assert_same(_items(kept, epoch), _items(streamed, epoch))
        batch = kept.batch(slice(2, 7))
        expected = [streamed[i] for i in range(2, 7)]
        np.testing.assert_array_equal(batch["x"], np.stack([e["x"] for e in expected]))
        np.testing.assert_array_equal(batch["y"], np.stack([e["y"] for e in expected]))
    orders = [kept.epoch_order(e).tolist() for e in range(3)]
    assert orders[0] != orders[1]  # still shuffled per epoch


def test_each_sample_is_read_from_disk_once(data, monkeypatch):
    config, pre, split = training_setup(data, augmentation={"apply_augmentation_switch": False})
    reads = []
    original = hdf5.SampleFile.read
    monkeypatch.setattr(hdf5.SampleFile, "read", lambda self, name: reads.append(name) or original(self, name))
    kept = InMemorySamples.fill(TrainingSamples(pre, split, config.augmentation, 1, augment=False), budget=2 ** 30)
    assert len(reads) == 2 * len(split.names)  # X and y of each sample
    for epoch in range(3):
        _items(kept, epoch)
    assert len(reads) == 2 * len(split.names)


def test_augmented_training_reads_once_and_still_augments_freshly(data, monkeypatch):
    config, pre, split = training_setup(data)
    streamed = _items(TrainingSamples(pre, split, config.augmentation, 11), 2)
    assert not fixed_items(TrainingSamples(pre, split, config.augmentation, 11))
    train, _, note = keep_in_memory(TrainingSamples(pre, split, config.augmentation, 11), budget=2 ** 30)
    assert isinstance(train, TrainingSamples) and pre.read_cache is not None
    assert "augmented every epoch" in note
    reads = []
    monkeypatch.setattr(hdf5.SampleFile, "read", lambda self, name: reads.append(name))
    _assert_same(_items(train, 2), streamed)  # the decoded samples come from memory, augmentation as before
    assert reads == []
    assert not np.array_equal(_items(train, 3)[0]["x"], _items(train, 2)[0]["x"])
    kept = next(iter(pre.read_cache.values.values()))
    with pytest.raises(ValueError, match="read-only"):
        kept[...] = 0  # every epoch shares it: an in-place change must fail loudly


def test_over_budget_data_stream_and_say_so(data):
    config, pre, split = training_setup(data, augmentation={"apply_augmentation_switch": False})
    plain = TrainingSamples(pre, split, config.augmentation, 1, augment=False)
    validation = EvaluationSamples(pre, split)
    train, val, note = keep_in_memory(plain, validation, budget=1000)  # one 16x16 sample pair is > 1000 bytes
    assert train is plain and val is validation
    assert "training and validation streamed from disk" in note and "1000 B" in note
    assert fill_read_cache(pre, split, budget=1000) is None
    train, val, note = keep_in_memory(plain, validation, enabled=False)
    assert train is plain and val is validation and "cache_data is off" in note
    train, val, note = keep_in_memory(plain, validation, budget=2 ** 30)
    assert isinstance(train, InMemorySamples) and isinstance(val, InMemorySamples)
    assert note == f"data in memory: training 6 samples {train.nbytes / 1024:.1f} KiB, validation 6 samples " \
                   f"{val.nbytes / 1024:.1f} KiB"


def test_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv("DLAE_CACHE_GIB", "0.5")
    assert memory_budget() == 2 ** 29
    monkeypatch.delenv("DLAE_CACHE_GIB")
    assert 0 < memory_budget()
