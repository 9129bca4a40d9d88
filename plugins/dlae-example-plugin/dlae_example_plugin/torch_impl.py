"""PyTorch implementations of the example plugin's layer, loss, activation and optimizer.

Imported by dlae only when the torch backend uses one of them. Inside dlae's torch models, tensors
with spatial axes are channels-first (N, C, rows, cols); loss functions receive channels-last
(N, ..., C) predictions and targets.
"""

from __future__ import annotations

import torch
from torch import nn


# -- layer: builder(spec, input_shape) -> nn.Module ----------------------------------------------------
class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, ratio: int):
        super().__init__()
        hidden = max(1, channels // ratio)
        self.reduce = nn.Linear(channels, hidden)
        self.expand = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = x.mean(dim=(2, 3))
        scale = torch.sigmoid(self.expand(torch.relu(self.reduce(squeezed))))
        return x * scale[:, :, None, None]

    # The canonical (Keras) layout, so `dlae check` and cross-backend weight files work: Dense kernels
    # are (inputs, outputs), torch Linear weights (outputs, inputs); names as in tf_impl's sublayers.
    def export_keras_weights(self) -> dict:
        with torch.no_grad():
            return {f"{name}/{part}": (value.t() if part == "kernel" else value).detach().cpu().numpy()
                    for name, layer in (("reduce", self.reduce), ("expand", self.expand))
                    for part, value in (("kernel", layer.weight), ("bias", layer.bias))}

    def import_keras_weights(self, weights: dict) -> None:
        with torch.no_grad():
            for name, layer in (("reduce", self.reduce), ("expand", self.expand)):
                layer.weight.copy_(torch.as_tensor(weights[f"{name}/kernel"]).t())
                layer.bias.copy_(torch.as_tensor(weights[f"{name}/bias"]))


def build_squeeze_excitation(spec, input_shape: tuple) -> nn.Module:
    return SqueezeExcitation(input_shape[-1], spec["ratio"])


# -- loss: builder(context) -> fn(prediction, target) -> scalar -----------------------------------------
def build_log_cosh(context):
    def log_cosh(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        diff = pred.float() - target.float().reshape(pred.shape)
        # log(cosh(d)) = |d| + log1p(exp(-2|d|)) - log 2, stable for large |d|
        return (diff.abs() + torch.log1p(torch.exp(-2 * diff.abs())) - torch.log(torch.tensor(2.0))).mean()

    return log_cosh


# -- activation: builder() -> nn.Module ---------------------------------------------------------------------
class Mish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tanh(nn.functional.softplus(x))


def build_mish() -> nn.Module:
    return Mish()


# -- optimizer: factory(settings, parameters) -> torch.optim.Optimizer ---------------------------------------
class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), per parameter:

        update = sign(beta1 * m + (1 - beta1) * g)
        p      = p * (1 - lr * weight_decay) - lr * update
        m      = beta2 * m + (1 - beta2) * g

    The learning rate is read from ``param_groups[i]["lr"]`` at each step, where dlae's schedules set it.
    """

    def __init__(self, params, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0):
        if lr <= 0:
            raise ValueError(f"Lion needs a positive learning rate, got {lr}")
        if not all(0.0 <= b <= 1.0 for b in betas):
            raise ValueError(f"Lion needs betas in [0, 1], got {betas}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), decay = group["lr"], group["betas"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("Lion does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                momentum = state["exp_avg"]
                if decay:
                    p.mul_(1.0 - lr * decay)
                update = momentum.mul(beta1).add_(p.grad, alpha=1.0 - beta1).sign_()
                p.add_(update, alpha=-lr)
                momentum.mul_(beta2).add_(p.grad, alpha=1.0 - beta2)
        return loss


def build_lion(settings, parameters) -> Lion:
    """Lion over ``parameters`` with the config's learning rate, beta1 and beta2 (decoupled weight decay 0)."""
    return Lion(parameters, lr=settings.learning_rate, betas=(settings.beta1, settings.beta2), weight_decay=0.0)
