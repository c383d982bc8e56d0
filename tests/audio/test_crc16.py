"""The LAME tag's CRC-16: the standard check value, and the fast path equals the plain one."""

from __future__ import annotations

import os

import pytest

from songforge.audio.crc16 import _crc_loop, crc16


def test_check_value() -> None:
    # CRC-16/ARC's published check value (the CRC of the ASCII digits 1-9).
    assert crc16(b"123456789") == 0xBB3D


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 100_003, 1_048_576])
def test_sliced_numpy_path_matches_byte_loop(size: int) -> None:
    data = os.urandom(size)
    assert crc16(data) == _crc_loop(data)
