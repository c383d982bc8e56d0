"""Speech-to-singing with the WORLD vocoder.

The line is first spoken by the voice (with phoneme timings) at half its natural
pace, as a singer articulates, then re-timed like a singer would: the stressed
syllables stay on the melody's beats and the ones between them are spaced as the
voice spoke them (speech_timed); each vowel starts on its note, the consonants
before it are sung ahead of the beat, the consonants after it close the note,
consonants keep their spoken length (capped, and shortened where they would crowd
out the vowels: fit_consonants), and only the middle of each vowel is stretched.
Vowels the voice whispered (the ends of its utterances) are sung at the line's
level. The pitch follows the melody with portamento and a delayed vibrato; the
spectral envelope can be warped for a higher (female) voice. Each take's peaks
are held within PEAK_CREST_DB of its level (docs/decisions/0021, 0023, 0025).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from songforge.composer.mastering import limiter_gain
from songforge.composer.score import SungNote
from songforge.composer.voice import PiperVoice
from songforge.composer.world import world

FRAME_MS = 5.0
CONSONANT_CAP_S = 0.16
CLUSTER_CAP_S = 0.26
MIN_VOWEL_S = 0.05
# Longest a vowel is held inside a line (the line's last note may ring longer):
# a long-held vowel sounds to listeners (and recognisers) like extra words.
MAX_VOWEL_S = 0.25
# A long note inside a line (a slow melody's held beat) keeps its vowel for this
# share of the note, up to MAX_HELD_VOWEL_S: a ballad sung 0.25 s a note with
# silence to the next beat is staccato, not a held melody.
HELD_SHARE = 0.6
MAX_HELD_VOWEL_S = 0.5
# A line's last vowel is sung at full voice for FINAL_FULL_S, then tapers by
# FINAL_FADE_DB until it ends at MAX_FINAL_VOWEL_S at most: a held note that
# dies away, so the voice carries its section instead of a short burst per line.
# (Session 2 held 0.2 s + 0.4 s of taper for pocketsphinx on the stem, which
# hears held vowels as extra words; Whisper on the mix does not mind, see
# docs/decisions/0002, session 3.)
MAX_FINAL_VOWEL_S = 1.8
FINAL_FULL_S = 0.45
FINAL_FADE_DB = 24.0
# A vowel frame is sung at most this far under the phrase's voiced vowels, and
# raised by at most MAX_REVOICE_DB (see _revoice_vowels).
VOWEL_FLOOR_DB = 9.0
MAX_REVOICE_DB = 40.0
# Consonants are sung louder than spoken so that they survive the mix.
CONSONANT_GAIN = 2.2
VIBRATO_HZ = 5.6
VIBRATO_CENTS = 30.0
VIBRATO_DELAY_S = 0.25
PORTAMENTO_S = 0.06
# An unstressed syllable moved to its spoken place keeps at least this much of
# a note on either side (see speech_timed).
MIN_NOTE_S = 0.06
# A take's peaks are held within this many dB of its RMS, as a vocal chain's
# limiter holds them. With the deliberate diction the voice's bus peaked 24 dB
# over its RMS (21 dB before; the engine test's song, decision 0025): left in,
# the master's limiter pulls the whole mix down under each such peak, and the
# voice's stem alone passed full scale where the band happened to cancel it.
PEAK_CREST_DB = 15.0
# The voice speaks each line this much slower than its natural pace before it is
# re-timed onto the notes: a singer articulates more deliberately than a speaker,
# and Whisper hears the slowed consonants better (docs/decisions/0019, 0021).
DICTION_LENGTH_SCALE = 2.0
# The consonants between two vowels (a coda and the next onset) take at most this
# share of the time from one vowel's start to the next, unless the voice's own
# pace needs more: where the notes are short (a fast song) the slowed consonants
# are sung back near speaking pace instead of eating the vowels (0021).
CONSONANT_SHARE = 0.5

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class VoiceSettings:
    # Formant (spectral envelope) warp: >1 moves formants up (a smaller vocal tract).
    formant_warp: float = 1.0
    # Semitones added to every note (for octave doubling etc.).
    transpose: int = 0
    breathiness: float = 0.0
    vibrato_cents: float = VIBRATO_CENTS


@dataclass(frozen=True)
class TimedNote:
    """A sung note in seconds, relative to the phrase."""

    start: float
    end: float
    pitch: int
    onset: str
    nucleus: str
    coda: str
    stressed: bool
    word_start: bool


@dataclass(frozen=True)
class SungPhrase:
    # One take per requested pitch line (lead first, then harmonies).
    takes: tuple[npt.NDArray[np.float32], ...]
    sample_rate: int
    # Seconds from the first note's start back to where the audio begins (<= 0).
    offset: float
    # Per note, in seconds from the first note's start: where its sound begins
    # (its first consonant), its vowel begins (on the note) and ends, its sound ends.
    layout: tuple[tuple[float, float, float, float], ...] = ()


@dataclass
class _Analysis:
    """A spoken line's WORLD analysis. The envelopes are kept as float32 (half the
    bytes of WORLD's float64: a slowed line's are ~6 MB in float64, and the cache and
    two singing threads hold several); a rendition copies the frames it sings back to
    float64 for WORLD's synthesis."""

    f0: Floats
    sp: npt.NDArray[np.float32]
    ap: npt.NDArray[np.float32]

    @property
    def nbytes(self) -> int:
        return int(self.f0.nbytes + self.sp.nbytes + self.ap.nbytes)


