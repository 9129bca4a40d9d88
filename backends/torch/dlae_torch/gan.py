"""GAN training on PyTorch: pix2pix and cycleGAN.

The epoch loop, logs, checkpoints and previews are the core's (dlae_core.techniques.gan.loop); this module
supplies the :class:`TorchGanEngine`: the generator(s) and discriminator(s) built from the plan's
graphs, their optimizers (each from its own config record: ``discriminator_optimizer`` with
``discriminator_learning_rate``, ``gan_optimizer`` with ``gan_learning_rate``; the two cycleGAN
discriminators get one optimizer each), and the updates:

* adversarial term ``adv(p, label)``: ``loss_function.adversarial`` "log" = binary cross-entropy
  with logits on the discriminator's linear patch output, "least_squares" = mean squared error
  to the label; labels 1 (real) / 0 (fake) shaped like the actual output (partial batches work);
  ``d_acc``: share of patch outputs on the right side of the decision threshold (logit 0 / 0.5);
* pix2pix: L_D = (adv(D(y, x), 1) + adv(D(G(x), x), 0)) / 2 and
  L_G = adv(D(G(x), x), 1) + λ·MAE(G(x), y), λ = parameter1;
* cycleGAN (G1: X -> y, G2: y -> X, D1 judges X, D2 judges y):
  L_D1 = (adv(D1(x), 1) + adv(D1(G2(y)), 0)) / 2, L_D2 likewise, d_loss their mean;
  L_G = adv(D2(G1(x)), 1) + adv(D1(G2(y)), 1) + λ_cyc·(MAE(G2(G1(x)), x) + MAE(G1(G2(y)), y))
  + λ_id·(MAE(G2(x), x) + MAE(G1(y), y)), λ_cyc = parameter1, λ_id = parameter2;
  logged g_adv, g_cycle, g_identity are the means of their two terms.

Each loss includes the network's layer regularization penalties. The discriminators are frozen
(no gradients) during the generator step; generated images for the discriminator step are made
without gradients. Both use the networks in training mode.

In a data-parallel run each update goes through DistributedDataParallel, once per step: a
discriminator judges the real and the generated batch in one call (:class:`Judging`), the cycleGAN
generators make all six images in one call (:class:`Cycle`); the frozen discriminators of the
generator step are called as themselves (they are not updated there).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dlae_core.config.convert import config_to_dict
from dlae_core.techniques.gan.engine import GanNetworks
from dlae_core.techniques.gan.technique import gan_implementation

from dlae_torch.distributed import batch_weight, joined, parallel, peer_safe, rank_generators
from dlae_torch.loader import to_device
from dlae_torch.model import with_penalties
from dlae_torch.modelfile import save_model_file
from dlae_torch.optimizers import set_learning_rate


def adversarial_loss(kind: str):
    """``adv(prediction, label)`` of ``loss_function.adversarial`` (float32, mean over everything)."""
    if kind == "least_squares":
        return lambda p, label: torch.mean((p.float() - label) ** 2)
    return lambda p, label: F.binary_cross_entropy_with_logits(p.float(), torch.full_like(p.float(), label))


def _hits(p: torch.Tensor, label: float, threshold: float) -> torch.Tensor:
    """Share of patch outputs classified as ``label``."""
    p = p.float()
    return ((p > threshold) if label == 1.0 else (p <= threshold)).float().mean()


class TorchGanEngine(GanNetworks):
    """The GanEngine of the core loop (dlae_core.techniques.gan.loop) for PyTorch."""

    def optimized_parameters(self, models: list):
        return itertools.chain.from_iterable(m.parameters() for m in models)

    def ready(self) -> None:
        self.adv = adversarial_loss(self.config.loss_function.adversarial)
        fp16 = self.placement.dtype == torch.float16
        self.g_scaler = torch.amp.GradScaler("cuda", enabled=fp16)
        self.d_scalers = {role: torch.amp.GradScaler("cuda", enabled=fp16) for role in self.discriminators}
        self._data_parallel()
        rank_generators()

    def _data_parallel(self) -> None:
        """The networks as each update calls them: DistributedDataParallel in a data-parallel run."""
        self.judges, self.translate, self.cycle = {}, None, None
        if not joined():
            return
        synchronized = self.config.training_configurations.synchronized_batch_normalization
        self.judges = {role: parallel(Judging(model), self.placement, synchronized=synchronized)
                       for role, model in self.discriminators.items()}
        if self.variant == "pix2pix":
            self.translate = parallel(self.generators["generator"], self.placement, synchronized=synchronized)
        else:
            self.cycle = parallel(Cycle(self.generators["generator1"], self.generators["generator2"]),
                                  self.placement, synchronized=synchronized)

    # -- GanEngine -------------------------------------------------------------------------------
    def set_learning_rates(self, discriminator: float, generator: float) -> None:
        for optimizer in self.d_optimizers.values():
            set_learning_rate(optimizer, discriminator)
        set_learning_rate(self.g_optimizer, generator)

    def batch_size(self, batch) -> int:
        return int(batch["x"].shape[0])

    @peer_safe
    def discriminator_step(self, batch) -> dict[str, float]:
        weight = batch_weight(batch)  # this process's share of the global batch (None: one process)
        x, y = self._inputs(batch)
        self._modes(train=True)
        with torch.no_grad(), self.placement.autocast():
            if self.variant == "pix2pix":
                fakes = {"discriminator": self.generators["generator"](x)}
            else:  # D1 judges domain X (fakes G2(y)), D2 domain y (fakes G1(x))
                fakes = {"discriminator1": self.generators["generator2"](y),
                         "discriminator2": self.generators["generator1"](x)}
        reals = {"discriminator": y, "discriminator1": x, "discriminator2": y}
        out: dict[str, list] = {"d_loss": [], "d_real": [], "d_fake": [], "d_acc": []}
        for role, model in self.discriminators.items():
            condition = (x,) if self.variant == "pix2pix" else ()
            optimizer = self.d_optimizers[role]
            optimizer.zero_grad(set_to_none=True)
            with self.placement.autocast():
                if role in self.judges:
                    real_out, fake_out = self.judges[role](reals[role], fakes[role].detach(), *condition)
                else:
                    real_out = model(reals[role], *condition)
                    fake_out = model(fakes[role].detach(), *condition)
            d_real, d_fake = self.adv(real_out, 1.0), self.adv(fake_out, 0.0)
            loss = with_penalties((d_real + d_fake) / 2, model)
            scaler = self.d_scalers[role]
            scaler.scale(_weighted(loss, weight)).backward()
            scaler.step(optimizer)
            scaler.update()
            accuracy = (_hits(real_out.detach(), 1.0, self.threshold) + _hits(fake_out.detach(), 0.0,
                                                                               self.threshold)) / 2
            for key, value in (("d_loss", loss), ("d_real", d_real), ("d_fake", d_fake), ("d_acc", accuracy)):
                out[key].append(value.detach())
        values = {k: torch.stack(v).mean().item() for k, v in out.items()}
        if self.variant != "pix2pix":
            values = {k: values[k] for k in ("d_loss", "d_acc")}
        return values

    @peer_safe
    def generator_step(self, batch) -> dict[str, float]:
        weight = batch_weight(batch)
        x, y = self._inputs(batch)
        self._modes(train=True)
        for model in self.discriminators.values():
            model.requires_grad_(False)
        try:
            self.g_optimizer.zero_grad(set_to_none=True)
            with self.placement.autocast():
                if self.variant == "pix2pix":
                    terms = self._pix2pix_terms(x, y)
                else:
                    terms = self._cyclegan_terms(x, y)
            loss = terms.pop("g_loss")
            self.g_scaler.scale(_weighted(loss, weight)).backward()
            self.g_scaler.step(self.g_optimizer)
            self.g_scaler.update()
        finally:
            for model in self.discriminators.values():
                model.requires_grad_(True)
        return {"g_loss": loss.item(), **{k: v.item() for k, v in terms.items()}}

    def _pix2pix_terms(self, x, y) -> dict:
        generator, discriminator = self.generators["generator"], self.discriminators["discriminator"]
        fake = (self.translate or generator)(x)
        g_adv = self.adv(discriminator(fake, x), 1.0)
        g_l1 = torch.mean(torch.abs(fake.float() - y.float()))
        loss = with_penalties(g_adv + self.lambda1 * g_l1, generator)
        return {"g_loss": loss, "g_adv": g_adv.detach(), "g_l1": g_l1.detach()}

    def _cyclegan_terms(self, x, y) -> dict:
        g1, g2 = self.generators["generator1"], self.generators["generator2"]
        d1, d2 = self.discriminators["discriminator1"], self.discriminators["discriminator2"]
        fake_y, fake_x, back_x, back_y, same_x, same_y = (self.cycle or Cycle(g1, g2))(x, y)
        adv = self.adv(d2(fake_y), 1.0) + self.adv(d1(fake_x), 1.0)
        cycle = _mae(back_x, x) + _mae(back_y, y)
        identity = _mae(same_x, x) + _mae(same_y, y)
        loss = with_penalties(adv + self.lambda1 * cycle + self.lambda2 * identity, g1, g2)
        return {"g_loss": loss, "g_adv": adv.detach() / 2, "g_cycle": cycle.detach() / 2,
                "g_identity": identity.detach() / 2}

    @torch.no_grad()
    def generate(self, role: str, x: np.ndarray) -> np.ndarray:
        model = self.generators[role]
        model.eval()
        tensor = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=self.placement.device)
        with self.placement.autocast():
            out = model(tensor)
        return out.float().cpu().numpy()

    def save_generator(self, role: str, path: Path, state: dict) -> None:
        stats = self.data.stats_dict() if role in ("generator", "generator1") else None
        save_model_file(path, config_dict=config_to_dict(self.config, self.run_info.registry, legacy=False),
                        graph_role="generator", model=self.generators[role], stats=stats,
                        training_state=dict(state))

    # -- helpers -----------------------------------------------------------------------------------
    def _inputs(self, batch):
        batch = to_device(batch, self.placement.device, self.placement.channels_last)
        return batch["x"], batch["y"]

    def _modes(self, *, train: bool) -> None:
        for model in (*self.generators.values(), *self.discriminators.values()):
            model.train(train)


def _mae(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.abs(a.float() - b.float()))


def _weighted(loss: torch.Tensor, weight: float | None) -> torch.Tensor:
    """The loss a data-parallel backward uses: this process's share of the global batch's mean."""
    return loss if weight is None or weight == 1.0 else loss * weight


class Judging(torch.nn.Module):
    """A discriminator judging a real and a generated batch in one call (one DistributedDataParallel
    forward per update)."""

    def __init__(self, discriminator: torch.nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, real, fake, *condition):
        return self.discriminator(real, *condition), self.discriminator(fake, *condition)


class Cycle(torch.nn.Module):
    """Both cycleGAN generators' images of one generator step: G1(x), G2(y), G2(G1(x)), G1(G2(y)),
    and the identities G2(x), G1(y)."""

    def __init__(self, generator1: torch.nn.Module, generator2: torch.nn.Module):
        super().__init__()
        self.generator1, self.generator2 = generator1, generator2

    def forward(self, x, y):
        fake_y, fake_x = self.generator1(x), self.generator2(y)
        return (fake_y, fake_x, self.generator2(fake_y), self.generator1(fake_x), self.generator2(x),
                self.generator1(y))


#: This module's implementations of techniques (registered lazily by dlae_torch.plugin).
IMPLEMENTATIONS = {"GAN": gan_implementation(TorchGanEngine)}
