"""Optimizers from the config: keras.optimizers with the hyper-parameter mapping of
dlae_torch.optimizers (Keras' own defaults, epsilon None -> 1e-7)."""

from __future__ import annotations

from dlae_core.errors import MissingImplementationError

from dlae_tensorflow import require_tensorflow_keras

keras = require_tensorflow_keras()

KERAS_EPSILON = 1e-7
OPTIMIZERS = ("Adam", "NAdam", "Adamax", "SGD", "RMSprop", "Adagrad", "Adadelta")


def make_optimizer(name: str, *, lr: float, beta1: float = 0.9, beta2: float = 0.999, rho: float = 0.9,
                   momentum: float = 0.0, epsilon: float | None = None):
    """Build optimizer ``name`` (a registered optimizer) with the config's hyper-parameters."""
    eps = KERAS_EPSILON if epsilon is None else epsilon
    opt = keras.optimizers
    if name == "Adam":
        return opt.Adam(learning_rate=lr, beta_1=beta1, beta_2=beta2, epsilon=eps)
    if name == "NAdam":
        return opt.Nadam(learning_rate=lr, beta_1=beta1, beta_2=beta2, epsilon=eps)
    if name == "Adamax":
        return opt.Adamax(learning_rate=lr, beta_1=beta1, beta_2=beta2, epsilon=eps)
    if name == "SGD":
        return opt.SGD(learning_rate=lr, momentum=momentum)
    if name == "RMSprop":
        return opt.RMSprop(learning_rate=lr, rho=rho, epsilon=eps)
    if name == "Adagrad":
        return opt.Adagrad(learning_rate=lr, epsilon=eps, initial_accumulator_value=0.1)
    if name == "Adadelta":
        return opt.Adadelta(learning_rate=lr, rho=rho, epsilon=eps)
    raise MissingImplementationError(f"optimizer {name!r} has no TensorFlow implementation")


def _factory(name: str):
    def build(settings, parameters=None):
        return make_optimizer(name, lr=settings.learning_rate, beta1=settings.beta1, beta2=settings.beta2,
                              rho=settings.rho, momentum=settings.momentum, epsilon=settings.epsilon)

    return build


#: The implementations of dlae's optimizers: ``factory(settings: OptimizerSettings, parameters)``
#: (``parameters`` is None: a Keras optimizer is built for its variables by :func:`prepare`).
BUILDERS = {name: _factory(name) for name in OPTIMIZERS}


def prepare(optimizer, placement, variables):
    """``optimizer`` ready to train ``variables`` on ``placement``: wrapped in a LossScaleOptimizer
    for fp16 training (the mixed_float16 policy), its state built on the placement's device."""
    with placement.scope():  # a strategy's scope, when mirrored
        if getattr(placement, "strategy", None) is not None:  # a Keras optimizer belongs to the strategy it is made in
            optimizer = optimizer.__class__.from_config(optimizer.get_config())
        if placement.policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(variables)
    return optimizer


def set_learning_rate(optimizer, rate: float) -> None:
    optimizer.learning_rate.assign(float(rate))


def base_optimizer(optimizer):
    """The optimizer whose hyper-parameters the config sets (inside a LossScaleOptimizer)."""
    return getattr(optimizer, "inner_optimizer", optimizer)
