"""Training sessions that must stop with user errors on every backend: bad data, and the CPU fallbacks of
multi-GPU and bf16. Exit code 2, one ``error:`` line per problem naming the file (and dataset), no
traceback, and nothing written."""

from __future__ import annotations

import numpy as np
import pytest

from support import (cnn_layers, error_lines, fcn_layers, make_config, make_data, read_csv, read_h5, save_to,
                     stored_dtypes, train, write_h5)


@pytest.fixture
def data(tmp_path) -> dict:
    return make_data(tmp_path / "data", "classification", n=8, size=8)  # every sample's values are checked


def _replace(data: dict, key: str, path, change) -> dict:
    """A copy of ``data`` whose file ``key`` is rewritten to ``path`` after ``change(samples)``."""
    samples = read_h5(data[key])
    change(samples)
    return {**data, key: write_h5(path, samples)}


def _with_nan(samples):
    x = samples["5"].astype(np.float32)
    x[2, 3, 0] = np.nan
    samples["5"] = x


def _rename(samples):
    samples["50"] = samples.pop("5")


def _bad_names(samples):
    samples["extra"] = samples["0"]


def _small(samples):
    samples["4"] = samples["4"][:6, :6]


def _big_label(samples):
    samples["2"] = np.array([5], dtype=np.int64)


# case -> (file key, change, loss, pieces every reported line about the file must contain)
BAD_DATA = {
    "nan-in-X": ("train_X", _with_nan, "sparse_categorical_crossentropy", ["'5'", "NaN"]),
    "name-mismatch": ("train_y", _rename, "sparse_categorical_crossentropy", ["'5'"]),
    "non-integer-name": ("train_X", _bad_names, "sparse_categorical_crossentropy", ["'extra'"]),
    "wrong-spatial-size": ("train_X", _small, "sparse_categorical_crossentropy", ["'4'", "(6, 6, 1)"]),
    "label-too-big-sparse": ("train_y", _big_label, "sparse_categorical_crossentropy", ["'2'", "5"]),
    "label-too-big-onehot": ("train_y", _big_label, "categorical_crossentropy", ["'2'", "5"]),
}


def assert_refused(result, out, *pieces) -> list[str]:
    lines = error_lines(result)
    assert lines, "no error printed"
    assert all(line.startswith("error: ") for line in lines), lines
    assert "Traceback" not in result.output
    assert not out.exists(), "outputs were written"
    matching = [line for line in lines if all(p in line for p in pieces)]
    assert matching, (pieces, lines)
    return lines


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_training_data_stops_before_training(tmp_path, backend, data, case):
    key, change, loss, pieces = BAD_DATA[case]
    bad_file = tmp_path / f"bad_{key}.h5"
    bad = _replace(data, key, bad_file, change)
    out = tmp_path / "out"
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), bad, save_configurations=save_to(out, tensorboard=True),
                         preprocessing={"categorical_switch": loss == "categorical_crossentropy"},
                         loss_function={"loss": loss})
    lines = assert_refused(train(backend, config, tmp_path / "config.json", expect=2), out, str(bad_file), *pieces)
    assert len(lines) == 1, lines  # one problem, one line


def test_missing_train_x_file(tmp_path, backend, data):
    missing = tmp_path / "nowhere" / "train_X.h5"
    out = tmp_path / "out"
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), {**data, "train_X": str(missing)},
                         save_configurations=save_to(out))
    lines = assert_refused(train(backend, config, tmp_path / "config.json", expect=2), out, "paths.train_X",
                           str(missing))
    assert len(lines) == 1, lines


def test_every_problem_gets_its_own_line(tmp_path, backend, data):
    bad = _replace(data, "train_X", tmp_path / "x.h5", _small)
    bad = _replace(bad, "train_y", tmp_path / "y.h5", _big_label)
    bad = _replace(bad, "validation_X", tmp_path / "vx.h5", lambda s: s.update({"1": s["1"][..., 0][:4]}))
    out = tmp_path / "out"
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), bad, save_configurations=save_to(out))
    lines = assert_refused(train(backend, config, tmp_path / "config.json", expect=2), out, "x.h5")
    assert len(lines) == 3, lines
    assert any(str(tmp_path / "y.h5") in line and "'2'" in line for line in lines)
    assert any(str(tmp_path / "vx.h5") in line and "'1'" in line for line in lines)


