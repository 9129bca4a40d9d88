"""TensorFlow's C++ start-up chatter never reaches dlae's users; real errors still do."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("tensorflow")

from dlae_tensorflow import _is_chatter  # noqa: E402


@pytest.mark.parametrize("line,level,dropped", [
    ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n", 2, True),
    ("I0000 00:00:1795735310.142697    9443 port.cc:153] oneDNN custom operations are on.\n", 2, True),
    ("2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] Could not find\n", 1, True),
    ("W0000 00:00:1758131045.228 3722035 computation_placer.cc:177] computation placer already registered\n",
     2, True),
    ("W0000 00:00:1758131045.228 3722035 computation_placer.cc:177] computation placer already registered\n",
     1, False),
    ("E0000 00:00:1758131045.203198 3722035 cuda_dnn.cc:8579] Unable to register cuDNN factory\n", 2, False),
    ("Traceback (most recent call last):\n", 3, False),
    ("Illegal instruction\n", 3, False),
])
def test_is_chatter_follows_the_log_level(line, level, dropped):
    assert _is_chatter(line, level) is dropped


def test_loading_the_backend_prints_nothing():
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    code = "import dlae_tensorflow as t; k = t.require_tensorflow_keras(); print(k.backend.backend())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tensorflow\n"
    assert result.stderr == ""


FAKE_KERAS = '''import os
os.write(2, b"I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on.\\n")
os.write(2, b"2025-09-17 14:44:05.157831: F tensorflow/core/platform/cpu_feature_guard.cc:1] needs AVX\\n")
if os.environ.get("FAKE_MODE") == "abort":
    os.abort()
raise ImportError("libcudnn.so.9: cannot open shared object file")
'''


@pytest.mark.parametrize("mode", ["abort", "exception"])
def test_a_fatal_line_reaches_the_user_even_when_the_import_aborts(tmp_path, mode):
    """TensorFlow's own fatal messages (then abort(), or an ImportError) pass the filter; its chatter does not."""
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "__init__.py").write_text(FAKE_KERAS)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    env["FAKE_MODE"] = mode
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import dlae_tensorflow as t; t.require_tensorflow_keras()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0
    assert "F tensorflow/core/platform/cpu_feature_guard.cc:1] needs AVX" in result.stderr
    assert "oneDNN" not in result.stderr
    if mode == "exception":
        assert "ImportError: libcudnn.so.9" in result.stderr
