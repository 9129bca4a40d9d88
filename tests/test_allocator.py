"""dlae run keeps freed memory in the process (glibc malloc thresholds), unless the user decides."""

from __future__ import annotations

import ctypes.util
import json
import os
import platform
import subprocess
import sys

import pytest
from click.testing import CliRunner

import dlae_core.cli.run_commands as run_commands
import dlae_core.running.allocator
from dlae_core.cli.main import cli
from dlae_core.running.allocator import keep_freed_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# A step-like pattern: one large block freed (glibc then raises its thresholds to 20 / 40 MB), then ten
# rounds of three 15 MB blocks written and freed. With glibc's defaults the 45 MB freed on top of the
# heap exceeds the 40 MB trim threshold and goes back to the kernel every round (~11,500 fresh pages
# each); kept, only the first round faults its pages in.
PROBE = """
import ctypes, resource, sys
from dlae_core.running.allocator import keep_freed_memory
kept = keep_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, (ctypes.c_size_t,), (ctypes.c_void_p,)
MB = 1024 * 1024
libc.free(libc.malloc(20 * MB))
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    blocks = [libc.malloc(15 * MB) for _ in range(3)]
    for block in blocks:
        ctypes.memset(block, 1, 15 * MB)
    for block in reversed(blocks):
        libc.free(block)
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def probe(**env) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES", "DLAE_MALLOC"))}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                          check=True)
    kept, faults = done.stdout.split()
    return kept, int(faults)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_freed_memory_is_kept_and_not_faulted_in_again():
    kept, faults = probe()
    system, system_faults = probe(DLAE_MALLOC="system")
    assert (kept, system) == ("True", "False")
    pages = 45 * 1024 * 1024 // 4096
    assert system_faults > 5 * pages  # glibc's defaults hand the 45 MB back each round
    assert faults < 2 * pages  # kept: paged in once


@pytest.mark.parametrize("env", [{"DLAE_MALLOC": "system"}, {"DLAE_MALLOC": " System "},
                                 {"MALLOC_ARENA_MAX": "2"}, {"MALLOC_TRIM_THRESHOLD_": "0"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"},
                                 {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"},
                                 {"LD_PRELOAD": "libtcmalloc_minimal.so.4"}])
def test_the_users_own_settings_win(env):
    assert keep_freed_memory(env) is False


@pytest.mark.skipif(not GLIBC or not ctypes.util.find_library("c"), reason="glibc's malloc only")
def test_set_by_default_on_glibc():
    assert keep_freed_memory({}) is True
    assert keep_freed_memory({"DLAE_MALLOC": "glibc-tuned", "LD_PRELOAD": "libfoo.so"}) is True


def test_nothing_outside_glibc(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert keep_freed_memory({}) is False


def test_dlae_run_sets_it_before_loading_anything(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    assert CliRunner().invoke(cli, ["example", "cnn", str(tmp_path)]).exit_code == 0
    config_path = tmp_path / "config.json"
    config = json.loads(config_path.read_text())
    config["training_configurations"]["epochs"] = "1"
    config_path.write_text(json.dumps(config))
    calls = []
    monkeypatch.setattr(dlae_core.running.allocator, "keep_freed_memory", lambda: calls.append("allocator"))
    load = run_commands.load_and_plan
    monkeypatch.setattr(run_commands, "load_and_plan", lambda *a, **k: calls.append("load") or load(*a, **k))
    result = CliRunner().invoke(cli, ["run", "--backend", "torch", str(config_path), "--quiet", "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert calls == ["allocator", "load"]