def test_fcn_label_map_outside_categories(tmp_path, backend):
    data = make_data(tmp_path / "data", "segmentation", n=8, size=8)
    bad_file = tmp_path / "bad_y.h5"

    def paint(samples):
        samples["3"] = samples["3"].copy()
        samples["3"][0, 0] = 3

    bad = _replace(data, "train_y", bad_file, paint)
    out = tmp_path / "out"
    config = make_config("FCN", (8, 8, 1), fcn_layers(8), bad, save_configurations=save_to(out),
                         preprocessing={"categorical_switch": True, "categories": 3},
                         loss_function={"loss": "categorical_crossentropy"})
    lines = assert_refused(train(backend, config, tmp_path / "config.json", expect=2), out, str(bad_file), "'3'")
    assert len(lines) == 1, lines


# The label checks of the samples the checks before training did not read run in the data pipeline:
# torch's in the test process (workers=0; tests/backends/torch_only checks what its loader processes
# send back), tensorflow's in its tf.data threads (workers=2).
UNCHECKED_WORKERS = {"torch": 0, "tensorflow": 2}


def test_label_outside_the_outputs_in_an_unchecked_sample_is_a_user_error(tmp_path, backend):
    # 24 samples: the checks before training read 8 of them; sample "1" is not among those
    data = make_data(tmp_path / "data", "classification", n=24, size=8)
    bad = _replace(data, "train_y", tmp_path / "bad_y.h5", lambda s: s.update({"1": np.array([7])}))
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), bad, save_configurations=save_to(tmp_path / "out"),
                         training_configurations={"shuffle_data_switch": False})
    lines = error_lines(train(backend, config, tmp_path / "config.json", expect=2,
                              workers=UNCHECKED_WORKERS[backend]))
    assert len(lines) == 1 and lines[0].startswith("error: ") and "7" in lines[0], lines


def test_onehot_label_outside_categories_in_an_unchecked_sample(tmp_path, backend):
    data = make_data(tmp_path / "data", "classification", n=24, size=8)
    bad = _replace(data, "train_y", tmp_path / "bad_y.h5", lambda s: s.update({"1": np.array([7])}))
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), bad, save_configurations=save_to(tmp_path / "out"),
                         preprocessing={"categorical_switch": True}, loss_function={"loss": "categorical_crossentropy"})
    lines = error_lines(train(backend, config, tmp_path / "config.json", expect=2,
                              workers=UNCHECKED_WORKERS[backend]))
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'1'" in lines[0] and "7" in lines[0], lines


def test_multi_gpu_without_gpus_trains_in_one_process_on_the_cpu_with_a_note(tmp_path, backend, data):
    """The data-parallel runs themselves: torch_only/test_torch_distributed.py, tensorflow_only/test_tf_distributed.py."""
    from support import engine_of

    if engine_of(backend).gpu_count():
        pytest.skip("this machine has GPUs")
    out = tmp_path / "out"
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(out),
                         training_configurations={"hardware": "multi-gpu", "number_of_gpus": 2, "epochs": 1})
    result = train(backend, config, tmp_path / "config.json")
    notes = [line for line in error_lines(result) if line.startswith("note:")]
    assert notes == ["note: no CUDA GPU found; training on the CPU"], result.stderr
    assert "data-parallel" not in result.output
    _, rows = read_csv(out / "history.csv")
    assert len(rows) == 1


def test_bf16_on_cpu_trains_in_fp32_with_a_note(tmp_path, backend, data):
    out = tmp_path / "out"
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(out),
                         training_configurations={"precision": "bf16", "epochs": 1})
    result = train(backend, config, tmp_path / "config.json")
    notes = [line for line in error_lines(result) if line.startswith("note:")]
    assert notes == ["note: precision bf16 needs a GPU, using fp32"], result.stderr
    assert stored_dtypes(backend, out / "model.pt") == {"float32"}
    _, rows = read_csv(out / "history.csv")
    assert len(rows) == 1
