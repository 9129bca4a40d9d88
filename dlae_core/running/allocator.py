"""Keep freed memory in the process during a run instead of handing it back to the kernel each step.

glibc's malloc gives large freed blocks back to the kernel (``munmap``, heap trimming) and adapts
its thresholds to the order of past allocations. A training step allocates and frees the same
few-megabyte tensors (activations, gradients, im2col buffers) every batch, so depending on that
order a CPU run re-faults hundreds of thousands of fresh pages per epoch: measured on the digits CNN
of benchmarks/wall_time.py (one thread, 10 epochs) 0.5-2.1 million minor page faults and 1.2-3.4 s
of system time per run, varying from run to run, against 80 thousand and 0.27 s with the settings
below. The settings are fixed thresholds, so the count no longer depends on the allocation order.

What it costs: up to ``TRIM_THRESHOLD`` of freed memory stays with the process until it ends.
A user's own settings win: nothing changes when glibc's ``MALLOC_*_`` variables or
``GLIBC_TUNABLES`` are set, or another allocator (jemalloc, tcmalloc) is preloaded; ``DLAE_MALLOC=system``
keeps glibc's defaults. Outside glibc (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# glibc's mallopt parameter numbers (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3

MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed on 64-bit: blocks above it are still mapped
TRIM_THRESHOLD = 256 * 1024 * 1024
TOP_PAD = 64 * 1024 * 1024

USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX",
                 "GLIBC_TUNABLES")


def keep_freed_memory(environ=os.environ) -> bool:
    """Set glibc's malloc thresholds for a training or prediction process; True when they were set.

    Called once at the start of ``dlae run``/``dlae predict`` (experiments and sweep trials run through
    them); forked loader workers inherit it.
    """
    if not _ours_to_set(environ):
        return False
    libc = _glibc()
    if libc is None:
        return False
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))
    # mallopt returns 1 on success; a refused value leaves glibc's default for that parameter
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in settings)


def _ours_to_set(environ) -> bool:
    if environ.get("DLAE_MALLOC", "").strip().lower() == "system":
        return False
    if any(environ.get(name) for name in USER_SETTINGS):
        return False
    preloaded = environ.get("LD_PRELOAD", "").lower()
    return not any(name in preloaded for name in ("jemalloc", "tcmalloc", "mimalloc"))


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # only glibc has it (musl does not): the check, not called
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    return libc
