"""Reading DLAE data files: sample order, failure messages, lazy picklable access."""

from __future__ import annotations

import multiprocessing
import pickle

import h5py
import numpy as np
import pytest

from dlae_core.data.hdf5 import SampleFile, add_channel_axis, sample_names, with_channel_axis
from dlae_core.errors import DataError


def write(path, samples: dict) -> str:
    with h5py.File(path, "w") as handle:
        for name, value in samples.items():
            handle.create_dataset(name, data=value)
    return str(path)


def only_problem(excinfo):
    problems = excinfo.value.problems
    assert len(problems) == 1
    return problems[0]


def test_names_are_sorted_by_integer_value(tmp_path):
    path = write(tmp_path / "x.h5", {n: np.zeros(2) for n in ["10", "2", "0", "1", "9"]})
    assert sample_names(path) == ["0", "1", "2", "9", "10"]


def test_missing_file_is_a_located_problem(tmp_path):
    path = str(tmp_path / "nope.h5")
    with pytest.raises(DataError) as excinfo:
        sample_names(path)
    found = only_problem(excinfo)
    assert found.where == path
    assert "does not exist" in found.what
    assert found.received == path


def test_a_text_file_is_not_hdf5(tmp_path):
    path = tmp_path / "x.h5"
    path.write_text("not hdf5 at all")
    with pytest.raises(DataError) as excinfo:
        sample_names(path)
    found = only_problem(excinfo)
    assert found.where == str(path)
    assert "not an HDF5 file" in found.what


def test_a_folder_is_not_a_data_file(tmp_path):
    with pytest.raises(DataError, match="folder"):
        sample_names(tmp_path)


def test_non_integer_names_are_named(tmp_path):
    path = write(tmp_path / "x.h5", {"0": np.zeros(2), "image_a": np.zeros(2), "1.5": np.zeros(2)})
    with pytest.raises(DataError) as excinfo:
        sample_names(path)
    found = only_problem(excinfo)
    assert "is not a decimal integer" in found.what
    assert "'1.5'" in found.what and "'image_a'" in found.what
    assert "2 such name(s)" in found.what
    assert '"0", "1"' in found.expected


def test_empty_file(tmp_path):
    path = write(tmp_path / "x.h5", {})
    with pytest.raises(DataError) as excinfo:
        sample_names(path)
    assert "holds no samples" in only_problem(excinfo).what


def test_a_group_is_not_a_sample(tmp_path):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("0", data=np.zeros(2))
        handle.create_group("1")
    with pytest.raises(DataError) as excinfo:
        sample_names(path)
    found = only_problem(excinfo)
    assert "'1' is not a dataset" in found.what


def test_read_shape_dtype(tmp_path):
    path = write(tmp_path / "x.h5", {"0": np.arange(6, dtype=np.int16).reshape(2, 3), "1": np.float32(2.5)})
    with SampleFile(path) as data:
        assert data.names() == ["0", "1"] and len(data) == 2
        np.testing.assert_array_equal(data.read("0"), np.arange(6).reshape(2, 3))
        assert data.read("0").dtype == np.int16
        assert data.read("1").shape == () and float(data.read("1")) == 2.5
        assert data.shape("0") == (2, 3) and data.dtype("0") == np.int16


def test_shape_and_dtype_read_no_values(tmp_path, monkeypatch):
    path = write(tmp_path / "x.h5", {"0": np.zeros((4, 5, 1), dtype=np.uint8)})

    def no_values(self, key):
        raise AssertionError("values were read")

    monkeypatch.setattr(h5py.Dataset, "__getitem__", no_values)
    with SampleFile(path) as data:
        assert data.shape("0") == (4, 5, 1)
        assert data.dtype("0") == np.uint8


def test_unknown_sample_name(tmp_path):
    path = write(tmp_path / "x.h5", {"0": np.zeros(2)})
    with SampleFile(path) as data, pytest.raises(DataError) as excinfo:
        data.read("7")
    found = only_problem(excinfo)
    assert found.where == path and "no sample '7'" in found.what


def test_opens_lazily_and_closes(tmp_path):
    path = write(tmp_path / "x.h5", {"0": np.zeros(2)})
    missing = SampleFile(tmp_path / "later.h5")  # nothing happens until it is used
    with pytest.raises(DataError, match="does not exist"):
        missing.read("0")
    with SampleFile(path) as data:
        data.read("0")
    # a file still open read-only in this process could not be opened for writing
    with h5py.File(path, "a") as handle:
        handle.create_dataset("1", data=np.ones(2))
    data = SampleFile(path)
    assert data.names() == ["0", "1"]  # re-opened on use
    data.close()


def test_pickled_copy_reopens(tmp_path):
    path = write(tmp_path / "x.h5", {"0": np.arange(3), "1": np.arange(3) + 10})
    data = SampleFile(path)
    data.read("0")  # open in this process
    state = pickle.dumps(data)
    assert len(state) < 1000  # the path, not the file
    copy = pickle.loads(state)
    np.testing.assert_array_equal(copy.read("1"), [10, 11, 12])
    copy.close()
    data.close()


def _read_sum(args):
    data, name = args
    return int(data.read(name).sum())


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_workers_read_through_their_own_handle(tmp_path):
    path = write(tmp_path / "x.h5", {str(i): np.full(4, i) for i in range(6)})
    data = SampleFile(path)
    data.read("0")  # the parent's handle must not be shared with the forked workers
    with multiprocessing.get_context("fork").Pool(2) as pool:
        sums = pool.map(_read_sum, [(data, str(i)) for i in range(6)])
    assert sums == [4 * i for i in range(6)]
    np.testing.assert_array_equal(data.read("5"), np.full(4, 5))
    data.close()


@pytest.mark.parametrize("shape, rank, expected", [
    ((4, 5), 2, (4, 5, 1)),
    ((4, 5, 3), 2, (4, 5, 3)),
    ((4, 5, 6), 3, (4, 5, 6, 1)),
    ((4, 5, 6, 2), 3, (4, 5, 6, 2)),
    ((7,), 2, (7,)),
])
def test_add_channel_axis(shape, rank, expected):
    array = np.arange(int(np.prod(shape))).reshape(shape)
    result = add_channel_axis(array, rank)
    assert result.shape == expected
    np.testing.assert_array_equal(result.reshape(-1), array.reshape(-1))
    assert with_channel_axis(shape, rank) == expected
