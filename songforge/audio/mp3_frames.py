"""A small MPEG audio reader, used to check what the encoder wrote.

It walks the stream frame by frame (skipping an ID3v2 tag) and reports the
sample rate, the set of bitrates seen and the channel mode, so tests and the
worker can verify output against the contract without trusting the encoder.
It also reads the Xing/Info header and LAME tag that songforge.audio.xing
writes into the first frame: that frame carries no audio, so it is not
counted as one, and the length it gives (with the encoder's delay and padding
taken off) is the length a gapless decoder plays.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from songforge.audio.crc16 import crc16

# bitrate tables in kbps, index 1..14
_L3_MPEG1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_L3_MPEG2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
# version bits -> sample rates by index (3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5)
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
MONO = 3  # channel-mode bits of a single-channel frame

XING_FLAG_FRAMES = 0x1
XING_FLAG_BYTES = 0x2
XING_FLAG_TOC = 0x4
XING_FLAG_QUALITY = 0x8
LAME_TAG_SIZE = 36  # after the Xing part's quality field
TOC_ENTRIES = 100


@dataclass(frozen=True)
class FrameHeader:
    """The 4-byte header of one MPEG-1/2/2.5 Layer III frame."""

    version_bits: int  # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    bitrate_index: int
    bitrate_kbps: int
    sample_rate: int
    padding: int
    channel_mode: int

    @property
    def mpeg1(self) -> bool:
        return self.version_bits == 3

    @property
    def channels(self) -> int:
        return 1 if self.channel_mode == MONO else 2

    @property
    def samples(self) -> int:
        return 1152 if self.mpeg1 else 576

    @property
    def length(self) -> int:
        """The frame's size in bytes, header included."""
        return (144 if self.mpeg1 else 72) * self.bitrate_kbps * 1000 // self.sample_rate + (
            self.padding
        )

    @property
    def side_info_length(self) -> int:
        if self.mpeg1:
            return 17 if self.channel_mode == MONO else 32
        return 9 if self.channel_mode == MONO else 17


def layer3_bitrates(version_bits: int) -> tuple[int, ...]:
    """The legal Layer III bitrates (kbps) by index for an MPEG version."""
    return _L3_MPEG1 if version_bits == 3 else _L3_MPEG2


def parse_frame_header(data: bytes, pos: int) -> FrameHeader | None:
    """The Layer III frame header at ``pos``, or None if there is none there."""
    if pos + 4 > len(data) or data[pos] != 0xFF or (data[pos + 1] & 0xE0) != 0xE0:
        return None
    b1, b2, b3 = data[pos + 1], data[pos + 2], data[pos + 3]
    version = (b1 >> 3) & 0x3
    layer = (b1 >> 1) & 0x3
    bitrate_index = (b2 >> 4) & 0xF
    rate_index = (b2 >> 2) & 0x3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    return FrameHeader(
        version_bits=version,
        bitrate_index=bitrate_index,
        bitrate_kbps=layer3_bitrates(version)[bitrate_index],
        sample_rate=_RATES[version][rate_index],
        padding=(b2 >> 1) & 0x1,
        channel_mode=b3 >> 6,
    )


def skip_id3v2(data: bytes) -> int:
    """Where the MPEG stream starts: after an ID3v2 tag, if there is one."""
    if data[:3] == b"ID3" and len(data) >= 10:
        size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
        footer = 10 if data[5] & 0x10 else 0
        return 10 + size + footer
    return 0


def iter_frames(data: bytes, start: int | None = None) -> Iterator[tuple[int, FrameHeader]]:
    """(offset, header) of every frame, resyncing byte by byte over garbage."""
    pos = skip_id3v2(data) if start is None else start
    while pos + 4 <= len(data):
        header = parse_frame_header(data, pos)
        if header is None:
            pos += 1
            continue
        yield pos, header
        pos += header.length


@dataclass(frozen=True)
class LameTag:
    """The fields of the LAME tag a player needs (gapless playback) or can check."""

    encoder: str
    # LAME's numbering: 1 = CBR, 2 = ABR, 3-5 = VBR.
    method: int
    # The ABR target, or the CBR bitrate (255 = 255 or more).
    abr_kbps: int
    # Samples the encoder added before the audio and after it.
    delay: int
    padding: int
    music_length: int
    music_crc: int
    tag_crc: int
    # Whether tag_crc matches the frame's first 190 bytes.
    tag_crc_ok: bool


