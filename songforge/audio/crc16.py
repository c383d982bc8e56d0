"""CRC-16 as the LAME tag uses it (polynomial 0x8005 reflected, initial value 0).

The LAME tag carries two: one over the audio frames ("music CRC") and one over
the tag frame itself. The music CRC runs over megabytes, too slow byte by byte
in Python, so it is computed on many slices at once with numpy and the slices'
CRCs are then joined: with initial value 0 and no final XOR this CRC is linear,
so CRC(A + B) = shift(CRC(A), len(B)) ^ CRC(B), where shift (running a CRC
through len(B) zero bytes) is itself linear and tabulated once per slice length.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

_POLY = 0xA001  # 0x8005 bit-reversed


def _byte_table() -> npt.NDArray[np.uint16]:
    table = np.zeros(256, dtype=np.uint16)
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table[value] = crc
    return table


_TABLE = _byte_table()
_TABLE_LIST = [int(v) for v in _TABLE]
# Below this many bytes the plain loop is fast enough and simpler.
_VECTOR_MIN = 4096
# Bytes per slice: numpy steps per call; the slices are joined in a Python loop.
# 256 balances the two for files of a few megabytes (about 60 ms for 4 MB here).
_SLICE_BYTES = 256


def _crc_loop(data: bytes, crc: int = 0) -> int:
    table = _TABLE_LIST
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


@cache
def _zero_shift_tables(length: int) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16]]:
    """Tables for running a CRC through ``length`` zero bytes: low byte, high byte."""
    # Every possible low byte (high byte 0) and high byte (low byte 0), all at once.
    values = np.concatenate([np.arange(256), np.arange(256) << 8]).astype(np.uint16)
    for _ in range(length):
        values = (values >> 8) ^ _TABLE[values & 0xFF]
    return values[:256], values[256:]


def crc16(data: bytes) -> int:
    """CRC-16/ARC of ``data``, as LAME's CRC_update_lookup computes it from 0."""
    if len(data) < _VECTOR_MIN:
        return _crc_loop(data)
    width = _SLICE_BYTES
    slices = len(data) // width
    body = np.frombuffer(data, dtype=np.uint8, count=slices * width).reshape(slices, width)
    crcs = np.zeros(slices, dtype=np.uint16)
    for column in range(width):
        crcs = (crcs >> 8) ^ _TABLE[(crcs ^ body[:, column]) & 0xFF]
    low, high = (table.tolist() for table in _zero_shift_tables(width))
    crc = 0
    for part in crcs.tolist():
        crc = low[crc & 0xFF] ^ high[crc >> 8] ^ part
    return _crc_loop(data[slices * width :], crc)
