"""Writing outputs safely: never overwrite silently, replace files atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from dlae_core.errors import OutputExistsError


def ensure_writable(path: str | Path, *, overwrite: bool, what: str = "output") -> Path:
    """Refuse an existing ``path`` unless ``overwrite``; create its parent folders."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{what} {str(path)!r} already exists; pass --overwrite to replace it "
                                f"or choose another path")
    if path.is_dir():
        raise OutputExistsError(f"{what} {str(path)!r} is a folder; give a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``
    (a crash never leaves a half-written file under the final name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp creates the file 0600; give it the mode any other tool would (0666 less the umask)
    os.chmod(tmp, 0o666 & ~current_umask())
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def sibling(path: str | Path, tag: str) -> Path:
    """``out/model.pt`` -> ``out/model.<tag>.pt``: a file beside an output (keep_better writes this run's
    model there instead of replacing a better earlier one); the extension kept, so it still says what it is."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{tag}{path.suffix}")


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str, *, overwrite: bool) -> Path:
    ensure_writable(path, overwrite=overwrite)
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
