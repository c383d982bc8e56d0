"""The Xing/Info header frame and LAME tag that every MP3 we write starts with.

lameenc hands back bare frames: LAME reserves a header frame only when it
writes to a file it can seek back into, which lameenc does not do. Without the
header, a player must guess the length of an average-bitrate file from its
first frame (one guessed 146 s for a song of 114 s) and cannot seek by time.
So after encoding we put one more frame in front, as LAME itself would:

- same MPEG version, sample rate and channel mode as the audio, no CRC, its
  side information all zeros (a decoder that plays it hears silence, and one
  that knows the header skips it);
- "Xing" for average bitrate, "Info" for constant bitrate, with the number of
  audio frames (the header frame not included), the stream's bytes (the header
  frame included), a 100-entry table of contents for seeking, and a quality;
- the LAME tag: encoder, method, the encoder's delay and padding in samples
  (what a gapless decoder cuts so the song plays exactly as long as the PCM we
  encoded), the music length and CRC, and the tag's own CRC.

The frame uses the stream's bitrate when the tag fits in a frame that size (so
a constant-bitrate file stays constant to a naive reader) and otherwise the
smallest bitrate it fits in: 32 kbps frames are too small for it.
"""

from __future__ import annotations

from songforge.audio.crc16 import crc16
from songforge.audio.mp3_frames import (
    LAME_TAG_SIZE,
    TOC_ENTRIES,
    XING_FLAG_BYTES,
    XING_FLAG_FRAMES,
    XING_FLAG_QUALITY,
    XING_FLAG_TOC,
    FrameHeader,
    iter_frames,
    layer3_bitrates,
)

# LAME's encoder delay in samples: the MDCT's look-ahead it puts before the
# audio. Measured for the LAME inside lameenc (an impulse at sample 1000 decodes
# at 1000 + 576 + 529, 529 being the decoder's own delay, which decoders know).
LAME_ENCODER_DELAY = 576
# "Xing" tag .. quality field: 4 + 4 + 4 + 4 + 100 + 4 bytes.
XING_SIZE = 120
# LAME tag "method" numbers.
_METHOD = {"cbr": 1, "abr": 2}
# LAME tag "stereo mode" by frame channel mode: stereo, joint, dual, mono.
_STEREO_MODE = {0: 1, 1: 3, 2: 2, 3: 0}


def _tag_frame_header(raw: bytes, kbps_index: int) -> bytes:
    """The header of the tag frame: the first audio frame's, with our bitrate,
    no padding and no CRC."""
    byte1 = raw[1] | 0x01  # protection bit set: no CRC follows
    byte2 = (kbps_index << 4) | (raw[2] & 0x0C) | (raw[2] & 0x01)  # rate, private bit
    byte3 = raw[3] & 0xCF  # channel mode, copyright, original, emphasis; no mode ext.
    return bytes((0xFF, byte1, byte2, byte3))


def _tag_frame_bitrate(first: FrameHeader, prefer_kbps: int | None) -> int:
    """Index of the bitrate for the tag frame: ``prefer_kbps`` if the tag fits."""
    needed = 4 + first.side_info_length + XING_SIZE + LAME_TAG_SIZE
    table = layer3_bitrates(first.version_bits)
    per_kbps = (144 if first.mpeg1 else 72) * 1000

    def fits(index: int) -> bool:
        return per_kbps * table[index] // first.sample_rate >= needed

    if prefer_kbps in table and fits(table.index(prefer_kbps)):
        return table.index(prefer_kbps)
    return next(index for index in range(1, 15) if fits(index))


def _table_of_contents(offsets: list[int], tag_length: int, total: int) -> bytes:
    """Entry i: where the frame at i % of the song starts, in 256ths of the stream."""
    entries = []
    for i in range(TOC_ENTRIES):
        frame = i * len(offsets) // TOC_ENTRIES
        position = 0 if i == 0 else tag_length + offsets[frame]
        entries.append(min(255, 256 * position // total))
    return bytes(entries)


def add_xing_header(
    stream: bytes,
    *,
    mode: str,
    encoder: str,
    input_samples: int,
    target_kbps: int,
    quality: int,
) -> bytes:
    """``stream`` (bare frames from LAME) with the Xing/Info + LAME tag frame in front.

    ``encoder`` is LAME's version string ("LAME3.100"): players use the tag's delay
    and padding only when it names LAME and its version.
    ``input_samples`` is the number of PCM samples per channel that were encoded,
    ``target_kbps`` the CBR bitrate or ABR target, ``quality`` LAME's -q (0-9).
    """
    frames = list(iter_frames(stream, start=0))
    if not frames or frames[0][0] != 0:
        raise ValueError("the encoder's output does not start with an MPEG frame")
    first_header = frames[0][1]
    index = _tag_frame_bitrate(first_header, target_kbps if mode == "cbr" else None)
    kbps = layer3_bitrates(first_header.version_bits)[index]
    tag_length = (144 if first_header.mpeg1 else 72) * kbps * 1000 // first_header.sample_rate
    total = tag_length + len(stream)
    padding = len(frames) * first_header.samples - LAME_ENCODER_DELAY - input_samples
    if not 0 <= padding < 4096:
        raise ValueError(f"encoder padding {padding} does not fit the LAME tag")

    frame = bytearray(tag_length)
    frame[0:4] = _tag_frame_header(stream[:4], index)
    at = 4 + first_header.side_info_length
    flags = XING_FLAG_FRAMES | XING_FLAG_BYTES | XING_FLAG_TOC | XING_FLAG_QUALITY
    # Xing's quality is LAME's "VBR scale": 100 - 10 * (VBR quality, 4 by default) - q.
    vbr_scale = 100 - 10 * 4 - quality
    xing = (
        (b"Info" if mode == "cbr" else b"Xing")
        + flags.to_bytes(4, "big")
        + len(frames).to_bytes(4, "big")
        + total.to_bytes(4, "big")
        + _table_of_contents([pos for pos, _ in frames], tag_length, total)
        + vbr_scale.to_bytes(4, "big")
    )
    frame[at : at + XING_SIZE] = xing
    at += XING_SIZE
    source_rate = 0 if first_header.sample_rate <= 32000 else 1  # 1: 44.1 kHz
    misc = (_STEREO_MODE[first_header.channel_mode] << 2) | (source_rate << 6)
    lame = (
        encoder.encode("ascii")[:9].ljust(9, b"\x00")
        + bytes((_METHOD[mode], 0))  # revision 0 + method; lowpass unknown
        + bytes(4 + 2 + 2 + 1)  # peak, track and album gain, flags: not measured
        + bytes((min(255, target_kbps),))
        + ((LAME_ENCODER_DELAY << 12) | padding).to_bytes(3, "big")
        + bytes((misc, 0))  # misc; MP3 gain 0
        + bytes(2)  # surround, preset: none
        + total.to_bytes(4, "big")
        + crc16(stream).to_bytes(2, "big")
    )
    frame[at : at + LAME_TAG_SIZE - 2] = lame
    at += LAME_TAG_SIZE - 2
    frame[at : at + 2] = crc16(bytes(frame[:at])).to_bytes(2, "big")
    return bytes(frame) + stream
