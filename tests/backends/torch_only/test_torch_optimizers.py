"""Optimizers: fused / multi-tensor kernels give the same updates as torch's reference loop."""

import pytest

torch = pytest.importorskip("torch")

from dlae_torch.optimizers import OPTIMIZERS, make_optimizer  # noqa: E402

SETTINGS = dict(lr=0.01, beta1=0.9, beta2=0.999, rho=0.9, momentum=0.5, epsilon=1e-7)
REFERENCE_KWARGS = {"Adam": dict(betas=(0.9, 0.999), eps=1e-7), "NAdam": dict(betas=(0.9, 0.999), eps=1e-7),
                    "Adamax": dict(betas=(0.9, 0.999), eps=1e-7), "SGD": dict(momentum=0.5),
                    "RMSprop": dict(alpha=0.9, eps=1e-7), "Adagrad": dict(eps=1e-7, initial_accumulator_value=0.1),
                    "Adadelta": dict(rho=0.9, eps=1e-7)}


def _params(seed: int):
    generator = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, generator=generator)) for shape in ((4, 3, 3, 3), (4,), (7, 5))]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_updates_match_the_reference_loop(name):
    ours, reference = _params(0), _params(0)
    optimizer = make_optimizer(name, ours, **SETTINGS)
    baseline = OPTIMIZERS[name](reference, lr=0.01, foreach=False, **REFERENCE_KWARGS[name])
    if name == "SGD":  # with momentum: Keras' rule, equal to torch's at a constant rate
        from dlae_torch.optimizers import KerasSGD

        assert isinstance(optimizer, KerasSGD)
    elif name in ("Adam", "Adagrad"):
        assert optimizer.defaults["fused"] is True
    else:
        assert optimizer.defaults["foreach"] is True
    for step in range(5):
        for a, b in zip(ours, reference):
            a.grad = torch.full_like(a, 0.1 * (step + 1)) + torch.sin(a.detach())
            b.grad = torch.full_like(b, 0.1 * (step + 1)) + torch.sin(b.detach())
        optimizer.step()
        baseline.step()
    for a, b, start in zip(ours, reference, _params(0)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        assert (a - start).abs().max() > 1e-5  # the five steps moved every tensor (Adadelta least)


def test_a_fused_optimizer_state_round_trips_through_a_checkpoint():
    params = _params(1)
    optimizer = make_optimizer("Adam", params, **SETTINGS)
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    restored = make_optimizer("Adam", _params(1), **SETTINGS)
    restored.load_state_dict(optimizer.state_dict())
    assert restored.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"] == 1
