"""Find the ImageNet weights file of a pretrained network, or download it once.

The weights folder is ``$DLAE_WEIGHTS_DIR``, by default Keras' own cache folder
(``$KERAS_HOME/models``, else ``~/.keras/models``), so a file a user already fetched with
``keras.applications`` is used as it is.  A missing file is downloaded from the URL Keras uses, or from
``$DLAE_WEIGHTS_BASE_URL`` + file name (a mirror, for clusters without internet), into a temporary file
in the same folder, checked against its hash and then moved into place atomically, so the folder never
holds a half-written weights file under the real name -- not even after Ctrl-C.

Standard library only (``urllib``) plus rich for the progress bar; no deep-learning framework.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from dlae_core.errors import ModelFileError, did_you_mean
from dlae_core.pretrained.weight_files import NETWORK_NAMES, WEIGHT_FILES, WeightFile

__all__ = ["WeightsDownloadError", "find_weights", "weight_file", "weights_dir", "weights_url",
           "WEIGHTS_DIR_ENV", "BASE_URL_ENV"]

WEIGHTS_DIR_ENV = "DLAE_WEIGHTS_DIR"
BASE_URL_ENV = "DLAE_WEIGHTS_BASE_URL"

#: seconds one blocking network operation (connect, one read) may take; urllib's timeout is per
#: operation, not for the whole download, so a slow but alive connection of a 550 MB file is fine
TIMEOUT_S = 60.0
_CHUNK = 1 << 20


class WeightsDownloadError(ModelFileError):
    """A pretrained weights file cannot be found, downloaded, verified or written (or the network
    name is unknown).  The message is one line naming the file, the URL and the folder."""


# ------------------------------------------------------------------------------------------ lookups

def weight_file(network: str, include_top: bool) -> WeightFile:
    """The table entry of ``network`` (e.g. ``"ResNet50"``) with or without the ImageNet classifier."""
    entry = WEIGHT_FILES.get((network, bool(include_top)))
    if entry is None:
        suggestion = did_you_mean(network, NETWORK_NAMES)
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        raise WeightsDownloadError(f"unknown pretrained network {network!r}: expected one of "
                                   f"{', '.join(NETWORK_NAMES)}{hint}")
    return entry


def weights_dir() -> Path:
    """The folder weights files are looked for and downloaded into: ``$DLAE_WEIGHTS_DIR``, else Keras'
    cache folder ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    explicit = os.environ.get(WEIGHTS_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    keras_home = os.environ.get("KERAS_HOME")
    if keras_home:
        return Path(keras_home).expanduser() / "models"
    home = Path("~").expanduser()
    # Keras' own rule: an unwritable home puts its cache under /tmp, so look where Keras wrote
    base = home if os.access(home, os.W_OK) else Path(tempfile.gettempdir())
    return base / ".keras" / "models"


def weights_url(entry: WeightFile) -> str:
    """Where ``entry`` is downloaded from: ``$DLAE_WEIGHTS_BASE_URL`` + file name if set (a mirror
    holding the files flat, under Keras' names), else Keras' URL."""
    mirror = os.environ.get(BASE_URL_ENV)
    if mirror:
        return mirror.rstrip("/") + "/" + entry.file_name
    return entry.url


# ------------------------------------------------------------------------------------------ hashing

def _hasher(expected: str | None):
    """A fresh hash object of the kind Keras would use for ``expected`` (64 hex digits: sha256)."""
    return hashlib.sha256() if expected is not None and len(expected) == 64 else hashlib.md5()


def _hash_name(expected: str) -> str:
    return "sha256" if len(expected) == 64 else "md5"


# (path, size, mtime_ns, expected hash) of files verified in this process.  A found file is hashed
# once per process (~1-2 s for the largest, 550 MB file) rather than trusted from a sidecar record:
# nothing extra is written into Keras' cache folder, and a file replaced behind our back changes its
# size or mtime and is hashed again.
_VERIFIED: set[tuple[str, int, int, str]] = set()


def _file_digest(path: Path, expected: str) -> str:
    digest = _hasher(expected)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified_key(path: Path, expected: str) -> tuple[str, int, int, str]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns, expected.lower())


# ------------------------------------------------------------------------------------------ messages

def _one_line(reason: object) -> str:
    return " ".join(str(reason).split())


def _download_failed(entry: WeightFile, url: str, folder: Path, reason: object) -> WeightsDownloadError:
    return WeightsDownloadError(
        f"could not download {entry.file_name} from {url} into {folder}: {_one_line(reason)}; "
        f"download it by hand into {folder} or set {BASE_URL_ENV} to a mirror")


def _not_writable(entry: WeightFile, url: str, folder: Path, reason: object) -> WeightsDownloadError:
    return WeightsDownloadError(
        f"cannot write {entry.file_name} into {folder}: {_one_line(reason)}; set {WEIGHTS_DIR_ENV} to a "
        f"writable folder, or download {url} by hand into a folder and set {WEIGHTS_DIR_ENV} to it")


