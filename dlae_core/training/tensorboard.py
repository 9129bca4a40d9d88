"""TensorBoard logs through tensorboardX (extra ``report``): the same event files for every backend,
with no framework imported.

At the start of a fresh log the model graph where the backend gives one (Backend.model_graph: torch
traced by torch.jit, TensorFlow by tf.function; supervised techniques: CNN, FCN, BBD, plugins).
Per epoch the loop logs its scalars (losses, monitors, ``lr``); every ``save_tensorboard_frequency``
epochs the weights and gradients as histograms (Backend.parameter_histograms); at checkpoint times
and at the end the report's pictures as images (dlae_core.report). Read the files back with the
tensorboard package (``EventAccumulator``) or TensorBoard itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlae_core.extras import require


class TensorBoardLog:
    """Event files in ``logdir``. ``fresh`` removes the event files already there (a replaced run,
    not a continued one: TensorBoard would otherwise merge the old and the new curves). Close it
    (or use it as a context manager) so the writer's thread ends and everything is on disk."""

    def __init__(self, logdir: str | Path, *, fresh: bool = False):
        require("report", "TensorBoard logs (save_configurations.save_tensorboard_switch)")
        from tensorboardX import SummaryWriter

        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        if fresh:
            for old in self.logdir.glob("events.out.tfevents.*"):
                if old.is_file():
                    old.unlink()
        # flush_secs: the writer's own thread flushes; the loop also flushes once per epoch
        self._writer = SummaryWriter(logdir=str(self.logdir), flush_secs=30)

    def add_scalars(self, step: int, scalars: dict[str, float]) -> None:
        """One point per tag at ``step`` (the epoch); flushed so TensorBoard shows it at once."""
        for tag, value in scalars.items():
            self._writer.add_scalar(tag, float(value), step)
        self._writer.flush()

    def add_histograms(self, step: int, arrays: dict[str, np.ndarray]) -> None:
        """A histogram per tag (e.g. ``weights/conv1.weight``); non-finite values are left out (a
        histogram of them means nothing, and tensorboardX refuses them)."""
        for tag, values in arrays.items():
            values = np.asarray(values, np.float64).ravel()
            values = values[np.isfinite(values)]
            if values.size:
                self._writer.add_histogram(tag, values, step)
        self._writer.flush()

    def add_image(self, tag: str, image: np.ndarray, step: int) -> None:
        """A uint8 (height, width) grey or (height, width, 3|4) colour picture."""
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        self._writer.add_image(tag, image[:, :, :3], step, dataformats="HWC")
        self._writer.flush()

    def add_graph_def(self, graph_def: bytes) -> None:
        """The model graph (a serialized GraphDef, Backend.model_graph) for the Graphs tab."""
        from tensorboardX.proto.event_pb2 import Event

        self._writer._get_file_writer().add_event(Event(graph_def=graph_def))
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> TensorBoardLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_model_graph(board: TensorBoardLog, engine) -> str | None:
    """Write the graph of ``engine.model`` (a supervised step engine: its ``backend``, ``graph`` and
    ``placement``) into ``board`` when the backend can give one; a note line when tracing failed
    (the graph is a picture of the model: a model the tracer cannot follow still trains)."""
    backend, graph = getattr(engine, "backend", None), getattr(engine, "graph", None)
    if backend is None or graph is None:
        return None
    try:
        graph_def = backend.model_graph(engine.model, [tuple(s) for s in graph.input_shapes], engine.placement)
    except Exception as exc:  # noqa: BLE001 -- any tracer failure: the log goes on without the graph
        return f"TensorBoard model graph left out ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
    if graph_def:
        board.add_graph_def(graph_def)
    return None


# the name the loops used for the scalar writer this replaces
ScalarWriter = TensorBoardLog