@dataclass(frozen=True)
class XingHeader:
    """A Xing (variable/average bitrate) or Info (constant bitrate) header."""

    kind: Literal["Xing", "Info"]
    # Audio frames after the header frame.
    frames: int | None
    # Bytes of the whole stream, the header frame included.
    bytes: int | None
    toc: tuple[int, ...] | None
    quality: int | None
    lame: LameTag | None


def read_xing_header(data: bytes, pos: int, header: FrameHeader) -> XingHeader | None:
    """The Xing/Info header inside the frame at ``pos``, or None if it has none."""
    at = pos + 4 + header.side_info_length
    tag = data[at : at + 4]
    if tag not in (b"Xing", b"Info"):
        return None
    end = pos + header.length
    flags = int.from_bytes(data[at + 4 : at + 8], "big")
    cursor = at + 8

    def field(size: int) -> bytes:
        nonlocal cursor
        value = data[cursor : cursor + size]
        if cursor + size > end:
            raise ValueError("Xing header runs past its frame")
        cursor += size
        return value

    frames = int.from_bytes(field(4), "big") if flags & XING_FLAG_FRAMES else None
    size = int.from_bytes(field(4), "big") if flags & XING_FLAG_BYTES else None
    toc = tuple(field(TOC_ENTRIES)) if flags & XING_FLAG_TOC else None
    quality = int.from_bytes(field(4), "big") if flags & XING_FLAG_QUALITY else None
    lame = _read_lame_tag(data, pos, cursor, end)
    return XingHeader(
        kind="Xing" if tag == b"Xing" else "Info",
        frames=frames,
        bytes=size,
        toc=toc,
        quality=quality,
        lame=lame,
    )


def _read_lame_tag(data: bytes, frame_pos: int, at: int, end: int) -> LameTag | None:
    if at + LAME_TAG_SIZE > end or data[at : at + 4] != b"LAME":
        return None
    tag = data[at : at + LAME_TAG_SIZE]
    delay_padding = int.from_bytes(tag[21:24], "big")
    tag_crc = int.from_bytes(tag[34:36], "big")
    return LameTag(
        encoder=tag[:9].rstrip(b"\x00 ").decode("ascii", "replace"),
        method=tag[9] & 0x0F,
        abr_kbps=tag[20],
        delay=delay_padding >> 12,
        padding=delay_padding & 0xFFF,
        music_length=int.from_bytes(tag[28:32], "big"),
        music_crc=int.from_bytes(tag[32:34], "big"),
        tag_crc=tag_crc,
        tag_crc_ok=crc16(data[frame_pos : at + 34]) == tag_crc,
    )


@dataclass(frozen=True)
class Mp3Info:
    sample_rate: int
    channels: int
    # Audio frames (a Xing/Info header frame is not one).
    frames: int
    bitrates_kbps: frozenset[int]
    # What a decoder plays: all frames' samples, less the encoder's delay and
    # padding when a LAME tag gives them.
    duration_seconds: float
    # Bytes from the first frame (the header frame, if any) to the end of the last.
    stream_bytes: int
    # Where each audio frame starts, relative to the stream's start.
    frame_offsets: tuple[int, ...]
    xing: XingHeader | None


def read_mp3_info(data: bytes) -> Mp3Info:
    """Parse every frame header; raise ValueError if the data is not MPEG Layer III."""
    rates: set[int] = set()
    bitrates: set[int] = set()
    channels = 0
    offsets: list[int] = []
    samples = 0
    xing: XingHeader | None = None
    start = end = 0
    for pos, header in iter_frames(data):
        if not offsets and xing is None:
            start = pos
            xing = read_xing_header(data, pos, header)
            if xing is not None:
                end = pos + header.length
                rates.add(header.sample_rate)
                continue
        rates.add(header.sample_rate)
        bitrates.add(header.bitrate_kbps)
        channels = header.channels
        offsets.append(pos - start)
        samples += header.samples
        end = pos + header.length
    if not offsets:
        raise ValueError("no MPEG Layer III frames found")
    if len(rates) != 1:
        raise ValueError(f"mixed sample rates in stream: {sorted(rates)}")
    rate = rates.pop()
    if xing is not None and xing.lame is not None:
        samples = max(0, samples - xing.lame.delay - xing.lame.padding)
    return Mp3Info(
        sample_rate=rate,
        channels=channels,
        frames=len(offsets),
        bitrates_kbps=frozenset(bitrates),
        duration_seconds=samples / rate,
        stream_bytes=end - start,
        frame_offsets=tuple(offsets),
        xing=xing,
    )
