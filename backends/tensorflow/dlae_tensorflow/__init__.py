"""dlae's TensorFlow (Keras 3) backend.

Importing this package does not import tensorflow; the plugin module (``dlae_tensorflow.plugin``)
imports the framework only when the tensorflow backend's builders are requested. Every module that
uses keras gets it from :func:`require_tensorflow_keras`, which makes Keras run on TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

# TensorFlow's C++ start-up chatter is not for dlae's users; their own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def require_tensorflow_keras():
    """Select the TensorFlow backend of Keras 3 (unless keras is already imported) and return the
    ``keras`` module; BackendError when keras was already loaded on another backend."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "tensorflow"
    with _without_startup_chatter():
        import keras

    running = keras.backend.backend()
    if running != "tensorflow":
        from dlae_core.errors import BackendError

        raise BackendError(f"the tensorflow backend needs Keras on TensorFlow, but keras was already imported "
                           f"with the {running!r} backend (unset KERAS_BACKEND or set it to 'tensorflow')")
    return keras


# "I0000 00:00:1795.. 9443 port.cc:153] ..." (absl) or "2025-09-17 14:44:05.157831: I external/..." (TF)
_LOG_LINE = re.compile(r"^(?:\d{4}-\d\d-\d\d [\d:.]+: )?([IWEF])(?:\d{4} | )")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def _is_chatter(line: str, level: int) -> bool:
    if line.startswith(_ABSL_PREAMBLE):
        return level >= 1
    match = _LOG_LINE.match(line)
    return bool(match) and "IWEF".index(match.group(1)) < level


@contextlib.contextmanager
def _without_startup_chatter():
    """TensorFlow's C++ start-up lines (oneDNN notes, absl's preamble) reach file descriptor 2 before
    TF_CPP_MIN_LOG_LEVEL applies to them: catch them while keras/tensorflow load, then pass on every
    line at or above that level (errors always reach the user)."""
    try:
        level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        level = 0
    if level <= 0 or "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().decode(errors="replace").splitlines(keepends=True)
                    if not _is_chatter(line, level)]
            if kept:
                os.write(2, "".join(kept).encode())
