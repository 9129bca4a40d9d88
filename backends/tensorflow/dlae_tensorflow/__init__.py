"""dlae's TensorFlow (Keras 3) backend.

Importing this package does not import tensorflow; the plugin module (``dlae_tensorflow.plugin``)
imports the framework only when the tensorflow backend's builders are requested. Every module that
uses keras gets it from :func:`require_tensorflow_keras`, which makes Keras run on TensorFlow.
"""

from __future__ import annotations

import os
import sys

# TensorFlow's C++ start-up chatter is not for dlae's users; their own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def require_tensorflow_keras():
    """Select the TensorFlow backend of Keras 3 (unless keras is already imported) and return the
    ``keras`` module; BackendError when keras was already loaded on another backend."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras

    running = keras.backend.backend()
    if running != "tensorflow":
        from dlae_core.errors import BackendError

        raise BackendError(f"the tensorflow backend needs Keras on TensorFlow, but keras was already imported "
                           f"with the {running!r} backend (unset KERAS_BACKEND or set it to 'tensorflow')")
    return keras
