"""The mix: the voice sits above the band, and the band dips under it by role."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

from songforge.composer import effects, mixer
from songforge.composer.mixer import (
    ROLE_LEVEL_DB,
    VOICE_BUS,
    MixSettings,
    Stem,
    duck_curves,
    level_gain,
    mix,
)

SR = 8000
SECONDS = 8


def _noise(seed: int) -> np.ndarray:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    mono = (0.1 * rng.standard_normal(SR * SECONDS)).astype(np.float32)
    return np.stack([mono, mono], axis=1)


def _db(x: np.ndarray) -> float:  # type: ignore[type-arg]
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64))))


def test_band_ducks_under_the_voice_by_role_and_the_voice_leads() -> None:
    frames = SR * SECONDS
    voice = np.zeros(frames, dtype=np.float32)
    t = np.arange(frames // 2) / SR
    voice[frames // 2 :] = 0.3 * np.sin(2 * np.pi * 220 * t)  # sings in the second half
    stems = [
        Stem("vocals", "vocals", np.stack([voice, voice], axis=1)),
        Stem("drums", "drums", _noise(1)),
        Stem("chords", "chords", _noise(2)),
    ]
    settings = MixSettings(reverb_amount=0.0)
    _, parts = mix(iter(stems), SR, frames, settings, None, voice=voice)
    assert set(parts) == {"vocals", "drums", "chords"}
    # Away from the envelope's attack and release: first and last quarter.
    quiet, sung = slice(0, frames // 4), slice(3 * frames // 4, frames)
    chords_dip = _db(parts["chords"][sung]) - _db(parts["chords"][quiet])
    drums_dip = _db(parts["drums"][sung]) - _db(parts["drums"][quiet])
    assert abs(chords_dip + settings.duck_db) < 1.0
    assert abs(drums_dip + settings.duck_db / 2) < 1.0
    # The voice is set hotter than any part of the band.
    assert _db(parts["vocals"][sung]) > _db(parts["drums"][sung]) + 5.0
    assert ROLE_LEVEL_DB["vocals"] > max(v for k, v in ROLE_LEVEL_DB.items() if k != "vocals")


def test_only_the_stems_asked_for_are_kept() -> None:
    frames = SR * SECONDS
    stems = [Stem("drums", "drums", _noise(1)), Stem("bass", "bass", _noise(2))]
    _, parts = mix(iter(stems), SR, frames, MixSettings(), frozenset({"bass"}))
    assert set(parts) == {"bass"}
    # Each stem's raw audio is let go once it is mixed.
    assert all(s.audio.shape[0] == 0 for s in stems)


def _voice_and_band(*extra: Stem) -> tuple[np.ndarray, Callable[[], list[Stem]]]:  # type: ignore[type-arg]
    """A voice, its stems (lead and harmony) and a band; ``fresh()`` gives new copies
    each time (the mixer lets go of each stem's audio once mixed)."""
    voice = _noise(3)[:, 0] * 2
    stems = [
        Stem("vocals", "vocals", np.stack([voice, voice], axis=1)),
        Stem("harmony", "harmony", _noise(4)),
        Stem("drums", "drums", _noise(1)),
        Stem("chords", "chords", _noise(2)),
        *extra,
    ]

    def fresh() -> list[Stem]:
        return [Stem(s.name, s.role, s.audio.copy(), s.gain_db, s.pan) for s in stems]

    return voice, fresh


def test_the_voice_bus_is_the_voices_with_their_reverb_and_leaves_the_mix_alone() -> None:
    frames = SR * SECONDS
    voice, fresh = _voice_and_band()
    settings = MixSettings()
    plain, _ = mix(iter(fresh()), SR, frames, settings, frozenset(), voice=voice)
    mixed, parts = mix(iter(fresh()), SR, frames, settings, None, voice=voice, voice_bus=True)
    assert np.array_equal(plain, mixed)
    bus = parts[VOICE_BUS]
    dry = parts["vocals"] + parts["harmony"]
    # The bus is more than the dry voices (their reverb), and the band is the rest:
    # the mix less the bus is the band's dry parts plus the band's own reverb.
    assert _db(bus - dry) > _db(dry) - 30
    band = mixed - bus
    band_dry = parts["drums"] + parts["chords"]
    wet_band = band - band_dry
    # The band's reverb carries none of the voice: uncorrelated with the voice's reverb.
    wet_voice = bus - dry
    correlation = float(np.corrcoef(wet_band[:, 0], wet_voice[:, 0])[0, 1])
    assert abs(correlation) < 0.1


def test_drive_distorts_the_guitars_only() -> None:
    """A genre's drive adds harmonics to chords/lead (the guitars), not to the bass."""
    frames = SR * 2
    t = np.arange(frames) / SR
    tone = (0.2 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)
    stereo = np.stack([tone, tone], axis=1)

    def third_harmonic(x: np.ndarray) -> float:  # type: ignore[type-arg]
        spectrum = np.abs(np.fft.rfft(x[:, 0]))
        bins = np.fft.rfftfreq(x.shape[0], 1 / SR)
        return float(
            spectrum[np.argmin(np.abs(bins - 330))] / spectrum[np.argmin(np.abs(bins - 110))]
        )

    settings = MixSettings(reverb_amount=0.0, drive=0.9)
    stems = [Stem("chords", "chords", stereo.copy()), Stem("bass", "bass", stereo.copy())]
    _, parts = mix(iter(stems), SR, frames, settings)
    assert third_harmonic(parts["chords"]) > 0.1
    assert third_harmonic(parts["bass"]) < 0.01


def test_genre_levels_move_a_role() -> None:
    frames = SR * SECONDS
    loud = MixSettings(reverb_amount=0.0, levels={"drums": 4.0})
    _, plain = mix(iter([Stem("drums", "drums", _noise(3))]), SR, frames, MixSettings())
    _, moved = mix(iter([Stem("drums", "drums", _noise(3))]), SR, frames, loud)
    assert abs(_db(moved["drums"]) - _db(plain["drums"]) - 4.0) < 0.2


def test_mixing_on_several_threads_gives_the_same_samples() -> None:
    """The parts are processed two at a time but added in order: not a bit differs."""
    frames = SR * SECONDS
    voice, fresh = _voice_and_band(
        Stem("keys", "chords", _noise(7), gain_db=-2.0, pan=0.3),
        Stem("bass", "bass", _noise(5)),
        Stem("pad", "pad", _noise(6)),
    )
    settings = MixSettings(pump=0.4, kick_times=[0.5, 1.0, 1.5], drive=0.3)
    one, parts_one = mix(iter(fresh()), SR, frames, settings, None, voice=voice, workers=1)
    two, parts_two = mix(iter(fresh()), SR, frames, settings, None, voice=voice, workers=2)
    assert np.array_equal(one, two)
    assert parts_one.keys() == parts_two.keys()
    assert all(np.array_equal(parts_one[k], parts_two[k]) for k in parts_one)


def test_level_gain_brings_the_playing_part_to_its_level() -> None:
    x = _noise(7)
    x[: SR * 2] = 0.0  # a silent stretch does not count
    leveled = x * np.float32(level_gain(x, -20.0))
    # The level counts both channels' power together; _db averages over them (-3 dB).
    assert abs(_db(leveled[SR * 2 :]) - -23.0) < 0.05
    assert level_gain(np.zeros((SR, 2), dtype=np.float32), -20.0) == 1.0


def test_ducks_made_ahead_mix_as_the_voice_does() -> None:
    """The renderer makes the duck curves before the mix so it can let go of the lead."""
    frames = SR * SECONDS
    voice = _noise(3)[:, 0] * 2
    stems = [Stem("drums", "drums", _noise(1)), Stem("chords", "chords", _noise(2))]

    def fresh() -> list[Stem]:
        return [Stem(s.name, s.role, s.audio.copy()) for s in stems]

    settings = MixSettings()
    by_voice, _ = mix(iter(fresh()), SR, frames, settings, voice=voice)
    ducks = duck_curves(voice, SR, settings.duck_db)
    by_ducks, _ = mix(iter(fresh()), SR, frames, settings, ducks=ducks, workers=2)
    assert np.array_equal(by_voice, by_ducks)


def test_parts_filtered_in_place_mix_as_filtered_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long song's parts are filtered over their own buffers (less memory): the same
    mix and stems, bit for bit, as with sosfilt's copy. A part longer than the song
    and a bass (another filter) are in it."""
    frames = SR * SECONDS
    long_keys = np.concatenate([_noise(9), _noise(10)[: SR // 2]])
    voice, fresh = _voice_and_band(
        Stem("bass", "bass", _noise(5), pan=0.3), Stem("keys", "chords", long_keys)
    )
    settings = MixSettings(pump=0.5, kick_times=[0.5, 1.5, 2.5], drive=0.4)
    copied, copied_parts = mix(iter(fresh()), SR, frames, settings, None, voice=voice)
    monkeypatch.setattr(mixer, "FILTER_IN_PLACE_SECONDS", 1.0)
    monkeypatch.setattr(effects, "FILTER_BLOCK", 4096)  # several blocks per part
    stems = fresh()
    in_place, in_place_parts = mix(iter(stems), SR, frames, settings, None, voice=voice, workers=2)
    assert np.array_equal(copied, in_place)
    assert copied_parts.keys() == in_place_parts.keys()
    assert all(np.array_equal(copied_parts[k], in_place_parts[k]) for k in copied_parts)
    assert all(s.audio.shape[0] == 0 for s in stems)


def test_parts_rendered_by_the_mixer_mix_as_parts_rendered_ahead() -> None:
    """A part may come as a renderer (Stem.make) that the mixer's threads call: the same
    mix and stems, bit for bit, and each renderer called once, off the caller's thread."""
    frames = SR * SECONDS
    voice, fresh = _voice_and_band(
        Stem("keys", "chords", _noise(7), gain_db=-2.0), Stem("bass", "bass", _noise(5), pan=0.3)
    )
    settings = MixSettings(pump=0.4, kick_times=[0.5, 1.0], drive=0.3)
    ahead, ahead_parts = mix(iter(fresh()), SR, frames, settings, None, voice=voice, workers=2)
    called: list[str] = []

    def renderer(audio: np.ndarray) -> Callable[[], np.ndarray]:  # type: ignore[type-arg]
        def make() -> np.ndarray:  # type: ignore[type-arg]
            called.append(threading.current_thread().name)
            return audio

        return make

    lazy = [
        Stem(s.name, s.role, np.zeros((0, 2), np.float32), s.gain_db, s.pan, renderer(s.audio))
        for s in fresh()
    ]
    by_mixer, by_mixer_parts = mix(iter(lazy), SR, frames, settings, None, voice=voice, workers=2)
    assert np.array_equal(ahead, by_mixer)
    assert ahead_parts.keys() == by_mixer_parts.keys()
    assert all(np.array_equal(ahead_parts[k], by_mixer_parts[k]) for k in ahead_parts)
    assert len(called) == len(lazy)
    assert threading.main_thread().name not in called
    assert all(s.make is None for s in lazy)