def timed_notes(notes: list[SungNote], seconds_per_beat: float) -> list[TimedNote]:
    origin = notes[0].start
    return [
        TimedNote(
            start=(n.start - origin) * seconds_per_beat,
            end=(n.end - origin) * seconds_per_beat,
            pitch=n.pitch,
            onset=n.onset,
            nucleus=n.nucleus,
            coda=n.coda,
            stressed=n.stressed,
            word_start=n.word_start,
        )
        for n in notes
    ]


def speech_timed(notes: list[TimedNote], spoken_starts: list[float]) -> list[TimedNote]:
    """The line's stresses on the beat, the syllables between them spaced as spoken.

    The melody gives every syllable a slot on its grid: a stressed syllable
    lands on a beat, and the unstressed ones between get even slots (an
    unstressed "the" as long as "chair" beside it). Sung that way Whisper loses
    words the speech keeps (docs/decisions/0017). So the first note and every
    stressed note stay where the melody put them, and the syllables between two
    of them are spread over that span in the proportions the voice spoke them
    (``spoken_starts``: when each note's vowel began in the speech, seconds).
    Syllables after the line's last stress keep their spoken distance from it.
    Each note keeps at least MIN_NOTE_S; the last note ends where the melody
    ends it.
    """
    count = len(notes)
    if count < 2 or len(spoken_starts) != count:
        return list(notes)
    anchors = [k for k in range(count) if k == 0 or notes[k].stressed]
    starts = [n.start for n in notes]
    for position, a in enumerate(anchors):
        b = anchors[position + 1] if position + 1 < len(anchors) else count
        high = notes[b].start if b < count else notes[-1].end
        if high - notes[a].start < (b - a) * MIN_NOTE_S:
            continue  # no room to move anything: the melody's own slots
        for k in range(a + 1, b):
            if b == count:
                moved = notes[a].start + (spoken_starts[k] - spoken_starts[a])
            else:
                share = (spoken_starts[k] - spoken_starts[a]) / max(
                    1e-3, spoken_starts[b] - spoken_starts[a]
                )
                moved = notes[a].start + (high - notes[a].start) * share
            # In order, with room for every note up to the next stress.
            starts[k] = min(max(moved, starts[k - 1] + MIN_NOTE_S), high - (b - k) * MIN_NOTE_S)
    ends = [*starts[1:], notes[-1].end]
    return [replace(note, start=starts[k], end=ends[k]) for k, note in enumerate(notes)]


def fit_consonants(
    notes: list[TimedNote], on_len: list[float], co_len: list[float], slowed: float
) -> None:
    """Shorten, in place, the consonants that would crowd out a vowel.

    ``on_len``/``co_len``: each note's onset and coda in seconds as the voice,
    speaking ``slowed`` times slower than its natural pace, said them (capped).
    Between one vowel's start and the next, the coda and the next onset share at
    most CONSONANT_SHARE of the time; where they need more, both are shortened
    in proportion, but never below the length they have at the voice's natural
    pace (``/ slowed``): a slow song sings the deliberate consonants whole, a
    fast one sings them back near speaking pace and keeps its vowels.
    """
    for i in range(len(notes) - 1):
        need = co_len[i] + on_len[i + 1]
        span = notes[i + 1].start - notes[i].start
        room = max(CONSONANT_SHARE * span, need / max(1.0, slowed))
        if need > room:
            factor = room / need
            co_len[i] *= factor
            on_len[i + 1] *= factor


