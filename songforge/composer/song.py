"""The whole pipeline: compose a score, sing it, play it, mix and master it."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly

from songforge.composer import effects
from songforge.composer.backing import backing_phrases
from songforge.composer.compose import compose, harmony_line
from songforge.composer.drums import KICK, render_synth_drums
from songforge.composer.genres import GENRES
from songforge.composer.mastering import master, mastered_with_gain
from songforge.composer.mixer import VOICE_BUS, MixSettings, Stem, duck_curves, mix
from songforge.composer.prompt import parse_prompt
from songforge.composer.score import Score, Track, VocalPhrase
from songforge.composer.singer import Singer, TimedNote, VoiceSettings, timed_notes
from songforge.composer.soundfont import SoundfontRenderer, find_soundfont
from songforge.composer.synth import crackle, render_synth, riser
from songforge.composer.timing import NoteLayout, SungLine, timed_lyrics
from songforge.composer.voice import PiperVoice, default_voice_files
from songforge.engines.base import TimedLine

Audio = npt.NDArray[np.float32]
Progress = Callable[[str, float], None]
SAMPLE_RATE = 44100
TAIL_SECONDS = 2.0
SING_THREADS = 2
# Parts of the band rendered and processed at once while mixing (mixer.mix, ordered.py):
# the mix used to run on one core, a third of a first song's wall time.
MIX_THREADS = 2
VOCAL_STEM = frozenset({"vocals"})
# Backing "ooh"s sit under the chorus harmonies (two voices each).
BACKING_GAIN = 0.5
# The harmony track (chorus harmonies on the lead's words, backing "ooh"s) this
# many dB under its mixer level: a second voice singing the same words a third
# away, or a held vowel, is what Whisper mishears the lead for (session 4).
HARMONY_GAIN_DB = -5.0
# A phrase's takes (lead first) at SAMPLE_RATE, where they start relative to the
# phrase's first note (seconds, <= 0), and each note's layout (SungPhrase.layout).
_Takes = tuple[tuple[Audio, ...], float, tuple[NoteLayout, ...]]


# A lazy part's audio until the mixer renders it (Stem.make).
_NOTHING_YET = np.zeros((0, 2), dtype=np.float32)


def _no_progress(stage: str, fraction: float) -> None:
    """Progress sink for callers that do not care."""


@dataclass
class RenderedSong:
    audio: Audio  # (frames, 2) float32, mastered
    sample_rate: int
    score: Score
    # Processed stems before the master bus, by name ("vocals", "drums"...).
    stems: dict[str, Audio] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    # When asked (render's ``separate``): "vocals" (every voice, with its reverb) and
    # "instrumental" (the rest), each times the master bus's gain per sample, so they
    # add up to ``audio`` to float rounding (docs/decisions/0014).
    separated: dict[str, Audio] = field(default_factory=dict)
    # Every sung lyric line and word, when it is heard (seconds of ``audio``).
    lyrics: tuple[TimedLine, ...] = ()

    @property
    def duration_seconds(self) -> float:
        return float(self.audio.shape[0]) / self.sample_rate


def voice_settings(score: Score, character: str) -> tuple[VoiceSettings, VoiceSettings]:
    """Lead and harmony voice settings for the score's voice."""
    breath = {"soft": 0.35, "raspy": 0.2, "warm": 0.1}.get(character, 0.0)
    if score.voice == "female":
        return (
            VoiceSettings(formant_warp=1.17, breathiness=breath),
            VoiceSettings(formant_warp=1.22, breathiness=breath + 0.1, vibrato_cents=20.0),
        )
    return (
        VoiceSettings(formant_warp=1.0, breathiness=breath),
        VoiceSettings(formant_warp=1.05, breathiness=breath + 0.1, vibrato_cents=20.0),
    )


