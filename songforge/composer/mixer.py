"""The mix: level each part, EQ, pan, duck the band under the voice, add reverb.

Levels are set by each part's loudness while it plays (soundfont presets differ
a lot in level), then offset by role so the vocal sits on top. The band is
ducked by the vocal's envelope and cut a little around 2.5 kHz, where the
consonants that carry the words live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import numpy.typing as npt

from songforge.composer import effects
from songforge.composer.ordered import ordered_map

Audio = npt.NDArray[np.float32]

# Target level (dBFS RMS while playing) per role. The voice sits well above the
# band (a vocal-forward pop mix): 7 dB lower, the synthetic voice was masked and
# heard as an instrumental (docs/decisions/0002, session 2).
ROLE_LEVEL_DB = {
    "vocals": -8.0,
    "harmony": -19.0,
    "drums": -17.0,
    "bass": -19.0,
    "chords": -22.0,
    "pad": -27.0,
    "lead": -21.0,
    "colour": -28.0,
    "horns": -23.0,
    "timpani": -21.0,
    "texture": -34.0,
}
REVERB_SEND = {
    "vocals": 0.16,
    "harmony": 0.3,
    "drums": 0.05,
    "bass": 0.0,
    "chords": 0.14,
    "pad": 0.3,
    "lead": 0.22,
    "colour": 0.3,
    "horns": 0.2,
    "timpani": 0.25,
    "texture": 0.0,
}
# The roles that are voices: a song split on request puts them all in "vocals".
VOICE_ROLES = frozenset({"vocals", "harmony"})
# Name under which ``mix`` returns the voices' own bus (see its ``voice_bus``).
VOICE_BUS = "voice bus"
DUCKED = frozenset({"chords", "pad", "lead", "colour", "horns"})
# The rhythm section dips less under the voice than the parts that share its range.
LIGHTLY_DUCKED = frozenset({"drums", "bass", "timpani"})
# Songs at least this long have each part filtered in place (effects.apply_in_place):
# a five-minute song's peak memory was 1.38-1.53 GB, over the 1.5 GB goal in some runs.
# Shorter songs keep sosfilt's own copy: writing the filtered blocks back over an
# interleaved buffer costs ~40 ms per three-minute part (docs/decisions/0022).
FILTER_IN_PLACE_SECONDS = 240.0
# The parts a genre's "drive" distorts: the guitars (rhythm and solo).
DRIVEN = frozenset({"chords", "lead"})


@dataclass
class Stem:
    name: str
    role: str
    audio: Audio  # (frames, 2)
    gain_db: float = 0.0
    pan: float = 0.0
    # Renders the part's audio when set (``audio`` is then unused): the mixer calls it
    # on its worker threads, so two parts render at once instead of one at a time
    # while being drawn from the stream.
    make: Callable[[], Audio] | None = None


@dataclass
class MixSettings:
    reverb_seconds: float = 1.8
    reverb_amount: float = 1.0
    # 0..1: how much the band pumps with the kick (EDM sidechain).
    pump: float = 0.0
    kick_times: list[float] = field(default_factory=list)
    duck_db: float = 6.0
    # The genre's production: dB per role against ROLE_LEVEL_DB ("band": every part
    # that is not a voice), and the guitars' drive.
    levels: dict[str, float] = field(default_factory=dict)
    drive: float = 0.0


def _active_rms(x: Audio) -> float:
    """RMS over the 100 ms blocks where the part actually plays."""
    hop = 4410
    n = (x.shape[0] // hop) * hop
    if n == 0:
        return 0.0
    # Mean power per block, a stretch of blocks at a time: the same row means as
    # over the whole part at once, without three full-length temporaries.
    stretch = 64 * hop
    sq = np.concatenate(
        [
            _power(x[start : min(n, start + stretch)]).reshape(-1, hop).mean(axis=1)
            for start in range(0, n, stretch)
        ]
    )
    peak = effects.block_peaks(x, hop)
    active = sq[peak > 1e-4]
    if active.size == 0:
        return 0.0
    return float(np.sqrt(np.median(active)))


def _power(x: Audio) -> Audio:
    """Power per frame (the channels' squares summed)."""
    return x[:, 0] ** 2 + x[:, 1] ** 2 if x.ndim == 2 else x**2


def level_gain(x: Audio, target_db: float) -> float:
    """The factor that brings ``x``'s active RMS to ``target_db`` (1 for silence)."""
    rms = _active_rms(x)
    if rms <= 1e-7:
        return 1.0
    return float(10 ** (target_db / 20.0) / rms)


def pump_curve(frames: int, sr: int, kick_times: list[float], depth: float) -> Audio:
    curve = np.ones(frames, dtype=np.float32)
    if depth <= 0 or not kick_times:
        return curve
    shape_n = int(0.25 * sr)
    t = np.arange(shape_n) / sr
    dip = (1.0 - depth * np.exp(-t / 0.09)).astype(np.float32)
    for time in kick_times:
        start = int(time * sr)
        if start >= frames:
            continue
        end = min(frames, start + shape_n)
        curve[start:end] = np.minimum(curve[start:end], dip[: end - start])
    return curve


def duck_curves(voice: Audio, sr: int, duck_db: float) -> tuple[Audio, Audio]:
    """How far the band dips under ``voice``, per frame: the parts that share its
    range (DUCKED) by ``duck_db`` while it sings, the rhythm section by half."""
    env = effects.envelope(voice, sr, attack=0.02, release=0.3)
    peak = float(env.max()) or 1.0
    depth = 1.0 - 10 ** (-duck_db / 20.0)
    singing = np.clip(env / (0.3 * peak), 0.0, 1.0)
    duck = (1.0 - depth * singing).astype(np.float32)
    light_duck = (1.0 - 0.5 * depth * singing).astype(np.float32)
    return duck, light_duck


def mix(
    stems: Iterable[Stem],
    sr: int,
    frames: int,
    settings: MixSettings,
    keep: frozenset[str] | None = None,
    voice: Audio | None = None,
    voice_bus: bool = False,
    workers: int = 1,
    ducks: tuple[Audio, Audio] | None = None,
) -> tuple[Audio, dict[str, Audio]]:
    """The stereo mix and the processed stems named in ``keep`` (all when None).

    ``voice_bus`` also returns, under VOICE_BUS, the voices (VOICE_ROLES) as
    heard in the mix: their processed sum plus their share of the reverb (the
    reverb is linear, so the mix less this bus is the band with its own share).
    The mix itself is computed the same way with or without it.

    ``stems`` may be a generator: each stem is processed, added and let go
    before the next is drawn, so a song's parts are never all in memory at
    once (a three-minute stereo stem is 60 MB). A stem's buffer may be filtered in
    place (FILTER_IN_PLACE_SECONDS): the caller hands it over. ``voice`` is what the band
    ducks under (the lead vocal); ``ducks`` (duck_curves of it) may be given
    instead, so that the caller need not hold the voice through the mix.
    ``workers`` parts are drawn and processed at once (see ordered.py); the
    result is the same for any number.
    """
    out = np.zeros((frames, 2), dtype=np.float32)
    send = np.zeros((frames, 2), dtype=np.float32)
    processed: dict[str, Audio] = {}
    voices = np.zeros((frames, 2), dtype=np.float32) if voice_bus else None
    voice_send = np.zeros((frames, 2), dtype=np.float32) if voice_bus else None

    if ducks is None and voice is not None:
        ducks = duck_curves(voice, sr, settings.duck_db)
    with_voice = ducks is not None
    if ducks is None:
        duck = light_duck = np.ones(frames, dtype=np.float32)
    else:
        duck, light_duck = ducks
    del ducks
    # Only genres that pump need the curve (a full-length buffer).
    pump = pump_curve(frames, sr, settings.kick_times, settings.pump) if settings.pump > 0 else None

    step = partial(
        _processed, sr=sr, frames=frames, settings=settings, duck=duck, light_duck=light_duck,
        pump=pump, with_voice=with_voice,
    )  # fmt: skip
    # Parts are rendered and processed ``workers`` at a time, added up in order.
    for stem, audio in ordered_map(step, stems, workers):
        role = stem.role
        if keep is None or stem.name in keep:
            processed[stem.name] = audio
        out += audio
        amount = REVERB_SEND.get(role, 0.1) * settings.reverb_amount
        if amount > 0:
            _add_scaled(send, audio, amount)
        if voices is not None and voice_send is not None and role in VOICE_ROLES:
            voices += audio
            if amount > 0:
                _add_scaled(voice_send, audio, amount)
        del audio
    if np.any(send):
        out += effects.reverb(send, sr, settings.reverb_seconds)
    if voices is not None and voice_send is not None:
        if np.any(voice_send):
            voices += effects.reverb(voice_send, sr, settings.reverb_seconds)
        processed[VOICE_BUS] = voices
    return out, processed


def _processed(
    stem: Stem,
    *,
    sr: int,
    frames: int,
    settings: MixSettings,
    duck: Audio,
    light_duck: Audio,
    pump: Audio | None,
    with_voice: bool,
) -> tuple[Stem, Audio]:
    """One part as it goes into the mix: EQ, drive, level, pan, ducking.

    Runs on the mixer's worker threads: reads the shared curves, writes only
    its own buffers. The stem's raw audio is let go as soon as it is filtered (in
    place for a long song).
    """
    audio = (stem.make() if stem.make is not None else stem.audio)[:frames]
    stem.make = None
    if audio.shape[0] < frames:
        audio = np.pad(audio, ((0, frames - audio.shape[0]), (0, 0)))
    role = stem.role
    if role in ("vocals", "harmony"):
        stages = [
            effects.highpass_sos(110.0, sr),
            effects.peaking_sos(3000.0, 3.0, 0.8, sr),
            effects.peaking_sos(250.0, -2.0, 1.0, sr),
        ]
    elif role == "bass":
        stages = [effects.lowpass_sos(4000.0, sr)]
    elif role in ("drums", "timpani"):
        stages = [effects.highpass_sos(30.0, sr)]
    else:
        stages = [effects.highpass_sos(140.0 if role != "pad" else 200.0, sr)]
        if with_voice:
            stages.append(effects.peaking_sos(2500.0, -3.5, 0.9, sr))
    if frames >= FILTER_IN_PLACE_SECONDS * sr:
        # The raw part is the mixer's to change: filtered in place, a part in flight
        # holds one full-length buffer instead of two (the same samples).
        audio = effects.apply_in_place(audio.astype(np.float32, copy=False), *stages)
    else:
        audio = effects.apply(audio, *stages)
    # The raw part is no longer needed (or is now the filtered one).
    stem.audio = np.zeros((0, 2), dtype=np.float32)
    if role in DRIVEN and settings.drive > 0:
        audio = effects.drive(audio, settings.drive, sr)
    target = ROLE_LEVEL_DB.get(role, -24.0) + settings.levels.get(role, 0.0)
    if role not in VOICE_ROLES:
        target += settings.levels.get("band", 0.0)
    # In place (the filtered buffer is this part's own): no full-length copies.
    audio *= np.float32(level_gain(audio, target + stem.gain_db))
    if stem.pan:
        audio = effects.balance(audio, stem.pan)
    if role in DUCKED:
        audio *= duck[:, None]
    elif role in LIGHTLY_DUCKED:
        audio *= light_duck[:, None]
    if role in ("chords", "pad", "bass", "colour") and pump is not None:
        audio *= pump[:, None]
    return stem, audio


# Frames scaled and added at a time by _add_scaled (~0.5 MB of stereo float32).
ADD_BLOCK = 65536


def _add_scaled(target: Audio, audio: Audio, amount: float) -> None:
    """``target += audio * amount`` a block at a time: the same float32 sums, without
    a full-length temporary for the product."""
    scale = np.float32(amount)
    for start in range(0, audio.shape[0], ADD_BLOCK):
        target[start : start + ADD_BLOCK] += audio[start : start + ADD_BLOCK] * scale
