"""TensorBoard logs through tensorboardX, read back with the tensorboard package's EventAccumulator."""

from __future__ import annotations

import numpy as np
import pytest

from dlae_core.errors import MissingExtraError
from dlae_core.training.tensorboard import TensorBoardLog
from tensorboard_support import accumulator, board_scalars

pytest.importorskip("tensorboardX")
pytest.importorskip("tensorboard")


def test_scalars_histograms_and_images_read_back(tmp_path):
    with TensorBoardLog(tmp_path / "tb") as board:
        board.add_scalars(0, {"loss": 1.5, "lr": 0.01})
        board.add_scalars(1, {"loss": 0.75, "lr": 0.005})
        board.add_histograms(1, {"weights/w": np.arange(10.0), "gradients/w": np.array([np.nan, 1.0, 2.0])})
        board.add_image("report/picture", np.full((6, 4, 3), 200, np.uint8), 1)
    assert board_scalars(tmp_path / "tb") == [(0, {"loss": 1.5, "lr": pytest.approx(0.01)}),
                                              (1, {"loss": 0.75, "lr": pytest.approx(0.005)})]
    events = accumulator(tmp_path / "tb")
    weights = events.Histograms("weights/w")[0].histogram_value
    assert (weights.num, weights.min, weights.max) == (10, 0.0, 9.0)
    assert events.Histograms("gradients/w")[0].histogram_value.num == 2  # NaN left out
    image = events.Images("report/picture")[0]
    assert (image.step, image.width, image.height) == (1, 4, 6)


def test_a_fresh_log_replaces_the_old_event_files(tmp_path):
    with TensorBoardLog(tmp_path) as board:
        board.add_scalars(0, {"loss": 1.0})
    (tmp_path / "notes.txt").write_text("mine")
    with TensorBoardLog(tmp_path, fresh=True) as board:
        board.add_scalars(5, {"loss": 2.0})
    assert board_scalars(tmp_path) == [(5, {"loss": 2.0})]
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only its own files go


def test_without_the_extra_one_line_names_the_install(tmp_path, monkeypatch):
    import dlae_core.extras as extras

    monkeypatch.setattr(extras, "_installed", lambda module: module != "tensorboardX")
    with pytest.raises(MissingExtraError, match=r'tensorboardX.*pip install "dlae\[report\]"'):
        TensorBoardLog(tmp_path)


def test_the_model_graph_is_read_back_and_a_failing_tracer_is_one_note(tmp_path):
    import types

    from tensorboardX.proto.graph_pb2 import GraphDef
    from tensorboardX.proto.node_def_pb2 import NodeDef

    from dlae_core.training.tensorboard import write_model_graph

    graph = GraphDef(node=[NodeDef(name="input_0", op="IO Node"),
                           NodeDef(name="dense_1/linear_1", op="aten::linear", input=["input_0"])])
    seen = []

    def model_graph(model, shapes, placement):
        seen.append((model, shapes, placement))
        return graph.SerializeToString()

    engine = types.SimpleNamespace(model="m", placement="p", graph=types.SimpleNamespace(input_shapes=[[4, 4, 1]]),
                                   backend=types.SimpleNamespace(model_graph=model_graph))
    with TensorBoardLog(tmp_path / "tb") as board:
        assert write_model_graph(board, engine) is None
    assert seen == [("m", [(4, 4, 1)], "p")]
    read = accumulator(tmp_path / "tb").Graph()
    assert [(n.name, n.op, list(n.input)) for n in read.node] == [("input_0", "IO Node", []),
                                                                  ("dense_1/linear_1", "aten::linear", ["input_0"])]

    def untraceable(model, shapes, placement):
        raise RuntimeError("cannot trace a data-dependent branch\ndetails")

    engine.backend = types.SimpleNamespace(model_graph=untraceable)
    with TensorBoardLog(tmp_path / "tb2") as board:
        note = write_model_graph(board, engine)
    assert note == "TensorBoard model graph left out (RuntimeError: cannot trace a data-dependent branch)"
