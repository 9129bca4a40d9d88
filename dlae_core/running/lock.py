"""Exclusive locks on a run's outputs for the run's lifetime: a second dlae run (or prediction)
that would write the same files stops at once with a line naming the first one's PID, instead of
interleaving its history and replacing the other's model.

A lock is ``fcntl.flock`` on a small hidden file beside each output (``.<name>.dlae-lock``, holding
the owner's PID), removed when the run ends; the kernel releases it if the process dies, so a
killed run never blocks the next one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from dlae_core.errors import OutputExistsError

try:  # POSIX; elsewhere runs are not locked against each other
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def lock_path(output: Path) -> Path:
    return output.parent / f".{output.name}.dlae-lock"


@contextlib.contextmanager
def hold_locks(outputs: Iterable[str | Path], what: str = "run") -> Iterator[None]:
    """Hold an exclusive lock for every path of ``outputs`` (parents created) until the block ends;
    OutputExistsError naming the holder's PID when another process holds one."""
    paths = sorted({Path(os.path.realpath(os.path.expanduser(str(p)))) for p in outputs})
    held: list[tuple[Path, int]] = []
    created = _missing_folders(paths)  # removed again if the run leaves them empty
    try:
        for output in paths:
            held.append((lock_path(output), _acquire(output, what)))
        for output in paths:
            remove_stale_temporaries(output)
        yield
    finally:
        for path, fd in reversed(held):
            _release(path, fd)
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds when empty


def _missing_folders(paths: list[Path]) -> list[Path]:
    """The folders that holding locks beside ``paths`` creates, deepest first."""
    missing: set[Path] = set()
    for path in paths:
        folder = path.parent
        while not folder.exists():
            missing.add(folder)
            folder = folder.parent
    return sorted(missing, key=lambda f: len(f.parts), reverse=True)


def remove_stale_temporaries(output: Path) -> None:
    """Delete what an interrupted atomic write of ``output`` left (``.<name>.*.tmp``, see
    dlae_core.running.outputs.write_atomic); only called while holding ``output``'s lock."""
    if output.parent.is_dir():
        for stale in output.parent.glob(f".{output.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()


def _acquire(output: Path, what: str) -> int:
    path = lock_path(output)
    while True:
        try:  # also the check, before any work, that the output's folder can be written
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputExistsError(f"cannot write {str(output)!r}: {exc.strerror or exc} "
                                    f"({str(exc.filename or output)!r}); choose a folder you can write to") from None
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise OutputExistsError(f"another dlae {what} (PID {holder}) is writing {str(output)!r}; wait for "
                                    f"it to finish or choose other output paths") from None
        # the file may have been removed by its previous holder between our open and our lock
        if _same_file(fd, path):
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _release(path: Path, fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # while still holding the lock, so no one else locks a file about to vanish
    os.close(fd)
