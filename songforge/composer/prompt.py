"""Reading a free-text style prompt into a ``Style``.

The prompt is English-first but never rejected: unknown words are ignored, and a
prompt with nothing we recognise (another language, emoji) yields the default
style. Structured hints (``BPM: 96``, ``Key: C major``, ``Vocals: female``) win
over words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from songforge.composer.genres import DEFAULT_GENRE, GENRES

NOTE_NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}

# A few common words in other languages so that non-English prompts are not
# all treated alike; anything else falls back to the default genre.
FOREIGN_GENRE_WORDS = {
    "balada": "ballad",
    "ballade": "ballad",
    "rockig": "rock",
    "électronique": "edm",
    "electronica": "edm",
    "elektronisch": "edm",
    "tanz": "edm",
    "danse": "edm",
    "baile": "latin",
    "campestre": "country",
    "klassisch": "classical",
    "clásica": "classical",
    "classique": "classical",
    "摇滚": "rock",
    "流行": "pop",
    "爵士": "jazz",
    "电子": "edm",
    "ロック": "rock",
    "ジャズ": "jazz",
}

SAD_WORDS = (
    "sad",
    "melancholic",
    "melancholy",
    "dark",
    "lonely",
    "heartbreak",
    "sorrow",
    "moody",
    "minor",
    "tragic",
    "bittersweet",
    "somber",
    "triste",
    "traurig",
    "grief",
    "haunting",
)
HAPPY_WORDS = (
    "happy",
    "joyful",
    "bright",
    "uplifting",
    "cheerful",
    "sunny",
    "fun",
    "playful",
    "optimistic",
    "feel-good",
    "summer",
    "celebration",
    "hopeful",
    "feliz",
    "fröhlich",
)
HIGH_ENERGY = (
    "energetic",
    "driving",
    "powerful",
    "loud",
    "intense",
    "aggressive",
    "upbeat",
    "fast",
    "pumping",
    "pulsing",
    "hard",
    "explosive",
    "anthem",
    "anthemic",
    "banger",
    "hype",
)
LOW_ENERGY = (
    "calm",
    "chill",
    "soft",
    "gentle",
    "relaxed",
    "relaxing",
    "slow",
    "mellow",
    "quiet",
    "peaceful",
    "dreamy",
    "laid-back",
    "laid back",
    "lullaby",
    "sleepy",
    "tender",
    "intimate",
)
FEMALE_WORDS = ("female", "woman", "women", "girl", "she", "her", "soprano", "alto", "diva")
MALE_WORDS = ("male", "man", "men", "boy", "he", "his", "baritone", "tenor", "bass voice")
NO_VOCAL_PATTERNS = (
    r"\binstrumental\b",
    r"\bno[\s-]+vocals?\b",
    r"\bno[\s-]+voice\b",
    r"\bno[\s-]+singing\b",
    r"\bwithout[\s-]+(?:vocals?|voice|singing|lyrics)\b",
    r"\bvocals?\s*:\s*(?:none|no|off)\b",
)

# Instrument words -> (GM program, role). Roles: chords, lead, colour.
INSTRUMENT_WORDS: dict[str, tuple[int, str]] = {
    "piano": (0, "chords"),
    "grand piano": (0, "chords"),
    "rhodes": (4, "chords"),
    "electric piano": (4, "chords"),
    "organ": (16, "chords"),
    "hammond": (16, "chords"),
    "acoustic guitar": (25, "chords"),
    "nylon guitar": (24, "chords"),
    "classical guitar": (24, "chords"),
    "electric guitar": (27, "chords"),
    "distorted guitar": (30, "chords"),
    "distorted electric guitars": (30, "chords"),
    "strings": (48, "pad"),
    "violin": (40, "lead"),
    "fiddle": (110, "lead"),
    "cello": (42, "lead"),
    "harp": (46, "colour"),
    "choir": (52, "pad"),
    "trumpet": (56, "lead"),
    "brass": (61, "colour"),
    "horns": (61, "colour"),
    "saxophone": (65, "lead"),
    "sax": (65, "lead"),
    "flute": (73, "lead"),
    "pan flute": (75, "lead"),
    "harmonica": (22, "lead"),
    "accordion": (21, "colour"),
    "banjo": (105, "colour"),
    "mandolin": (25, "colour"),
    "ukulele": (24, "chords"),
    "sitar": (104, "colour"),
    "koto": (107, "colour"),
    "marimba": (12, "colour"),
    "vibraphone": (11, "colour"),
    "bells": (14, "colour"),
    "music box": (10, "colour"),
    "celesta": (8, "colour"),
    "steel drums": (114, "colour"),
    "synth lead": (81, "lead"),
}


DRUM_MACHINE = r"\b(808s?|trap|drill|drum[\s-]+machines?|electronic[\s-]+drums)\b"


@dataclass(frozen=True)
class Style:
    genre: str
    bpm: float
    key_root: int
    mode: str
    # 0 calm .. 1 intense
    energy: float
    mood: str  # "sad" | "happy" | "neutral"
    voice: str  # "male" | "female"
    # Brightness/character of the voice: shifts register and vibrato.
    voice_character: str  # "neutral", "deep", "high", "soft", "powerful", "raspy", "warm"
    instrumental: bool
    # Programs the prompt asked for, by role.
    instruments: dict[str, int] = field(default_factory=dict)
    drums: bool = True
    # "808", "trap", "drum machine"...: synthesised drums whatever the genre's default.
    drum_machine: bool = False
    explicit: tuple[str, ...] = ()


def _has(words: tuple[str, ...], text: str) -> int:
    return sum(1 for word in words if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text))


def _hint(text: str, name: str) -> str | None:
    match = re.search(rf"\b{name}\s*[:=]\s*([^\n,;|]+)", text)
    return match.group(1).strip() if match else None


def parse_key(text: str) -> tuple[int, str | None] | None:
    """ "C major", "F# minor", "Bb", "A min", "Dm" -> (pitch class, mode or None)."""
    match = re.match(r"\s*([a-g])\s*([#♯b♭]?)\s*(major|minor|maj|min|m(?![a-z]))?", text.lower())
    if not match:
        return None
    pc = NOTE_NAMES[match.group(1)]
    accidental = match.group(2)
    if accidental in ("#", "♯"):
        pc += 1
    elif accidental in ("b", "♭"):
        pc -= 1
    mode_word = match.group(3)
    mode = None
    if mode_word:
        mode = "major" if mode_word.startswith("maj") else "minor"
    return pc % 12, mode


def _stable_hash(text: str) -> int:
    value = 2166136261
    for byte in text.encode("utf-8", "replace"):
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value


def parse_prompt(prompt: str) -> Style:
    text = " ".join(prompt.lower().split())[:4000]
    explicit: list[str] = []

    scores: dict[str, float] = {}
    for name, profile in GENRES.items():
        hits = _has(profile.keywords, text)
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text):
            hits += 2
        if hits:
            scores[name] = float(hits)
    for word, name in FOREIGN_GENRE_WORDS.items():
        if word in text:
            scores[name] = scores.get(name, 0.0) + 1.0
    genre_hint = _hint(text, "genre") or _hint(text, "style")
    if genre_hint:
        for name, profile in GENRES.items():
            if name in genre_hint or _has(profile.keywords, genre_hint):
                scores[name] = scores.get(name, 0.0) + 10.0
    genre = DEFAULT_GENRE
    if scores:
        # Ties go to the earlier (more generic) profile so results are stable.
        order = list(GENRES)
        genre = max(scores, key=lambda g: (scores[g], -order.index(g)))
    profile = GENRES[genre]

    sad = _has(SAD_WORDS, text)
    happy = _has(HAPPY_WORDS, text)
    mood = "sad" if sad > happy else "happy" if happy > sad else "neutral"
    mode = profile.mode
    if mood == "sad":
        mode = "minor"
    elif mood == "happy":
        mode = "major"

    energy = profile.energy
    energy += 0.15 * _has(HIGH_ENERGY, text) - 0.15 * _has(LOW_ENERGY, text)
    energy = min(1.0, max(0.1, energy))

    lo, hi = profile.bpm
    position = 0.5
    if re.search(r"\b(slow|slower|downtempo|lento)\b", text):
        position = 0.0
    elif re.search(r"\b(fast|faster|uptempo|rapid|quick|rápido)\b", text):
        position = 1.0
    elif energy > profile.energy + 0.1:
        position = 0.8
    elif energy < profile.energy - 0.1:
        position = 0.2
    bpm = lo + (hi - lo) * position
    bpm_match = re.search(r"\b(?:bpm|tempo)\s*[:=]?\s*(\d{2,3}(?:\.\d+)?)", text) or re.search(
        r"\b(\d{2,3}(?:\.\d+)?)\s*bpm\b", text
    )
    if bpm_match:
        bpm = float(bpm_match.group(1))
        explicit.append("bpm")
    bpm = min(200.0, max(50.0, bpm))

    # Default key: derived from the prompt so different prompts get different keys.
    key_root = (_stable_hash(text) % 12) if text else 0
    key_text = _hint(text, "key")
    if key_text is None:
        match = re.search(r"\bin (?:the key of )?([a-g][#♯b♭]?\s*(?:major|minor|maj|min)\b)", text)
        key_text = match.group(1) if match else None
    if key_text is not None:
        parsed = parse_key(key_text)
        if parsed is not None:
            key_root, key_mode = parsed
            explicit.append("key")
            if key_mode is not None:
                mode = key_mode
                explicit.append("mode")

    voice = profile.voice_default
    vocal_hint = _hint(text, "vocals?") or _hint(text, "voice") or _hint(text, "singer")
    female = _has(FEMALE_WORDS, vocal_hint or text)
    male = _has(MALE_WORDS, vocal_hint or text)
    if female > male:
        voice = "female"
    elif male > female:
        voice = "male"

    character = "neutral"
    for word, name in (
        ("deep", "deep"),
        ("low", "deep"),
        ("high", "high"),
        ("falsetto", "high"),
        ("breathy", "soft"),
        ("soft", "soft"),
        ("gentle", "soft"),
        ("whisper", "soft"),
        ("powerful", "powerful"),
        ("belting", "powerful"),
        ("strong", "powerful"),
        ("confident", "powerful"),
        ("raspy", "raspy"),
        ("gritty", "raspy"),
        ("warm", "warm"),
    ):
        if re.search(rf"\b{word}\b", vocal_hint or text):
            character = name
            break

    instrumental = any(re.search(pattern, text) for pattern in NO_VOCAL_PATTERNS)

    instruments: dict[str, int] = {}
    # Longest names first so "acoustic guitar" beats "guitar".
    for name in sorted(INSTRUMENT_WORDS, key=len, reverse=True):
        if re.search(rf"\b{re.escape(name)}s?\b", text):
            program, role = INSTRUMENT_WORDS[name]
            instruments.setdefault(role, program)
    drums = not re.search(r"\b(no|without)[\s-]+(drums|percussion|beat)\b", text)
    drum_machine = bool(re.search(DRUM_MACHINE, text))

    return Style(
        genre=genre,
        bpm=round(bpm, 1),
        key_root=key_root,
        mode=mode,
        energy=round(energy, 3),
        mood=mood,
        voice=voice,
        voice_character=character,
        instrumental=instrumental,
        instruments=instruments,
        drums=drums,
        drum_machine=drum_machine,
        explicit=tuple(explicit),
    )