def _network_reason(exc: BaseException) -> str:
    """What went wrong with the connection, in a few words."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        if not isinstance(exc.reason, BaseException):
            return _one_line(exc.reason)
        exc = exc.reason
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError since Python 3.10
        return f"no answer within {TIMEOUT_S:g} s"
    return _one_line(exc) or type(exc).__name__


# ------------------------------------------------------------------------------------------ progress

def _stderr_is_terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class _Report:
    """Progress of one download: a rich bar on a terminal, else one line (or nothing)."""

    def __init__(self, show: bool, entry: WeightFile, url: str, folder: Path, total: int | None):
        self._progress = None
        self._task = None
        if not show:
            return
        if not _stderr_is_terminal():
            print(f"downloading {entry.file_name} from {url} into {folder}", file=sys.stderr, flush=True)
            return
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                   TimeRemainingColumn, TransferSpeedColumn)
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), TimeRemainingColumn(),
                                  console=Console(file=sys.stderr), transient=False)
        self._task = self._progress.add_task(f"downloading {entry.file_name}", total=total)

    def __enter__(self) -> _Report:
        if self._progress is not None:
            self._progress.start()
        return self

    def advance(self, size: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=size)

    def __exit__(self, *exc_info) -> None:
        if self._progress is not None:
            self._progress.stop()


# ------------------------------------------------------------------------------------------ download

def _content_length(response) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _read_chunk(response, entry: WeightFile, url: str, folder: Path) -> bytes:
    try:
        return response.read(_CHUNK)
    except (OSError, http.client.HTTPException) as exc:
        raise _download_failed(entry, url, folder, _network_reason(exc)) from exc


def _write_chunk(out: BinaryIO, chunk: bytes, entry: WeightFile, url: str, folder: Path) -> None:
    try:
        out.write(chunk)
    except OSError as exc:  # a full disk, a quota
        raise _not_writable(entry, url, folder, exc) from exc


def _flush(out: BinaryIO, entry: WeightFile, url: str, folder: Path) -> None:
    # on disk before the rename, so a crash cannot leave an empty file under the real name
    try:
        out.flush()
        os.fsync(out.fileno())
    except OSError as exc:
        raise _not_writable(entry, url, folder, exc) from exc


def _fetch(entry: WeightFile, url: str, folder: Path, out: BinaryIO, show: bool) -> str:
    """Stream ``url`` into ``out``, hashing on the way; returns the hex digest."""
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: a malformed URL
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # an HTTPError holds the open error response
        raise _download_failed(entry, url, folder, _network_reason(exc)) from exc
    digest, received = _hasher(entry.file_hash), 0
    with response:
        total = _content_length(response)
        with _Report(show, entry, url, folder, total) as report:
            while chunk := _read_chunk(response, entry, url, folder):
                _write_chunk(out, chunk, entry, url, folder)
                digest.update(chunk)
                received += len(chunk)
                report.advance(len(chunk))
    _flush(out, entry, url, folder)
    if total is not None and received != total:
        raise _download_failed(entry, url, folder,
                               f"the connection closed after {received} of {total} bytes")
    return digest.hexdigest()


def _open_temp(entry: WeightFile, url: str, folder: Path) -> tuple[Path, BinaryIO]:
    """A new temporary file next to the target (same file system, so ``os.replace`` is atomic)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # not tempfile.mkstemp: its 0600 would make the file private in a shared cache folder;
        # os.open with 0666 honours the umask, as the file Keras writes does
        temp = folder / f".{entry.file_name}.{secrets.token_hex(8)}.part"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise _not_writable(entry, url, folder, exc) from exc
    return temp, os.fdopen(fd, "wb")


def _check_download(entry: WeightFile, url: str, folder: Path, actual: str) -> None:
    expected = entry.file_hash
    if expected is not None and actual != expected.lower():
        raise _download_failed(entry, url, folder, f"the downloaded file's {_hash_name(expected)} is "
                               f"{actual}, expected {expected} (a broken or different file)")


def _download(entry: WeightFile, url: str, folder: Path, target: Path, show: bool) -> None:
    temp, out = _open_temp(entry, url, folder)
    try:
        with out:
            actual = _fetch(entry, url, folder, out, show)
        _check_download(entry, url, folder, actual)
        try:
            os.replace(temp, target)
        except OSError as exc:
            raise _not_writable(entry, url, folder, exc) from exc
    except BaseException:  # KeyboardInterrupt too: never leave a partial file behind
        temp.unlink(missing_ok=True)
        raise
    if entry.file_hash is not None:
        _VERIFIED.add(_verified_key(target, entry.file_hash))


def _check_found(entry: WeightFile, path: Path, folder: Path) -> None:
    """Verify a file that was already in the folder; a corrupt one is reported, never replaced
    silently (it may be a file the user put there on purpose)."""
    expected = entry.file_hash
    if expected is None:
        return
    key = _verified_key(path, expected)
    if key in _VERIFIED:
        return
    actual = _file_digest(path, expected)
    if actual != expected.lower():
        raise WeightsDownloadError(
            f"{entry.file_name} in {folder} is not the expected weights file: its {_hash_name(expected)} "
            f"is {actual}, expected {expected} (an incomplete or different file); delete {path} to "
            f"download it again from {weights_url(entry)}, or replace it with that file")
    _VERIFIED.add(key)


def find_weights(network: str, include_top: bool, *, progress: bool = True) -> Path:
    """Path of the ImageNet weights file of ``network`` (a name of
    :data:`~dlae_core.pretrained.weight_files.NETWORK_NAMES`), with (``include_top``) or without the
    ImageNet classifier.

    A file already in :func:`weights_dir` is verified against its hash and used; a missing one is
    downloaded once from :func:`weights_url`.  ``progress`` shows a progress bar on a terminal (one
    line on stderr otherwise).  Raises :class:`WeightsDownloadError` (one line naming file, URL and
    folder) when the file cannot be found, downloaded, verified or written.
    """
    entry = weight_file(network, include_top)
    folder = weights_dir()
    target = folder / entry.file_name
    if target.is_file():
        _check_found(entry, target, folder)
        return target
    _download(entry, weights_url(entry), folder, target, progress)
    return target