class SongRenderer:
    """Holds what is expensive to load (voice model, soundfont); reuse it across songs."""

    def __init__(self, soundfont: Path | None = None, voice: PiperVoice | None = None) -> None:
        self.soundfont_path = soundfont or find_soundfont()
        self.soundfont = (
            SoundfontRenderer(self.soundfont_path, SAMPLE_RATE) if self.soundfont_path else None
        )
        if voice is None:
            model, config = default_voice_files()
            voice = PiperVoice(model, config)
        self.voice = voice
        self.singer = Singer(voice)

    def load(self) -> None:
        if self.soundfont is not None:
            self.soundfont.load()
        self.voice.load()

    def forget_speech(self) -> None:
        """Empty the speech and analysis caches, so that the next song pays for its
        lyrics' speech as new lyrics do (benchmarks; docs/decisions/0018)."""
        self.voice.forget()
        self.singer.forget()

    def render(
        self,
        prompt: str,
        lyrics: str,
        seed: int = 0,
        max_seconds: float | None = None,
        progress: Progress = _no_progress,
        stems: frozenset[str] | None = VOCAL_STEM,
        target_seconds: float | None = None,
        separate: bool = False,
    ) -> RenderedSong:
        """Render a song, keeping the processed parts named in ``stems`` (all when None).

        ``separate`` also returns the song split into its voices and the band
        (``RenderedSong.separated``); the song itself is the same either way.

        ``target_seconds`` (a requested duration) makes the audio exactly that long;
        without it the song is as long as its form (about 2.5 minutes, see compose),
        never over ``max_seconds``.

        The lead vocal is kept by default (tests and the judge measure it); the
        service asks for none, which saves a full-length stereo buffer per song.
        """
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        progress("composing", 0.0)
        style = parse_prompt(prompt)
        score = compose(
            prompt, lyrics, seed, max_seconds, style=style, target_seconds=target_seconds
        )
        timings["compose"] = time.perf_counter() - clock
        frames = int((score.duration_seconds + TAIL_SECONDS) * SAMPLE_RATE)
        if max_seconds is not None:
            frames = min(frames, int(max_seconds * SAMPLE_RATE))
        frames = max(frames, SAMPLE_RATE)
        if score.length_seconds is not None:
            frames = max(1, round(score.length_seconds * SAMPLE_RATE))
        progress("composing", 0.05)

        clock = time.perf_counter()
        lead, harmony, sung_lines = self._sing(score, style.voice_character, frames, progress)
        timings["sing"] = time.perf_counter() - clock

        clock = time.perf_counter()
        drums = next((t for t in score.tracks if t.role == "drums"), None)
        kick_times = (
            [score.seconds(n.start) for n in drums.notes if n.pitch == KICK] if drums else []
        )
        profile = GENRES[score.genre]
        settings = MixSettings(
            reverb_seconds=3.2 if score.genre in ("ambient", "classical") else 1.8,
            reverb_amount=1.6 if score.genre in ("ambient", "ballad", "classical") else 1.0,
            pump=profile.pump,
            kick_times=kick_times,
            levels=dict(profile.levels),
            drive=profile.drive,
        )
        # The band's dips under the lead (made now so that the lead itself, a
        # full-length buffer, is let go before the mix) and the voices' stereo stems,
        # made at once: this ran on one core between the singing and the mix.
        voices: list[Stem] = []
        with ThreadPoolExecutor(max_workers=2) as helpers:
            ducks_made = (
                helpers.submit(duck_curves, lead, SAMPLE_RATE, settings.duck_db)
                if lead is not None
                else None
            )
            wide = helpers.submit(_widened, harmony) if harmony is not None else None
            if lead is not None:
                voices.append(Stem("vocals", "vocals", effects.pan(lead, 0.0)))
            if wide is not None:
                voices.append(Stem("harmony", "harmony", wide.result(), gain_db=HARMONY_GAIN_DB))
            ducks = ducks_made.result() if ducks_made is not None else None
        del lead, harmony, wide, ducks_made
        # The instruments are rendered one at a time as the mixer asks for them.
        parts = len(voices) + len(score.tracks) + 2
        drawn = _reporting(itertools.chain(voices, self._play(score, frames)), parts, progress)
        del voices
        # The mixer draws the parts on its worker threads, so ``progress`` is called
        # from them too (in order, one at a time).
        mixed, processed = mix(
            drawn,
            SAMPLE_RATE,
            frames,
            settings,
            stems,
            voice_bus=separate,
            workers=MIX_THREADS,
            ducks=ducks,
        )
        voice_bus = processed.pop(VOICE_BUS, None)
        del ducks
        # Playing and mixing interleave; "play+mix" is their sum.
        timings["play+mix"] = time.perf_counter() - clock

        clock = time.perf_counter()
        progress("mastering", 0.93)
        cut = max_seconds is not None or score.length_seconds is not None
        fade = 2.0 if cut else 1.0
        mixed = _fade_out(mixed, SAMPLE_RATE, fade)
        separated: dict[str, Audio] = {}
        if separate:
            mastered, gain = mastered_with_gain(mixed, SAMPLE_RATE)
            separated = _separate(mixed, voice_bus, gain, fade)
        else:
            mastered = master(mixed, SAMPLE_RATE)
        del mixed, voice_bus
        timings["master"] = time.perf_counter() - clock
        progress("mastering", 1.0)
        sung = timed_lyrics(sung_lines, frames / SAMPLE_RATE)
        return RenderedSong(mastered, SAMPLE_RATE, score, processed, timings, separated, sung)

    # ---- singing -----------------------------------------------------------------------

    def _sing(
        self, score: Score, character: str, frames: int, progress: Progress
    ) -> tuple[Audio | None, Audio | None, list[SungLine]]:
        """The lead and the harmony/backing tracks, phrases sung on SING_THREADS threads,
        and where each lead phrase's notes are heard (for the lyric timing).

        Piper (onnxruntime) and WORLD both release the GIL, so two phrases sing
        at once on two cores; each phrase's audio depends only on its own
        notes, so the result is the same whatever order the threads finish in.
        """
        if not score.vocal:
            return None, None, []
        lead_settings, harmony_settings = voice_settings(score, character)
        lead = np.zeros(frames, dtype=np.float32)
        harmony = np.zeros(frames, dtype=np.float32)
        any_harmony = False
        backing = backing_phrases(score)
        jobs: dict[tuple[object, ...], Future[_Takes]] = {}
        # (job, start in seconds, the lead phrase or None for a backing one) in score order.
        placements: list[tuple[tuple[object, ...], float, VocalPhrase | None]] = []
        sung_lines: list[SungLine] = []
        with ThreadPoolExecutor(max_workers=SING_THREADS) as pool:
            for phrase in score.vocal:
                notes = list(phrase.notes)
                timed = timed_notes(notes, score.seconds_per_beat)
                pitches = [[n.pitch for n in notes]]
                settings = [lead_settings]
                if phrase.harmony:
                    pitches.append(harmony_line(phrase, score))
                    settings.append(harmony_settings)
                key: tuple[object, ...] = (
                    tuple(timed),
                    tuple(map(tuple, pitches)),
                    tuple(settings),
                    False,
                )
                if key not in jobs:
                    jobs[key] = pool.submit(self._sing_phrase, timed, pitches, settings, False)
                placements.append((key, score.seconds(phrase.start), phrase))
            for item in backing:
                held_notes = list(item.notes)
                lines = [[n.pitch for n in held_notes], list(item.upper)]
                key = (item.notes, item.upper, True)
                if key not in jobs:
                    jobs[key] = pool.submit(
                        self._sing_phrase, held_notes, lines, [harmony_settings] * 2, True
                    )
                placements.append((key, score.seconds(item.start), None))
            for index, (key, start, lead_phrase) in enumerate(placements):
                takes, offset, layout = jobs[key].result()
                progress("singing", 0.05 + 0.55 * index / len(placements))
                if lead_phrase is None:
                    rest = tuple(BACKING_GAIN * take for take in takes)
                else:
                    _place(lead, takes[0], start + offset)
                    sung_lines.append(SungLine(lead_phrase, start, layout))
                    rest = takes[1:]
                for take in rest:
                    _place(harmony, take, start + offset)
                    any_harmony = True
        return lead, (harmony if any_harmony else None), sung_lines

    def _sing_phrase(
        self,
        notes: list[TimedNote],
        pitch_lines: list[list[int]],
        settings: list[VoiceSettings],
        held: bool,
    ) -> _Takes:
        sung = self.singer.sing(notes, pitch_lines, settings, held=held)
        takes = tuple(_to_rate(t, sung.sample_rate) for t in sung.takes)
        return takes, sung.offset, sung.layout

    # ---- instruments -------------------------------------------------------------------

    def _play(self, score: Score, frames: int) -> Iterator[Stem]:
        """Each part, rendered only when the mixer processes it (on its threads)."""
        for track in score.tracks:
            yield Stem(
                track.name,
                track.role,
                _NOTHING_YET,
                gain_db=track.gain_db,
                make=partial(self._track_audio, score, track, frames),
            )
        yield from self._textures(score, frames)

    def _track_audio(self, score: Score, track: Track, frames: int) -> Audio:
        """The part's stereo audio, placed at its pan (its Stem is made by _play)."""
        spb = score.seconds_per_beat
        if track.source.startswith("synth-"):
            kind = track.source
        elif self.soundfont is None:
            kind = _fallback(track.role)
        else:
            audio = self.soundfont.render(track.notes, track.program, spb, frames)
            return effects.balance(audio, track.pan)
        if kind == "synth-drums":
            style_name = GENRES[score.genre].drums
            mono = render_synth_drums(track.notes, spb, frames, SAMPLE_RATE, style_name)
        else:
            mono = render_synth(track.notes, kind, spb, frames, SAMPLE_RATE)
        return effects.pan(mono, track.pan)

    def _textures(self, score: Score, frames: int) -> Iterator[Stem]:
        profile = GENRES[score.genre]
        if "crackle" in profile.texture:
            noise = effects.pan(crackle(frames, SAMPLE_RATE, score.seed), 0.0)
            yield Stem("texture", "texture", noise)
        if "riser" in profile.texture:
            sweep = np.zeros(frames, dtype=np.float32)
            for section in score.sections:
                if section.kind == "chorus" and section.start > 0:
                    length = min(score.seconds(8.0), score.seconds(section.start))
                    noise = riser(length, SAMPLE_RATE, score.seed)
                    end = int(score.seconds(section.start) * SAMPLE_RATE)
                    begin = max(0, end - noise.shape[0])
                    end = min(end, frames)
                    if end > begin:
                        sweep[begin:end] += noise[-(end - begin) :]
            if np.any(sweep):
                yield Stem("riser", "texture", effects.pan(sweep, 0.0), gain_db=4.0)


