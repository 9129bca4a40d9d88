"""Exporting a torch model (:meth:`TorchBackend.export_model`): ONNX through ``torch.onnx.export``
(the torch.export-based exporter, with a dynamic batch axis, or for batches of 1 where the model's
batch size cannot vary) and TorchScript through ``torch.jit.trace``. The model keeps
dlae's boundary: channels-last float32 input, channels-last output."""

from __future__ import annotations

import contextlib
import inspect
import logging
import warnings

import torch


OPSET = 18


def export_model(model, input_shape: tuple[int, ...], fmt: str, path: str) -> dict:
    """Write ``model`` to ``path`` (see Backend.export_model)."""
    model = model.to("cpu").eval()
    example = torch.rand(2, *input_shape)
    with _quiet(), torch.no_grad():
        if fmt == "torchscript":
            torch.jit.trace(model, example).save(path)
            return {"input_name": "input", "output_name": "output", "batch": None}
        try:
            torch.onnx.export(model, (example,), path, dynamo=True, verbose=False, opset_version=OPSET,
                              external_data=False, input_names=["input"], output_names=["output"],
                              dynamic_shapes=_batch_axis(model))
        except Exception:  # noqa: BLE001 -- a model whose batch size cannot vary: export it for batches of 1
            torch.onnx.export(model, (example[:1],), path, dynamo=True, verbose=False, opset_version=OPSET,
                              external_data=False, input_names=["input"], output_names=["output"])
            return {"input_name": "input", "output_name": "output", "batch": 1}
    return {"input_name": "input", "output_name": "output", "batch": None}


def _batch_axis(model) -> tuple:
    """torch.export's dynamic_shapes for a variable batch axis of the one input; a model whose
    forward takes ``*inputs`` (GraphModel) nests it one level deeper."""
    batch = {0: torch.export.Dim("batch")}
    parameters = inspect.signature(model.forward).parameters.values()
    variadic = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    return ((batch,),) if variadic else (batch,)


@contextlib.contextmanager
def _quiet():
    """The exporters' progress lines and deprecation notes are not the user's business."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(None):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
