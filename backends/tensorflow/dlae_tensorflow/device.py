"""Device and precision choice from ``hardware`` and ``precision`` (as dlae_torch.device).

On a GPU, ``precision`` bf16/fp16 selects the Keras mixed-precision policy ``mixed_bfloat16`` /
``mixed_float16`` for the layers built under :meth:`Placement.policy_scope` (variables stay
float32; fp16 training wraps the optimizer in a LossScaleOptimizer, see optimizers.py). On the
CPU, every run is fp32, with the same notes as the torch backend.
"""

from __future__ import annotations

import contextlib

import attrs
import tensorflow as tf

from dlae_tensorflow import require_tensorflow_keras

keras = require_tensorflow_keras()

POLICIES = {"fp32": None, "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


@attrs.frozen
class Placement:
    device: str  # "/GPU:0" or "/CPU:0"
    policy: str | None  # Keras mixed-precision policy name, None for fp32
    note: str = ""
    #: a tf.distribute strategy mirroring the model over several devices or workers (dlae_tensorflow.distributed)
    strategy: object = None

    @property
    def is_gpu(self) -> bool:
        return "GPU" in self.device

    @property
    def augments_on_device(self) -> bool:
        """Training batches are augmented on the GPU (inside the compiled train step), not by the workers."""
        return self.is_gpu

    def scope(self):
        """Context placing ops and variables on the chosen device (or mirrored by the strategy)."""
        return self.strategy.scope() if self.strategy is not None else tf.device(self.device)

    @contextlib.contextmanager
    def policy_scope(self):
        """Layers built inside use the mixed-precision policy (the global policy is restored after)."""
        if self.policy is None:
            yield
            return
        previous = keras.mixed_precision.dtype_policy()
        keras.mixed_precision.set_dtype_policy(self.policy)
        try:
            yield
        finally:
            keras.mixed_precision.set_dtype_policy(previous)


def gpus() -> list:
    found = tf.config.list_physical_devices("GPU")
    for gpu in found:  # allocate GPU memory as needed (leaves room for other processes)
        with contextlib.suppress(RuntimeError, ValueError):  # already initialized
            tf.config.experimental.set_memory_growth(gpu, True)
    return found


def choose_placement(config, spatial_rank: int | None = None) -> Placement:
    """``spatial_rank`` is accepted for symmetry with the torch backend (Keras is channels-last
    everywhere, so it changes nothing here)."""
    from dlae_tensorflow.distributed import session_strategy

    hardware = config.training_configurations.hardware
    precision = config.training_configurations.precision
    # several GPUs (or logical CPU devices) of this machine, or a cluster this process joined
    strategy = session_strategy(config)
    hardware = "gpu" if hardware == "multi-gpu" else hardware
    if hardware == "gpu" and gpus():
        return Placement("/GPU:0", POLICIES[precision], strategy=strategy)
    note = "no CUDA GPU found; training on the CPU" if hardware == "gpu" else ""
    if precision != "fp32":
        note = (note + "; " if note else "") + f"precision {precision} needs a GPU, using fp32"
    return Placement("/CPU:0", None, note=note, strategy=strategy)


def device_info() -> dict:
    """TensorFlow's and Keras' versions, its CUDA build and the GPUs it sees (Backend.device_info).
    The memory is not asked for: TensorFlow would have to claim the GPU to tell it."""
    build = tf.sysconfig.get_build_info()
    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        found.append({"name": details.get("device_name", gpu.name), "memory_gib": None})
    return {"framework": "TensorFlow", "version": tf.__version__, "keras": keras.__version__,
            "cuda": build.get("cuda_version"), "cudnn": build.get("cudnn_version"), "gpus": found}
