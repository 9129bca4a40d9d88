"""dlae's TensorFlow (Keras 3) backend.

Importing this package does not import tensorflow; the plugin module (``dlae_tensorflow.plugin``)
registers the backend (``dlae_tensorflow.backend``) and its implementations as lazy references, so
the framework is imported only when the tensorflow backend is used. Every module that uses keras
gets it from :func:`require_tensorflow_keras`, which makes Keras run on TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys

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
        from dlae_core.errors import BackendUnavailableError

        raise BackendUnavailableError(f"the tensorflow backend needs Keras on TensorFlow, but keras was already imported "
                           f"with the {running!r} backend (unset KERAS_BACKEND or set it to 'tensorflow')")
    return keras


# "I0000 00:00:1795.. 9443 port.cc:153] ..." (absl) or "2025-09-17 14:44:05.157831: I external/..." (TF)
_LOG_LINE = r"^(?:\d{4}-\d\d-\d\d [\d:.]+: )?([IWEF])(?:\d{4} | )"
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"

# The relay runs in its own small process (python -I: no site, no dlae), so whatever TensorFlow writes
# just before an abort() or a crash during its import still reaches the user: the kernel keeps the pipe's
# data and the relay writes it out when it sees the end of the pipe.
_RELAY = f"""
import re, sys
level = int(sys.argv[1])
pattern = re.compile({_LOG_LINE!r})
for raw in sys.stdin.buffer:
    line = raw.decode(errors="replace")
    if line.startswith({_ABSL_PREAMBLE!r}):
        drop = level >= 1
    else:
        match = pattern.match(line)
        drop = bool(match) and "IWEF".index(match.group(1)) < level
    if not drop:
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
"""


def _is_chatter(line: str, level: int) -> bool:
    """Whether the relay drops ``line`` at TF_CPP_MIN_LOG_LEVEL ``level`` (the same rule, in-process)."""
    if line.startswith(_ABSL_PREAMBLE):
        return level >= 1
    match = re.match(_LOG_LINE, line)
    return bool(match) and "IWEF".index(match.group(1)) < level


@contextlib.contextmanager
def _without_startup_chatter():
    """TensorFlow's C++ start-up lines (oneDNN notes, absl's preamble) reach file descriptor 2 before
    TF_CPP_MIN_LOG_LEVEL applies to them: while keras/tensorflow load, fd 2 goes through a relay that
    drops the lines below that level and passes every other line on at once (errors and fatal
    messages always reach the user, even when the import aborts the process)."""
    try:
        level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        level = 0
    if level <= 0 or "tensorflow" in sys.modules:
        yield
        return
    import subprocess

    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    try:
        relay = subprocess.Popen([sys.executable, "-I", "-c", _RELAY, str(level)], stdin=read_end, stdout=saved,
                                 stderr=subprocess.DEVNULL)
    except OSError:  # no relay possible: let everything through
        for fd in (read_end, write_end, saved):
            os.close(fd)
        yield
        return
    os.close(read_end)
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer closes: the relay drains it and exits
        os.close(saved)
        try:
            relay.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a process started during the import still holds the pipe
            pass
