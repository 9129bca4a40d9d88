"""Data-loader workers die with a SIGKILLed run instead of holding its memory and files (torch)."""

import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch")

SCRIPT = """
import time
from dlae_torch.loader import make_loader

class Slow:
    def __len__(self):
        return 10_000
    def __getitem__(self, index):
        # after the first batches every read hangs (as on a stalled disk): torch's own watchdog,
        # which looks at the parent between items, never gets to run again
        time.sleep(0.01 if index < 8 else 600)
        return {"x": [float(index)]}

for batch in make_loader(Slow(), 4, workers=2, pin=False):
    print("batch", flush=True)
"""


def test_workers_die_when_their_run_is_killed():
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "batch"  # the workers are up
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) >= 2
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in children):
        time.sleep(0.1)
    alive = [pid for pid in children if os.path.exists(f"/proc/{pid}")
             and "Z" not in open(f"/proc/{pid}/stat").read().split()[2]]
    for pid in alive:  # do not leave hung workers behind when the test fails
        os.kill(int(pid), signal.SIGKILL)
    assert alive == []