def midi_to_hz(pitch: float | Floats) -> Floats:
    return np.asarray(440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0))


# WORLD analyses kept for reuse (a chorus sung again, the same lyrics on another
# seed), least recently used first out. Bounded in bytes, not entries: one
# phrase's envelopes are ~3 MB, and a worker serving many songs must not grow.
ANALYSIS_CACHE_BYTES = 96 * 1024 * 1024


class Singer:
    def __init__(self, voice: PiperVoice) -> None:
        self.voice = voice
        self._analysis: OrderedDict[tuple[str, ...], _Analysis] = OrderedDict()
        self._analysis_bytes = 0
        # Phrases are sung on several threads (SongRenderer); the cache is shared.
        self._analysis_lock = threading.Lock()

    def _symbols(
        self, notes: list[TimedNote]
    ) -> tuple[tuple[str, ...], list[tuple[range, range, range]]]:
        symbols: list[str] = []
        parts: list[tuple[range, range, range]] = []
        for index, note in enumerate(notes):
            if index > 0 and note.word_start:
                symbols.append(" ")
            onset = [c for c in note.onset if self.voice.knows(c)]
            nucleus = [c for c in note.nucleus if self.voice.knows(c)]
            coda = [c for c in note.coda if self.voice.knows(c)]
            if not nucleus:
                # Nothing singable (unknown script, consonants only): vocalise.
                nucleus = ["ɑ", "ː"]
            a = len(symbols)
            symbols += onset
            b = len(symbols)
            if note.stressed:
                symbols.append("ˈ")
            symbols += nucleus
            c = len(symbols)
            symbols += coda
            d = len(symbols)
            parts.append((range(a, b), range(b, c), range(c, d)))
        return tuple(symbols), parts

    def _analyse(self, symbols: tuple[str, ...]) -> tuple[_Analysis, list[tuple[int, int]], int]:
        scale = DICTION_LENGTH_SCALE
        spoken = self.voice.speak(symbols, length_scale=scale)
        fs = spoken.sample_rate
        key = (*symbols, f"@{scale:.3f}")
        with self._analysis_lock:
            cached = self._analysis.get(key)
            if cached is not None:
                self._analysis.move_to_end(key)
        if cached is None:
            pw = world()
            x = spoken.audio.astype(np.float64)
            f0, times = pw.dio(x, fs, frame_period=FRAME_MS, f0_floor=60.0, f0_ceil=500.0)
            f0 = pw.stonemask(x, f0, times, fs)
            sp = pw.cheaptrick(x, f0, times, fs)
            ap = pw.d4c(x, f0, times, fs)
            cached = _Analysis(
                f0=np.asarray(f0),
                sp=np.asarray(sp, dtype=np.float32),
                ap=np.asarray(ap, dtype=np.float32),
            )
            self._remember(key, cached)
        return cached, list(spoken.spans), fs

    def _remember(self, symbols: tuple[str, ...], analysis: _Analysis) -> None:
        with self._analysis_lock:
            if symbols in self._analysis:
                return
            self._analysis[symbols] = analysis
            self._analysis_bytes += analysis.nbytes
            while self._analysis_bytes > ANALYSIS_CACHE_BYTES and len(self._analysis) > 1:
                _, evicted = self._analysis.popitem(last=False)
                self._analysis_bytes -= evicted.nbytes

    def forget(self) -> None:
        """Drop every cached analysis."""
        with self._analysis_lock:
            self._analysis.clear()
            self._analysis_bytes = 0

    @property
    def analysis_cache_bytes(self) -> int:
        return self._analysis_bytes

    def sing(
        self,
        notes: list[TimedNote],
        pitch_lines: list[list[int]],
        settings: list[VoiceSettings],
        held: bool = False,
    ) -> SungPhrase:
        """Sing ``notes``' words once per pitch line (same timing, different pitches).

        ``held`` sings backing vowels ("ooh"): each vowel fills its whole note
        on a steady envelope, swelling in and out, instead of a word's short vowel.
        """
        symbols, parts = self._symbols(notes)
        analysis, spans, fs = self._analyse(symbols)
        if not held:
            # Where each syllable's vowel began in the speech (every note has one).
            spoken = [
                min(spans[i][0] for i in (nucleus or onset)) / fs for onset, nucleus, _ in parts
            ]
            notes = speech_timed(notes, spoken)
        frame = FRAME_MS / 1000.0
        n_src = analysis.f0.shape[0]

        def src_range(r: range) -> tuple[int, int]:
            if len(r) == 0:
                return (0, 0)
            lo = min(spans[i][0] for i in r)
            hi = max(spans[i][1] for i in r)
            a = min(n_src - 1, int(lo / fs / frame))
            b = min(n_src, max(a + 1, round(hi / fs / frame)))
            return (a, b)

        segments = [tuple(src_range(r) for r in p) for p in parts]
        on_len = [
            min(CLUSTER_CAP_S, (s[0][1] - s[0][0]) * frame, CONSONANT_CAP_S * 1.6) for s in segments
        ]
        co_len = [
            min(CLUSTER_CAP_S, (s[2][1] - s[2][0]) * frame, CONSONANT_CAP_S * 1.6) for s in segments
        ]
        if not held:
            fit_consonants(notes, on_len, co_len, DICTION_LENGTH_SCALE)

        # Target layout per note: [onset][vowel][coda] in seconds.
        layout: list[tuple[float, float, float, float]] = []
        for i, note in enumerate(notes):
            next_onset = on_len[i + 1] if i + 1 < len(notes) else 0.0
            limit = notes[i + 1].start - next_onset if i + 1 < len(notes) else note.end
            limit = (
                min(limit, note.end)
                if i + 1 < len(notes) and notes[i + 1].start > note.end
                else limit
            )
            vowel_end = limit - co_len[i]
            if vowel_end - note.start < MIN_VOWEL_S:
                room = max(0.0, limit - note.start - MIN_VOWEL_S)
                co_len[i] = min(co_len[i], room)
                vowel_end = max(note.start + MIN_VOWEL_S, limit - co_len[i])
            if i == len(notes) - 1:
                cap = MAX_FINAL_VOWEL_S
            else:
                cap = max(MAX_VOWEL_S, min(MAX_HELD_VOWEL_S, HELD_SHARE * (note.end - note.start)))
            if held:
                cap = note.end - note.start
            vowel_end = min(vowel_end, note.start + max(cap, MIN_VOWEL_S))
            layout.append((note.start - on_len[i], note.start, vowel_end, vowel_end + co_len[i]))

        begin = layout[0][0]
        end = max(item[3] for item in layout)
        n_frames = int(np.ceil((end - begin) / frame)) + 1
        src_index = np.full(n_frames, -1, dtype=np.int64)
        owner = np.full(n_frames, -1, dtype=np.int64)
        vowel = np.zeros(n_frames, dtype=bool)
        consonant = np.zeros(n_frames, dtype=bool)

        def fill(t0: float, t1: float, src: tuple[int, int], note: int, kind: str) -> None:
            a = round((t0 - begin) / frame)
            b = min(n_frames, round((t1 - begin) / frame))
            if b <= a or src[1] <= src[0]:
                return
            count = b - a
            length = src[1] - src[0]
            if kind == "vowel" and count > length and length >= 4:
                # Keep the vowel's first and last quarter at speaking rate
                # (the transitions), stretch only the steady middle.
                edge = length // 4
                head = np.arange(edge)
                tail = np.arange(length - edge, length)
                middle_count = max(1, count - 2 * edge)
                middle = np.linspace(edge, length - edge - 1, middle_count)
                positions = np.concatenate([head, middle, tail])[:count]
                if positions.shape[0] < count:
                    positions = np.pad(positions, (0, count - positions.shape[0]), mode="edge")
            else:
                positions = np.linspace(0, length - 1, count)
            src_index[a:b] = src[0] + np.round(positions).astype(np.int64)
            owner[a:b] = note
            if kind == "vowel":
                vowel[a:b] = True
            else:
                consonant[a:b] = True

        for i, (t_on, t_v, t_ve, t_end) in enumerate(layout):
            on_src, nu_src, co_src = segments[i]
            fill(t_on, t_v, on_src, i, "onset")
            fill(t_v, t_ve, nu_src, i, "vowel")
            fill(t_ve, t_end, co_src, i, "coda")

        active = src_index >= 0
        safe = np.where(active, src_index, 0)
        sp = analysis.sp[safe].astype(np.float64)
        ap = analysis.ap[safe].astype(np.float64)
        src_voiced = analysis.f0[safe] > 0
        sp[consonant] *= CONSONANT_GAIN
        _revoice_vowels(sp, ap, vowel & active, src_voiced, analysis, segments)
        if held:
            _steady_vowels(sp, ap, analysis, layout, segments, begin, frame)
        else:
            # The line's last vowel is held at full voice only briefly, then
            # tapers (sp is a power spectrum: dB / 10).
            _, last_v, last_ve, _ = layout[-1]
            fade_from = round((last_v + FINAL_FULL_S - begin) / frame)
            fade_to = round((last_ve - begin) / frame)
            if fade_to > fade_from:
                ramp_db = np.linspace(0.0, -FINAL_FADE_DB, fade_to - fade_from)
                sp[fade_from:fade_to] *= (10.0 ** (ramp_db / 10.0))[:, None]
        sp[~active] = 1e-12
        ap[~active] = 1.0
        voiced = active & (vowel | (consonant & src_voiced))

        # Fill owner through silent frames so pitch glides rather than jumps.
        filled_owner = owner.copy()
        last = 0
        for k in range(n_frames):
            if filled_owner[k] < 0:
                filled_owner[k] = last
            else:
                last = filled_owner[k]
        times = np.arange(n_frames) * frame + begin
        note_starts = np.array([n.start for n in notes])
        takes: list[npt.NDArray[np.float32]] = []
        pw = world()
        for pitches, setting in zip(pitch_lines, settings, strict=True):
            target = np.array(pitches, dtype=np.float64)[filled_owner] + setting.transpose
            window = max(1, int(PORTAMENTO_S / frame))
            kernel = np.ones(window) / window
            smooth = np.convolve(
                np.pad(target, (window // 2, window - 1 - window // 2), mode="edge"),
                kernel,
                mode="valid",
            )
            since = times - note_starts[filled_owner]
            depth = (
                np.clip((since - VIBRATO_DELAY_S) / 0.3, 0.0, 1.0) * setting.vibrato_cents / 100.0
            )
            long_note = np.array([n.end - n.start for n in notes])[filled_owner] > 0.4
            vibrato = depth * long_note * np.sin(2 * np.pi * VIBRATO_HZ * times)
            f0 = midi_to_hz(smooth + vibrato)
            f0 = np.where(voiced, f0, 0.0)
            env = sp
            if setting.formant_warp != 1.0:
                env = warp_envelope(sp, setting.formant_warp)
            aper = ap
            if setting.breathiness > 0:
                aper = np.clip(ap + setting.breathiness * (1.0 - ap) * 0.5, 0.0, 1.0)
            y = pw.synthesize(
                np.ascontiguousarray(f0),
                np.ascontiguousarray(env),
                np.ascontiguousarray(aper),
                fs,
                FRAME_MS,
            )
            audio = np.asarray(y, dtype=np.float32)
            fade = min(len(audio) // 2, int(0.01 * fs))
            if fade > 0:
                ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
                audio[:fade] *= ramp
                audio[-fade:] *= ramp[::-1]
            takes.append(_peaks_held(audio, fs))
        return SungPhrase(takes=tuple(takes), sample_rate=fs, offset=begin, layout=tuple(layout))


def _peaks_held(audio: npt.NDArray[np.float32], fs: int) -> npt.NDArray[np.float32]:
    """``audio`` with its peaks limited to PEAK_CREST_DB over its RMS, in place."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    if rms <= 0.0:
        return audio
    gain = limiter_gain(audio, fs, rms * 10.0 ** (PEAK_CREST_DB / 20.0))
    if gain is not None:
        audio *= gain
    return audio


def _steady_vowels(
    sp: Floats,
    ap: Floats,
    analysis: _Analysis,
    layout: list[tuple[float, float, float, float]],
    segments: list[tuple[tuple[int, int], ...]],
    begin: float,
    frame: float,
) -> None:
    """Give each held vowel one envelope (its spoken middle's mean) and a swell.

    Stretching a spoken vowel frame by frame repeats each frame many times over
    a long note, a stepped, warbling sound; a backing "ooh" is one steady colour.
    """

    def middle(lo: int, hi: int) -> slice:
        quarter = (hi - lo) // 4
        return slice(lo + quarter, max(lo + quarter + 1, hi - quarter))

    # The voice lets an utterance's last vowel trail off into breath (unvoiced in
    # its analysis): a held "ooh" built on it is a hiss, not a note. Such a vowel
    # borrows the colour of the most voiced held vowel of the phrase (backing
    # phrases sing one vowel throughout).
    voicing = [
        float(np.mean(analysis.f0[middle(lo, hi)] > 0)) if hi > lo else 0.0
        for _, (lo, hi), _ in segments
    ]
    best = int(np.argmax(voicing)) if voicing else 0
    for index, ((_, t_v, t_ve, _), (_, (lo, hi), _)) in enumerate(
        zip(layout, segments, strict=True)
    ):
        a = round((t_v - begin) / frame)
        b = round((t_ve - begin) / frame)
        if b <= a or hi <= lo:
            continue
        source = middle(lo, hi)
        if voicing[index] < 0.5 <= voicing[best]:
            source = middle(*segments[best][1])
        sp[a:b] = analysis.sp[source].mean(axis=0, dtype=np.float64)
        ap[a:b] = analysis.ap[source].mean(axis=0, dtype=np.float64)
        count = b - a
        swell = np.ones(count)
        rise = min(count // 3, int(0.25 / frame))
        fall = min(count // 3, int(0.4 / frame))
        swell[:rise] = np.linspace(0.05, 1.0, rise)
        swell[count - fall :] = np.linspace(1.0, 0.05, fall)
        sp[a:b] *= (swell**2)[:, None]


def _revoice_vowels(
    sp: Floats,
    ap: Floats,
    vowel: npt.NDArray[np.bool_],
    src_voiced: npt.NDArray[np.bool_],
    analysis: _Analysis,
    segments: list[tuple[tuple[int, int], ...]],
) -> None:
    """Sing the vowels the voice whispered.

    The voice ends an utterance the way speech does: its last vowel devoices and
    dies away (often 30-60 dB under the line's loud vowels, aperiodic from its
    first frame). Sung on a held note that is a breath, not a note: the line's
    ending is lost (Whisper hears "city" as "setting") and the voice is silent
    where the melody holds. A vowel frame quieter than VOWEL_FLOOR_DB under the
    phrase's voiced vowels is raised to that floor, and its aperiodicity is
    capped at theirs, so it is sung with the same voice.
    """
    if not np.any(vowel):
        return
    spans = [seg[1] for seg in segments if seg[1][1] > seg[1][0]]
    source = np.concatenate([np.arange(lo, hi) for lo, hi in spans]) if spans else np.arange(0)
    voiced_src = source[analysis.f0[source] > 0] if source.size else source
    if voiced_src.size < 4:
        return
    energy_src = analysis.sp[voiced_src].sum(axis=1, dtype=np.float64)
    reference = float(np.median(energy_src))
    ap_cap = analysis.ap[voiced_src].mean(axis=0, dtype=np.float64)
    floor = reference * 10.0 ** (-VOWEL_FLOOR_DB / 10.0)
    energy = sp[vowel].sum(axis=1)
    gain = np.clip(floor / np.maximum(energy, 1e-30), 1.0, 10.0 ** (MAX_REVOICE_DB / 10.0))
    sp[vowel] *= gain[:, None]
    weak = vowel & ~src_voiced
    ap[weak] = np.minimum(ap[weak], ap_cap)


def warp_envelope(sp: Floats, factor: float) -> Floats:
    """Move formants up by ``factor`` (frequency-axis stretch of the envelope)."""
    bins = sp.shape[1]
    source = np.arange(bins) / factor
    i0 = np.clip(np.floor(source).astype(np.int64), 0, bins - 1)
    i1 = np.clip(i0 + 1, 0, bins - 1)
    frac = source - np.floor(source)
    return np.asarray(sp[:, i0] * (1.0 - frac) + sp[:, i1] * frac)
