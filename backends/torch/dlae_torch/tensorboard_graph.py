"""The model graph of the run's TensorBoard log (Backend.model_graph): the model traced with
``torch.jit.trace`` on a zero batch, its operations written as a TensorBoard GraphDef with
tensorboardX's protocol buffer classes (torch's own converter imports the tensorboard package and
with it TensorFlow, seconds of start-up a torch run should not pay). Mirrors
dlae_tensorflow.tensorboard_graph.

Nodes: the input(s), every parameter (named by its module path, e.g. ``conv_1/weight``) and every
tensor operation, named ``<module path>/<operation>_<k>`` so TensorBoard groups them by module;
constants and list arguments are left out (they are attributes of an operation, not data flow).
"""

from __future__ import annotations

import contextlib
import warnings

import torch


def model_graph(model: torch.nn.Module, input_shapes: list[tuple[int, ...]], placement=None) -> bytes:
    """The serialized GraphDef of ``model`` on channels-last inputs of ``input_shapes`` (no batch
    axis), on the device of the model's parameters (``placement`` is not needed to find it)."""
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    inputs = tuple(torch.zeros((1, *shape), device=device) for shape in input_shapes)
    was_training = model.training
    model.eval()  # no dropout mask drawn, no normalization statistics updated
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(None):
            warnings.simplefilter("ignore")  # the tracer's notes on data-dependent Python values
            traced = torch.jit.trace(model, inputs, check_trace=False, strict=False)
    finally:
        model.train(was_training)
    return _graph_def(traced.inlined_graph).SerializeToString()


def _graph_def(graph):
    from tensorboardX.proto.graph_pb2 import GraphDef
    from tensorboardX.proto.versions_pb2 import VersionDef

    names: dict[str, str] = {}  # the trace's value name -> the node that produces it
    modules: dict[str, str] = {"self": ""}  # values holding submodules -> their path
    nodes, counts = [], {}
    graph_inputs = list(graph.inputs())
    for index, value in enumerate(graph_inputs[1:]):  # the first input is the module itself
        names[value.debugName()] = f"input_{index}"
        nodes.append(_node(f"input_{index}", "IO Node", [], value))
    modules[graph_inputs[0].debugName()] = ""
    for node in graph.nodes():
        kind = node.kind()
        if kind == "prim::GetAttr":
            owner = modules.get(node.inputsAt(0).debugName())
            path = f"{owner}/{node.s('name')}".strip("/") if owner is not None else node.s("name")
            output = node.output()
            if output.type().kind() == "TensorType":
                names[output.debugName()] = path
                nodes.append(_node(path, "Parameter", [], output))
            else:
                modules[output.debugName()] = path
            continue
        tensors = [o for o in node.outputs() if o.type().kind() == "TensorType"]
        if not tensors or kind.startswith("prim::Constant"):
            continue
        operation = kind.split("::")[-1]
        scope = _scope(node.scopeName())
        counts[(scope, operation)] = counts.get((scope, operation), 0) + 1
        name = f"{scope}/{operation}_{counts[(scope, operation)]}".strip("/")
        sources = [names[i.debugName()] for i in node.inputs() if i.debugName() in names]
        nodes.append(_node(name, kind, sources, tensors[0]))
        for output in tensors:
            names[output.debugName()] = name
    for index, value in enumerate(graph.outputs()):
        if value.debugName() in names:
            nodes.append(_node(f"output_{index}", "IO Node", [names[value.debugName()]], value))
    return GraphDef(node=nodes, versions=VersionDef(producer=22))


def _scope(scope_name: str) -> str:
    """``__module.encoder/__module.encoder.conv1`` -> ``encoder/conv1`` (the module path, slashes)."""
    last = scope_name.split("/")[-1]
    return last.removeprefix("__module").strip(".").replace(".", "/")


def _node(name: str, op: str, inputs: list[str], value):
    from tensorboardX.proto.attr_value_pb2 import AttrValue
    from tensorboardX.proto.node_def_pb2 import NodeDef
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto

    attributes = {"attr": AttrValue(s=str(value.type()).encode())}
    sizes = value.type().sizes() if value.type().kind() == "TensorType" else None
    if sizes is not None:
        shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=int(s)) for s in sizes])
        attributes["_output_shapes"] = AttrValue(list=AttrValue.ListValue(shape=[shape]))
    return NodeDef(name=name, op=op, input=inputs, attr=attributes)
