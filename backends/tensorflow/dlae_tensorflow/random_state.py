"""The random state of a Keras training run, saved with each checkpoint so that ``dlae run --resume``
continues exactly as the uninterrupted run would have (the torch backend saves its generator state
for the same reason).

Keras 3 layers that draw random numbers (Dropout, SpatialDropout, GaussianNoise, ...) draw them from
a ``keras.random.SeedGenerator`` whose ``state`` variable advances with every draw; unseeded
``keras.random`` calls draw from one global SeedGenerator. Those variables are all there is: the
data order and the augmentation are seeded per (seed, epoch, sample) by the core, so they need no
saving. A model's seed states are its variables that are not weights (``model.variables`` lists
them, ``model.weights`` does not).
"""

from __future__ import annotations

import warnings

import numpy as np

#: the name under which the global SeedGenerator's state is saved
GLOBAL = "<global seed generator>"


def _global_generator(create: bool):
    """Keras' global SeedGenerator (None when no unseeded draw has created it yet and not ``create``)."""
    try:  # private to Keras; without it only the layers' generators are saved
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
    except ImportError:  # pragma: no cover - a Keras that moved it
        return None
    if create:
        return seed_generator.global_seed_generator()
    return global_state.get_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR)


def seed_variables(model) -> list:
    """The model's SeedGenerator state variables, in the model's (deterministic) variable order."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def snapshot(model) -> list[tuple[str, np.ndarray]]:
    """``[(name, state), ...]``: every seed state of ``model``, then the global generator's if it exists."""
    out = [(v.path, np.array(v.numpy())) for v in seed_variables(model)]
    generator = _global_generator(create=False)
    if generator is not None:
        out.append((GLOBAL, np.array(generator.state.numpy())))
    return out


def restore(model, saved: list[tuple[str, np.ndarray]], path: str) -> None:
    """Assign the states of :func:`snapshot`; a checkpoint of another network (another number or shape
    of generators) is warned about and its random state ignored (training continues, not exactly)."""
    saved = list(saved)
    own = [item for item in saved if item[0] == GLOBAL]
    layers = [item for item in saved if item[0] != GLOBAL]
    variables = seed_variables(model)
    if [tuple(v.shape) for v in variables] != [tuple(np.shape(a)) for _, a in layers]:
        warnings.warn(f"the random state in {path!r} does not fit this config's network; dropout and noise "
                      f"layers start afresh, so the resumed run will not repeat the uninterrupted one exactly")
        return
    for variable, (_, value) in zip(variables, layers):
        variable.assign(np.asarray(value).astype(variable.dtype))
    if own:
        generator = _global_generator(create=True)
        generator.state.assign(np.asarray(own[0][1]).astype(generator.state.dtype))
