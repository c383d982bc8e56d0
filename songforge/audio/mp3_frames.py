"""A small MPEG audio frame-header reader, used to check what the encoder wrote.

It walks the stream frame by frame (skipping an ID3v2 tag) and reports the
sample rate, the set of bitrates seen and the channel mode, so tests and the
worker can verify output against the contract without trusting the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

# bitrate tables in kbps, index 1..14
_L3_MPEG1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_L3_MPEG2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True)
class Mp3Info:
    sample_rate: int
    channels: int
    frames: int
    bitrates_kbps: frozenset[int]
    duration_seconds: float


def read_mp3_info(data: bytes) -> Mp3Info:
    """Parse every frame header; raise ValueError if the data is not MPEG Layer III."""
    pos = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
        pos = 10 + size
    rates: set[int] = set()
    bitrates: set[int] = set()
    channels = 0
    frames = 0
    samples = 0
    while pos + 4 <= len(data):
        b1, b2, b3 = data[pos + 1], data[pos + 2], data[pos + 3]
        if data[pos] != 0xFF or (b1 & 0xE0) != 0xE0:
            pos += 1
            continue
        version = (b1 >> 3) & 0x3
        layer = (b1 >> 1) & 0x3
        bitrate_index = (b2 >> 4) & 0xF
        rate_index = (b2 >> 2) & 0x3
        if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
            pos += 1
            continue
        padding = (b2 >> 1) & 0x1
        rate = _RATES[version][rate_index]
        kbps = (_L3_MPEG1 if version == 3 else _L3_MPEG2)[bitrate_index]
        per_frame = 1152 if version == 3 else 576
        length = (144 if version == 3 else 72) * kbps * 1000 // rate + padding
        rates.add(rate)
        bitrates.add(kbps)
        channels = 1 if (b3 >> 6) == 3 else 2
        frames += 1
        samples += per_frame
        pos += length
    if not frames:
        raise ValueError("no MPEG Layer III frames found")
    if len(rates) != 1:
        raise ValueError(f"mixed sample rates in stream: {sorted(rates)}")
    rate = rates.pop()
    return Mp3Info(
        sample_rate=rate,
        channels=channels,
        frames=frames,
        bitrates_kbps=frozenset(bitrates),
        duration_seconds=samples / rate,
    )
