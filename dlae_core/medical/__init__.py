"""Medical data in and models out: reading NIfTI, DICOM series and PNG/JPEG/TIFF images
(``dlae data import``), writing predictions back as NIfTI or PNG, sliding-window inference, and
exporting models to ONNX with a sidecar that lets them run without dlae (``dlae export``).

The readers use the field's own libraries, installed as the optional extras ``dlae[medical]``
(nibabel, pydicom, Pillow) and ``dlae[export]`` (onnx, onnxruntime, tf2onnx); they are imported
only when a command needs them, so ``dlae --help`` and ``dlae validate`` never do.
"""

from __future__ import annotations

import importlib

from dlae_core.errors import MissingExtraError


# module -> (pip extra, what it is for)
EXTRAS = {
    "nibabel": ("medical", "NIfTI files"),
    "pydicom": ("medical", "DICOM series"),
    "PIL": ("medical", "PNG, JPEG and TIFF images"),
    "onnx": ("export", "ONNX export"),
    "onnxruntime": ("export", "ONNX models"),
    "tf2onnx": ("export", "ONNX export from TensorFlow"),
}


def require(module: str):
    """Import ``module`` or raise MissingExtraError saying which ``pip install "dlae[...]"`` adds it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra, purpose = EXTRAS.get(module, ("all", module))
        raise MissingExtraError(f"{purpose} need the Python package {module!r}, which is not installed; "
                                f'install it with: pip install "dlae[{extra}]"') from None
