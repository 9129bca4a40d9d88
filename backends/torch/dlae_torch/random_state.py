"""The random state a checkpoint carries, so a resumed run draws the same dropout masks and noise as an
uninterrupted one (the data order and augmentation are seeded per epoch and sample in the core).

torch draws them from its global generators: the CPU one, and one per CUDA device on a GPU. (The
tensorflow backend's ``random_state`` saves the Keras seed generators of a model instead.)
"""

from __future__ import annotations

import warnings

import torch


def snapshot(model=None) -> dict:
    """``{"torch_rng": CPU generator state[, "cuda_rng": [state per device]]}``."""
    state = {"torch_rng": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def restore(model, saved: dict, path: str) -> None:
    """Set the generators from a :func:`snapshot` (keys absent from an older checkpoint are left alone;
    CUDA states of another device count are skipped with a warning, as other unfit state is)."""
    if "torch_rng" in saved:
        torch.set_rng_state(saved["torch_rng"])
    cuda = saved.get("cuda_rng")
    if cuda is not None and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            warnings.warn(f"checkpoint {path!r}: its CUDA random state is for {len(cuda)} device(s), this run has "
                          f"{torch.cuda.device_count()}; dropout draws will differ from the interrupted run",
                          stacklevel=2)
