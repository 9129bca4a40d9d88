"""CNN: image -> class probabilities or a regression vector (a built-in technique)."""

from __future__ import annotations

from dlae_core.techniques.base import SupervisedTechnique, check_output_rank
from dlae_core.techniques.labels import check_categories, check_label_values


class CNN(SupervisedTechnique):
    name = "CNN"
    doc = "Image -> class probabilities or regression vector."
    prediction_prefix = "cnn"
    report_pictures = "labels"

    def check_graphs(self, config, registry, graphs: dict) -> list:
        graph = graphs["model"]
        out = check_output_rank(graph, 1, "a CNN must end in a vector (classes or regression values)",
                                "an output shape (n,), e.g. after Flatten or global pooling and Dense")
        return out + check_categories(config, registry, graph)

    def check_target_shape(self, rules, tally, name: str, shape: tuple, x_shape: tuple) -> None:
        if rules.labels:
            if shape not in ((), (1,)):
                tally.add("y-shape", name, "a class label must be a scalar or a (1,) array",
                          f"() or (1,) holding an integer class in 0..{rules.classes - 1}", shape)
        elif rules.target == "onehot":
            if shape != rules.output:
                tally.add("y-shape", name, f"loss needs one-hot targets of the output size {rules.output[-1]} "
                          "(or set preprocessing.categorical_switch to store integer labels)", str(rules.output),
                          shape)
        elif rules.target == "dense" and shape != rules.output and not (shape == () and rules.output == (1,)):
            tally.add("y-shape", name, f"a regression target must have the model output shape {rules.output}",
                      str(rules.output), shape)

    def check_target_values(self, rules, tally, name: str, values) -> None:
        check_label_values(rules, tally, name, values)
