"""GAN training on TensorFlow (Keras 3): pix2pix and cycleGAN.

The mirror of dlae_torch.gan: the epoch loop, logs, checkpoints and previews are the core's
(dlae_core.techniques.gan.loop); :class:`TensorflowGanEngine` supplies the networks built from the plan's
graphs, one optimizer per discriminator (``discriminator_optimizer``,
``discriminator_learning_rate``) and one for the generator(s) (``gan_optimizer``,
``gan_learning_rate``), each from its own config record, and the two updates as ``tf.function``
steps (one trace for full and partial batches):

* adversarial term ``adv(p, label)``: "log" = sigmoid cross-entropy with logits on the
  discriminator's linear patch output, "least_squares" = mean squared error to the label; labels
  1 (real) / 0 (fake) shaped like the actual output; ``d_acc`` as in the torch backend;
* pix2pix: L_D = (adv(D(y, x), 1) + adv(D(G(x), x), 0)) / 2, L_G = adv(D(G(x), x), 1) + λ·MAE(G(x), y);
* cycleGAN: L_D1 = (adv(D1(x), 1) + adv(D1(G2(y)), 0)) / 2, L_D2 likewise;
  L_G = adv(D2(G1(x)), 1) + adv(D1(G2(y)), 1) + λ_cyc·(cycle terms) + λ_id·(identity terms).

Every loss includes the layer regularization penalties; only the stepped network's variables
are updated; the networks run in training mode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from dlae_core.config.convert import config_to_dict
from dlae_core.techniques.gan.engine import GanNetworks
from dlae_core.techniques.gan.technique import gan_implementation

from dlae_tensorflow.distributed import batch_size as global_batch_size
from dlae_tensorflow.distributed import mirrored, synchronize_batch_norm
from dlae_tensorflow.model import regularization_loss
from dlae_tensorflow.modelfile import save_model_file
from dlae_tensorflow.optimizers import prepare, set_learning_rate


def adversarial_loss(kind: str):
    """``adv(prediction, label)`` of ``loss_function.adversarial`` (float32, mean over everything)."""
    if kind == "least_squares":
        return lambda p, label: tf.reduce_mean(tf.square(tf.cast(p, tf.float32) - label))

    def log_loss(p, label):
        p = tf.cast(p, tf.float32)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(p), label), logits=p))

    return log_loss


def _hits(p, label: float, threshold: float):
    p = tf.cast(p, tf.float32)
    return tf.reduce_mean(tf.cast(p > threshold if label == 1.0 else p <= threshold, tf.float32))


def _mae(a, b):
    return tf.reduce_mean(tf.abs(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)))


def _signature(batch: dict) -> list:
    return [{k: tf.TensorSpec((None,) + tuple(v.shape[1:]), v.dtype) for k, v in batch.items()}]


class TensorflowGanEngine(GanNetworks):
    """The GanEngine of the core loop (dlae_core.techniques.gan.loop) for TensorFlow."""

    def optimized_parameters(self, models: list):
        return None  # Keras optimizers take the variables when they are built

    def prepare_optimizer(self, optimizer, models: list):
        return prepare(optimizer, self.placement, [v for m in models for v in m.trainable_variables])

    def ready(self) -> None:
        self.g_variables = [v for g in self.generators.values() for v in g.trainable_variables]
        self.adv = adversarial_loss(self.config.loss_function.adversarial)
        self._rates: tuple | None = None
        self._d_fn = self._g_fn = None
        self.mirrored = mirrored(self.placement)  # several replicas: each update on every one
        if self.mirrored is not None and self.config.training_configurations.synchronized_batch_normalization:
            for model in (*self.generators.values(), *self.discriminators.values()):
                synchronize_batch_norm(model)

    # -- GanEngine -------------------------------------------------------------------------------
    def set_learning_rates(self, discriminator: float, generator: float) -> None:
        if (discriminator, generator) != self._rates:
            for optimizer in self.d_optimizers.values():
                set_learning_rate(optimizer, discriminator)
            set_learning_rate(self.g_optimizer, generator)
            self._rates = (discriminator, generator)

    def batch_size(self, batch) -> int:
        return global_batch_size(batch)

    def discriminator_step(self, batch) -> dict[str, float]:
        if self.mirrored is not None:
            return self.mirrored.run(self._replica_discriminator, batch)[1]
        if self._d_fn is None:
            self._d_fn = tf.function(self._discriminator, input_signature=_signature(batch))
        with self.placement.scope():
            values = self._d_fn(batch)
        return {k: float(v) for k, v in values.items()}

    def generator_step(self, batch) -> dict[str, float]:
        if self.mirrored is not None:
            return self.mirrored.run(self._replica_generator, batch)[1]
        if self._g_fn is None:
            step = self._pix2pix_generator if self.variant == "pix2pix" else self._cyclegan_generator
            self._g_fn = tf.function(step, input_signature=_signature(batch))
        with self.placement.scope():
            values = self._g_fn(batch)
        return {k: float(v) for k, v in values.items()}

    def generate(self, role: str, x: np.ndarray) -> np.ndarray:
        with self.placement.scope():
            out = self.generators[role](tf.constant(np.asarray(x, np.float32)), training=False)
        return np.asarray(tf.cast(out, tf.float32).numpy())

    def save_generator(self, role: str, path: Path, state: dict) -> None:
        stats = self.data.stats_dict() if role in ("generator", "generator1") else None
        save_model_file(path, config_dict=config_to_dict(self.config, self.run_info.registry, legacy=False),
                        graph_role="generator",
                        weights=self.backend.export_weights(self.generators[role], self.generator_graph),
                        stats=stats, training_state=dict(state))

    # -- the compiled steps ----------------------------------------------------------------------
    def _discriminator(self, batch: dict, share=None) -> dict:
        """Every discriminator's update; ``share``: this replica's share of the global batch, which
        weights its losses (Keras sums the replicas' gradients). The same for the generator steps."""
        x, y = batch["x"], batch["y"]
        if self.variant == "pix2pix":
            fakes = {"discriminator": self.generators["generator"](x, training=True)}
        else:  # D1 judges domain X (fakes G2(y)), D2 domain y (fakes G1(x))
            fakes = {"discriminator1": self.generators["generator2"](y, training=True),
                     "discriminator2": self.generators["generator1"](x, training=True)}
        reals = {"discriminator": y, "discriminator1": x, "discriminator2": y}
        out: dict[str, list] = {"d_loss": [], "d_real": [], "d_fake": [], "d_acc": []}
        for role, model in self.discriminators.items():
            fake = tf.stop_gradient(fakes[role])
            real_in, fake_in = ([reals[role], x], [fake, x]) if self.variant == "pix2pix" else (reals[role], fake)
            variables, optimizer = model.trainable_variables, self.d_optimizers[role]
            with tf.GradientTape() as tape:
                real_out = model(real_in, training=True)
                fake_out = model(fake_in, training=True)
                d_real, d_fake = self.adv(real_out, 1.0), self.adv(fake_out, 0.0)
                loss = (d_real + d_fake) / 2 + regularization_loss(model)
                scaled = optimizer.scale_loss(_weighted(loss, share))
            optimizer.apply(tape.gradient(scaled, variables), variables)
            accuracy = (_hits(real_out, 1.0, self.threshold) + _hits(fake_out, 0.0, self.threshold)) / 2
            for key, value in (("d_loss", loss), ("d_real", d_real), ("d_fake", d_fake), ("d_acc", accuracy)):
                out[key].append(value)
        values = {k: tf.reduce_mean(tf.stack(v)) for k, v in out.items()}
        if self.variant != "pix2pix":
            values = {k: values[k] for k in ("d_loss", "d_acc")}
        return values

    def _replica_discriminator(self, batch: dict, share) -> tuple[dict, dict]:
        return self._discriminator(batch, share), {}

    def _replica_generator(self, batch: dict, share) -> tuple[dict, dict]:
        step = self._pix2pix_generator if self.variant == "pix2pix" else self._cyclegan_generator
        return step(batch, share), {}

    def _pix2pix_generator(self, batch: dict, share=None) -> dict:
        x, y = batch["x"], batch["y"]
        generator, discriminator = self.generators["generator"], self.discriminators["discriminator"]
        with tf.GradientTape() as tape:
            fake = generator(x, training=True)
            g_adv = self.adv(discriminator([fake, x], training=True), 1.0)
            g_l1 = _mae(fake, y)
            loss = g_adv + self.lambda1 * g_l1 + regularization_loss(generator)
            scaled = self.g_optimizer.scale_loss(_weighted(loss, share))
        self.g_optimizer.apply(tape.gradient(scaled, self.g_variables), self.g_variables)
        return {"g_loss": loss, "g_adv": g_adv, "g_l1": g_l1}

    def _cyclegan_generator(self, batch: dict, share=None) -> dict:
        x, y = batch["x"], batch["y"]
        g1, g2 = self.generators["generator1"], self.generators["generator2"]
        d1, d2 = self.discriminators["discriminator1"], self.discriminators["discriminator2"]
        with tf.GradientTape() as tape:
            fake_y, fake_x = g1(x, training=True), g2(y, training=True)
            adv = self.adv(d2(fake_y, training=True), 1.0) + self.adv(d1(fake_x, training=True), 1.0)
            cycle = _mae(g2(fake_y, training=True), x) + _mae(g1(fake_x, training=True), y)
            identity = _mae(g2(x, training=True), x) + _mae(g1(y, training=True), y)
            loss = (adv + self.lambda1 * cycle + self.lambda2 * identity
                    + regularization_loss(g1) + regularization_loss(g2))
            scaled = self.g_optimizer.scale_loss(_weighted(loss, share))
        self.g_optimizer.apply(tape.gradient(scaled, self.g_variables), self.g_variables)
        return {"g_loss": loss, "g_adv": adv / 2, "g_cycle": cycle / 2, "g_identity": identity / 2}


def _weighted(loss, share):
    return loss if share is None else loss * share


#: This module's implementations of techniques (registered lazily by dlae_tensorflow.plugin).
IMPLEMENTATIONS = {"GAN": gan_implementation(TensorflowGanEngine)}
