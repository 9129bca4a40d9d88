"""Optimizers from the config, with Keras' defaults where torch's differ."""

from __future__ import annotations

import torch

KERAS_EPSILON = 1e-7


def make_optimizer(name: str, params, *, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                   rho: float = 0.9, momentum: float = 0.0, epsilon: float | None = None) -> torch.optim.Optimizer:
    """Build optimizer ``name`` (a registered optimizer) with the config's hyper-parameters."""
    eps = KERAS_EPSILON if epsilon is None else epsilon
    if name == "Adam":
        return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), eps=eps)
    if name == "NAdam":
        return torch.optim.NAdam(params, lr=lr, betas=(beta1, beta2), eps=eps)
    if name == "Adamax":
        return torch.optim.Adamax(params, lr=lr, betas=(beta1, beta2), eps=eps)
    if name == "SGD":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "RMSprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=rho, eps=eps)
    if name == "Adagrad":
        # Keras starts the accumulators at 0.1 (torch at 0).
        return torch.optim.Adagrad(params, lr=lr, eps=eps, initial_accumulator_value=0.1)
    if name == "Adadelta":
        return torch.optim.Adadelta(params, lr=lr, rho=rho, eps=eps)
    from dlae_core.errors import BackendError

    raise BackendError(f"optimizer {name!r} has no PyTorch implementation")


def main_optimizer(config, params) -> torch.optim.Optimizer:
    opt, lrs = config.optimizer, config.learning_rate_schedule
    return make_optimizer(opt.optimizer, params, lr=lrs.learning_rate, beta1=opt.beta1, beta2=opt.beta2,
                          rho=opt.rho, momentum=opt.momentum, epsilon=opt.epsilon)


def set_learning_rate(optimizer: torch.optim.Optimizer, rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = rate
