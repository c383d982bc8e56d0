"""Word-by-word phonemes (IPA) from the ``espeak-ng`` program.

espeak-ng is GPL-3, so it runs as a separate program and never inside our
process. Words are phonemised one per line: espeak would otherwise join
function words to their neighbours, and the singer needs each word's own
phonemes. Words in other scripts use the espeak voice for that script; what
espeak cannot read falls back to a crude letter-to-sound guess, and the singer
vocalises anything left without vowels.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache

ESPEAK_TIMEOUT_S = 30.0
# Longest word we pass to espeak: nobody sings a 40-letter word.
MAX_WORD_CHARS = 32

SCRIPT_VOICES: tuple[tuple[str, str], ...] = (
    ("CJK", "cmn"),
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("HANGUL", "ko"),
    ("CYRILLIC", "ru"),
    ("GREEK", "el"),
    ("ARABIC", "ar"),
    ("HEBREW", "he"),
    ("DEVANAGARI", "hi"),
    ("THAI", "th"),
    ("ARMENIAN", "hy"),
    ("GEORGIAN", "ka"),
    ("BENGALI", "bn"),
    ("TAMIL", "ta"),
)

LETTER_GUESS = {
    "a": "æ",
    "b": "b",
    "c": "k",
    "d": "d",
    "e": "ɛ",
    "f": "f",
    "g": "ɡ",
    "h": "h",
    "i": "ɪ",
    "j": "dʒ",
    "k": "k",
    "l": "l",
    "m": "m",
    "n": "n",
    "o": "ɑ",
    "p": "p",
    "q": "k",
    "r": "ɹ",
    "s": "s",
    "t": "t",
    "u": "ʌ",
    "v": "v",
    "w": "w",
    "x": "ks",
    "y": "j",
    "z": "z",
}


@cache
def espeak_path() -> str | None:
    return shutil.which("espeak-ng")


def voice_for(word: str) -> str:
    for char in word:
        if char.isascii():
            continue
        try:
            name = unicodedata.name(char)
        except ValueError:
            continue
        for script, voice in SCRIPT_VOICES:
            if name.startswith(script) or f" {script}" in name:
                return voice
    return "en-us"


def guess_ipa(word: str) -> str:
    """Letter-to-sound guess for when espeak is missing or gives nothing."""
    folded = unicodedata.normalize("NFKD", word.lower())
    return "".join(LETTER_GUESS.get(char, "") for char in folded)


def _clean(ipa: str) -> str:
    # espeak marks language switches as "(en)" and tones as digits.
    text = re.sub(r"\([a-z-]+\)", "", ipa)
    return re.sub(r"[0-9.\s]", "", text)


def _run_espeak(words: Sequence[str], voice: str) -> list[str] | None:
    exe = espeak_path()
    if exe is None or not words:
        return None
    try:
        done = subprocess.run(
            [exe, "-q", "--ipa", "-v", voice],
            input="\n".join(words) + "\n",
            capture_output=True,
            text=True,
            timeout=ESPEAK_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    lines = done.stdout.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return [_clean(line) for line in lines]


def _prepare(word: str) -> str:
    text = word.lower().strip("'’-")[:MAX_WORD_CHARS]
    return text or word[:MAX_WORD_CHARS]


_CACHE: dict[tuple[str, str], str] = {}


def phonemize_words(words: Iterable[str]) -> dict[str, str]:
    """IPA for each distinct word (keys are the words as given)."""
    result: dict[str, str] = {}
    todo: dict[str, list[str]] = {}
    for word in words:
        if word in result:
            continue
        prepared = _prepare(word)
        voice = voice_for(prepared)
        cached = _CACHE.get((voice, prepared))
        if cached is not None:
            result[word] = cached
            continue
        todo.setdefault(voice, [])
        if prepared not in todo[voice]:
            todo[voice].append(prepared)
        result[word] = ""
    for voice, batch in todo.items():
        lines = _run_espeak(batch, voice)
        if lines is None or len(lines) != len(batch):
            # Output that does not line up with the input cannot be trusted as a
            # whole; ask word by word instead (slower, rare).
            lines = []
            for single in batch:
                one = _run_espeak([single], voice)
                lines.append("".join(one) if one else "")
        for prepared, ipa in zip(batch, lines, strict=True):
            _CACHE[(voice, prepared)] = ipa or guess_ipa(prepared)
    for word in result:
        if not result[word]:
            prepared = _prepare(word)
            result[word] = _CACHE.get((voice_for(prepared), prepared), "") or guess_ipa(prepared)
    if len(_CACHE) > 50_000:
        _CACHE.clear()
    return result