def _reporting(stems: Iterator[Stem], parts: int, progress: Progress) -> Iterator[Stem]:
    """Pass ``stems`` through, reporting "mixing" progress as each is drawn."""
    for index, stem in enumerate(stems):
        progress("mixing", 0.6 + 0.33 * min(1.0, index / parts))
        yield stem


def _fallback(role: str) -> str:
    return {
        "drums": "synth-drums",
        "bass": "synth-bass",
        "pad": "synth-pad",
        "lead": "synth-lead",
    }.get(role, "synth-stab")


def _to_rate(audio: Audio, rate: int) -> Audio:
    if rate == SAMPLE_RATE:
        return audio
    from math import gcd

    g = gcd(rate, SAMPLE_RATE)
    return np.asarray(resample_poly(audio, SAMPLE_RATE // g, rate // g), dtype=np.float32)


# The harmony's right channel lags its left by this much: a wider voice.
HARMONY_DELAY_SECONDS = 0.012


def _widened(harmony: Audio) -> Audio:
    """The harmony as a stereo stem: left as sung, right HARMONY_DELAY_SECONDS later
    (the right's first samples silent). Written straight into the stem, not
    concatenated, stacked and copied (three full-length buffers more)."""
    frames = harmony.shape[0]
    delay = min(frames, int(HARMONY_DELAY_SECONDS * SAMPLE_RATE))
    wide = np.empty((frames, 2), dtype=np.float32)
    wide[:, 0] = harmony
    wide[:delay, 1] = 0.0
    wide[delay:, 1] = harmony[: frames - delay]
    return wide


def _place(target: Audio, audio: Audio, start_seconds: float) -> None:
    start = round(start_seconds * SAMPLE_RATE)
    lo = max(0, start)
    hi = min(target.shape[0], start + audio.shape[0])
    if hi > lo:
        target[lo:hi] += audio[lo - start : hi - start]


def _separate(mixed: Audio, voices: Audio | None, gain: Audio, fade: float) -> dict[str, Audio]:
    """The song's voices and its band, each with the master bus's gain applied.

    The band is the mix less the voices, so the two add up to the mix before the
    master bus; ``gain`` (mastered_with_gain) is the master bus as a factor per
    sample, so they add up to the mastered song too (to float rounding). Each
    part is only scaled, never mixed with the other: no voice in the band.
    """
    vocals = _fade_out(voices, SAMPLE_RATE, fade) if voices is not None else np.zeros_like(mixed)
    instrumental = mixed - vocals
    return {
        "vocals": (vocals * gain).astype(np.float32),
        "instrumental": (instrumental * gain).astype(np.float32),
    }


def _fade_out(audio: Audio, sr: int, seconds: float) -> Audio:
    n = min(audio.shape[0], int(seconds * sr))
    if n > 0:
        audio = audio.copy()
        audio[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)[:, None]
    return audio
