from __future__ import annotations

from songforge.composer.phonemes import phonemize_words, voice_for
from songforge.composer.syllables import count_syllables_text, split_syllables


def test_split_ipa_into_syllables_with_stress() -> None:
    syllables = split_syllables("lˈɛɾɚz", "letters")
    assert [(s.onset, s.nucleus, s.coda, s.stress) for s in syllables] == [
        ("l", "ɛ", "", 1),
        ("ɾ", "ɚ", "z", 0),
    ]


def test_function_words_are_unstressed_and_lone_syllables_stressed() -> None:
    assert split_syllables("ðˈə", "the")[0].stress == 0
    assert split_syllables("bɑːks", "box")[0].stress == 1


def test_clusters_split_between_syllables() -> None:
    syllables = split_syllables("ˈʌndɚ", "under")
    assert [(s.onset, s.nucleus, s.coda) for s in syllables] == [("", "ʌ", "n"), ("d", "ɚ", "")]


def test_no_vowel_is_one_syllable_or_none() -> None:
    assert len(split_syllables("ʃ", "shh")) == 1
    assert split_syllables("", "") == []


def test_espeak_word_by_word() -> None:
    ipa = phonemize_words(["Feel", "the", "beat", "привет"])
    assert ipa["Feel"].replace("ˈ", "") == "fiːl"
    assert len(split_syllables(ipa["привет"], "привет")) == 2
    assert voice_for("привет") == "ru" and voice_for("hello") == "en-us"


def test_spelling_estimate() -> None:
    assert count_syllables_text("music") == 2
    assert count_syllables_text("home") == 1
