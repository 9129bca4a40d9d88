"""Device and precision choice from ``hardware`` and ``precision``."""

from __future__ import annotations

import contextlib

import attrs
import torch


@attrs.frozen
class Placement:
    device: torch.device
    dtype: torch.dtype | None  # autocast dtype, None for fp32
    channels_last: bool
    note: str = ""

    @property
    def augments_on_device(self) -> bool:
        """Training batches are augmented on the GPU (batched grid sampling), not by the workers."""
        return self.device.type == "cuda"

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)


def choose_placement(config, spatial_rank: int) -> Placement:
    """``hardware`` gpu (CUDA when present, else the CPU with a note) or cpu; multi-gpu is gpu for each
    process of a data-parallel run (its own GPU, ``cuda:LOCAL_RANK``, chosen when it joined the run:
    dlae_torch.distributed), or for the one process of a machine with a single GPU."""
    hardware = config.training_configurations.hardware
    precision = config.training_configurations.precision
    several = hardware == "multi-gpu" or config.training_configurations.number_of_gpus > 1
    hardware = "gpu" if hardware == "multi-gpu" else hardware
    if hardware == "gpu" and torch.cuda.is_available():
        joined = torch.distributed.is_available() and torch.distributed.is_initialized()
        device = torch.device("cuda", torch.cuda.current_device()) if joined else torch.device("cuda")
        note = "" if joined or not several else "data-parallel training needs several GPUs (or --processes); training in one process on one GPU"
        dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        return Placement(device, dtype, channels_last=spatial_rank == 2, note=note)
    note = "no CUDA GPU found; training on the CPU" if hardware == "gpu" else ""
    if precision != "fp32":
        note = (note + "; " if note else "") + f"precision {precision} needs a GPU, using fp32"
    return Placement(torch.device("cpu"), None, channels_last=False, note=note)


def device_info() -> dict:
    """PyTorch's version, its CUDA build and the GPUs it sees (Backend.device_info)."""
    gpus = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            gpus.append({"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1)})
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"framework": "PyTorch", "version": torch.__version__, "cuda": torch.version.cuda, "cudnn": cudnn,
            "gpus": gpus}
