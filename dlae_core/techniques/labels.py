"""Target value checks shared by the techniques that learn class labels (CNN, FCN)."""

from __future__ import annotations

import numpy as np


def check_label_values(rules, tally, name: str, values: np.ndarray) -> None:
    """Integer labels within the classes; one-hot values within [0, 1]."""
    from dlae_core.data.checks import number_text

    if rules.labels:
        values = values.astype(np.float64)
        bad = values[(values != np.floor(values)) | (values < 0) | (values >= rules.classes)]
        if bad.size:
            source = "preprocessing.categories" if rules.switch else "the model output size"
            tally.add("labels", name, f"class labels out of range ({source} = {rules.classes})",
                      f"integers 0..{rules.classes - 1}", sorted({number_text(v) for v in bad.ravel()})[:5])
    elif rules.target == "onehot":
        if values.size and (values.min() < 0 or values.max() > 1):
            tally.add("onehot", name, "one-hot target values must lie in [0, 1]", "values in [0, 1]",
                      (number_text(values.min()), number_text(values.max())))


def check_categories(config, registry, graph) -> list:
    """One-hot targets need as many classes as the network has output channels."""
    from dlae_core.errors import problem

    pre, loss = config.preprocessing, registry.losses.get(config.loss_function.loss)
    if loss is None:
        return []
    channels = graph.output_shape[-1]
    if pre.categorical_switch and loss.target == "onehot" and channels != pre.categories:
        return [problem("preprocessing.categories", f"one-hot targets have {pre.categories} classes but the "
                        f"network outputs {channels} channels", expected=str(channels), received=pre.categories)]
    return []
