"""A minimal TensorBoard scalar writer (event files are TFRecords of Event protos).

Written here so both backends log identically without pulling in TensorFlow or the
tensorboard package. Format facts: each record is [uint64 length][masked crc32c of the
length][data][masked crc32c of the data]; Event{wall_time=1 (double), step=2 (int64),
file_version=3 (string), summary=5}; Summary{value=1}; Value{tag=1 (string), simple_value=2 (float)}.
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return _varint((number << 3) | wire) + payload


def _bytes_field(number: int, data: bytes) -> bytes:
    return _field(number, 2, _varint(len(data)) + data)


def encode_event(step: int, wall_time: float, scalars: dict[str, float] | None = None,
                 file_version: str | None = None) -> bytes:
    event = _field(1, 1, struct.pack("<d", wall_time)) + _field(2, 0, _varint(step))
    if file_version is not None:
        event += _bytes_field(3, file_version.encode())
    if scalars:
        values = b"".join(
            _bytes_field(1, _bytes_field(1, tag.encode()) + _field(2, 5, struct.pack("<f", float(value))))
            for tag, value in scalars.items()
        )
        event += _bytes_field(5, values)
    return event


def frame(record: bytes) -> bytes:
    length = struct.pack("<Q", len(record))
    return length + struct.pack("<I", _masked(crc32c(length))) + record + struct.pack("<I", _masked(crc32c(record)))


class ScalarWriter:
    """Append scalars to ``<logdir>/events.out.tfevents.<time>.<host>``; flushed per epoch.
    ``fresh`` removes the event files already in ``logdir`` (a replaced run, not a continued one:
    TensorBoard would otherwise merge the old and the new curves)."""

    def __init__(self, logdir: str | Path, *, fresh: bool = False):
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        if fresh:
            for old in self.logdir.glob("events.out.tfevents.*"):
                if old.is_file():
                    old.unlink()
        now = time.time()
        self.path = self.logdir / f"events.out.tfevents.{int(now)}.{socket.gethostname()}.dlae"
        with open(self.path, "wb") as handle:
            handle.write(frame(encode_event(0, now, file_version="brain.Event:2")))

    def add_scalars(self, step: int, scalars: dict[str, float]) -> None:
        with open(self.path, "ab") as handle:
            handle.write(frame(encode_event(step, time.time(), scalars)))


def read_scalars(path: str | Path) -> list[tuple[int, dict[str, float]]]:
    """Decode the scalars of an event file written by :class:`ScalarWriter` (for tests and tools)."""
    data, out, pos = Path(path).read_bytes(), [], 0
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        record = data[pos + 12: pos + 12 + length]
        (crc,) = struct.unpack_from("<I", data, pos + 12 + length)
        if crc != _masked(crc32c(record)):
            raise ValueError(f"corrupt record at byte {pos} of {path}")
        pos += 16 + length
        step, scalars = _decode_event(record)
        if scalars:
            out.append((step, scalars))
    return out


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes):
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            length, pos = _read_varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        yield number, value


def _decode_event(record: bytes) -> tuple[int, dict[str, float]]:
    step, scalars = 0, {}
    for number, value in _fields(record):
        if number == 2:
            step = value
        elif number == 5:
            for _, item in _fields(value):
                parts = dict(_fields(item))
                scalars[parts[1].decode()] = struct.unpack("<f", parts[2])[0]
    return step, scalars
