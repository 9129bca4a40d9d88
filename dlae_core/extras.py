"""dlae's optional extras: which modules each needs, whether it is usable here, and the one error
line that names the pip install when a session asks for one that is missing.

Nothing is imported to answer "is it usable": ``importlib.util.find_spec`` only finds the module,
so ``dlae info`` stays fast and never starts a framework.
"""

from __future__ import annotations

import importlib.util

from dlae_core.errors import MissingExtraError

#: extra -> (import names it needs, what it is for)
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "torch": (("torch",), "the PyTorch backend"),
    "tensorflow": (("tensorflow",), "the TensorFlow backend (extra tensorflow-gpu: the CUDA build)"),
    "report": (("PIL", "tensorboardX"), "pictures, report.html, TensorBoard logs, GAN previews"),
    "gui": (("flask",), "dlae gui"),
    "medical": (("nibabel", "pydicom", "PIL"), "dlae data import, images written back"),
    "export": (("onnx", "onnxruntime"), "dlae export, predicting with exported models"),
    "mlflow": (("mlflow",), "dlae run --mlflow URI: the session logged to MLflow"),
}


def missing_modules(extra: str) -> list[str]:
    """The import names of ``extra`` that are not installed."""
    modules, _ = EXTRAS[extra]
    return [name for name in modules if not _installed(name)]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or half-removed package
        return False


def install_hint(extra: str) -> str:
    return f'pip install "dlae[{extra}]"'


def require(extra: str, purpose: str) -> None:
    """MissingExtraError naming the pip install when ``extra`` is not usable; ``purpose`` says what
    needed it, e.g. "TensorBoard logs (save_tensorboard_switch)"."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(f"{purpose} need(s) {', '.join(missing)}, which is not installed; "
                                f"run: {install_hint(extra)}")
