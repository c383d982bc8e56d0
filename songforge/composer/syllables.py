"""Splitting a word's phonemes (IPA, as espeak-ng writes them) into syllables.

Each syllable has an onset (consonants before the vowel), a nucleus (the vowel
or diphthong, which is what gets stretched when sung) and a coda. Stress comes
from espeak's marks, except that short function words are never stressed: in
a sung line they fall on weak beats.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

VOWELS = frozenset("aeiouyæɑɐɒɔəɚɛɜɝɞɪʊʌʏøœɨɯɵɤɘɶ")
# Length marks and similar modifiers stay with the vowel they follow.
VOWEL_MODIFIERS = frozenset("ːˑ̃")
STRESS_MARKS = {"ˈ": 1, "ˌ": 2}

FUNCTION_WORDS = frozenset(
    """a an the and or but of to in on at by for with from as is are was were be been am i
    you he she it we they me him her us them my your his its our their this that these
    those so if than then not no do does did has have had will would can could shall
    should may might must just oh ooh ah yeah la na da""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Syllable:
    onset: str
    nucleus: str
    coda: str
    # 0 unstressed, 1 primary, 2 secondary.
    stress: int

    @property
    def phonemes(self) -> str:
        return self.onset + self.nucleus + self.coda


def split_syllables(ipa: str, word: str = "") -> list[Syllable]:
    """Syllables of one word's IPA; a word without vowels becomes one syllable."""
    symbols: list[str] = []
    stress_at: dict[int, int] = {}
    pending_stress = 0
    for char in ipa:
        if char in STRESS_MARKS:
            pending_stress = STRESS_MARKS[char]
            continue
        if char.isspace() or char in "-_'":
            continue
        if pending_stress and (char in VOWELS):
            stress_at[len(symbols)] = pending_stress
            pending_stress = 0
        symbols.append(char)
    if not symbols:
        return []

    # Group vowels (with their modifiers) into nuclei.
    nuclei: list[tuple[int, int]] = []
    i = 0
    while i < len(symbols):
        if symbols[i] in VOWELS:
            j = i + 1
            while j < len(symbols) and (symbols[j] in VOWELS or symbols[j] in VOWEL_MODIFIERS):
                # A rhotic schwa after a full vowel is a diphthong glide ("fire" = faɪɚ).
                j += 1
            nuclei.append((i, j))
            i = j
        else:
            i += 1
    if not nuclei:
        joined = "".join(symbols)
        return [Syllable(onset=joined, nucleus="", coda="", stress=1)]

    syllables: list[Syllable] = []
    boundaries: list[int] = [0]
    for (_, end_prev), (start_next, _) in itertools.pairwise(nuclei):
        consonants = start_next - end_prev
        # One consonant between vowels opens the next syllable; of a cluster,
        # the first closes this syllable and the rest open the next.
        cut = end_prev if consonants <= 1 else end_prev + 1
        boundaries.append(cut)
    boundaries.append(len(symbols))
    for index, (n_start, n_end) in enumerate(nuclei):
        lo, hi = boundaries[index], boundaries[index + 1]
        stress = 0
        for k in range(n_start, n_end):
            stress = max(stress, stress_at.get(k, 0))
        syllables.append(
            Syllable(
                onset="".join(symbols[lo:n_start]),
                nucleus="".join(symbols[n_start:n_end]),
                coda="".join(symbols[n_end:hi]),
                stress=stress,
            )
        )
    if word.lower().strip("'") in FUNCTION_WORDS:
        syllables = [Syllable(s.onset, s.nucleus, s.coda, 0) for s in syllables]
    elif len(syllables) == 1 and syllables[0].stress == 0:
        syllables = [Syllable(s.onset, s.nucleus, s.coda, 1) for s in syllables]
    return syllables


def count_syllables_text(word: str) -> int:
    """Spelling-based estimate, used only to size phrases before phonemes are known."""
    groups = 0
    previous = False
    for char in word.lower():
        vowel = char in "aeiouy"
        if vowel and not previous:
            groups += 1
        previous = vowel
    if word.lower().endswith("e") and groups > 1 and not word.lower().endswith("le"):
        groups -= 1
    return max(1, groups)
