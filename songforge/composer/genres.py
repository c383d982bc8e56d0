"""Genre profiles: tempo, harmony, groove and instrumentation for each style we know.

Programs are General MIDI (0-based). ``synth`` parts are rendered by the numpy
synths where they suit the genre better than a sampled instrument.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GenreProfile:
    name: str
    keywords: tuple[str, ...]
    bpm: tuple[int, int]
    mode: str
    # Roman-numeral progressions, one chord per bar unless a chord ends with ":2"
    # (two beats). Lower case is minor; "b" flattens the degree.
    verse: tuple[str, ...]
    chorus: tuple[str, ...]
    bridge: tuple[str, ...]
    drums: str  # a pattern name from drums.py, or "none"
    bass: str  # "root8", "root4", "walk", "sub", "octave", "reggae", "none"
    chords_program: int
    chords_style: str  # "block", "arp", "strum", "stab", "pad", "power"
    bass_program: int
    lead_program: int
    pad_program: int | None
    colour_program: int | None
    # Parts drawn by numpy synths instead of the soundfont.
    synth_parts: frozenset[str] = field(default_factory=frozenset)
    swing: float = 0.0
    energy: float = 0.6
    # Extra texture: "crackle" (vinyl), "riser" (build-up noise sweeps).
    texture: tuple[str, ...] = ()
    voice_default: str = "male"
    # Seconds per sung syllable the vocal rhythm aims at (see melody.rhythm):
    # near speaking rate keeps words intelligible; rap runs faster.
    syllable_seconds: float = 0.25
    # A horn section (GM program) and how it plays: "stab" (short hits on the
    # riff's accents) or "swell" (held chord tones that grow into the chorus).
    horns_program: int | None = None
    horns_style: str = "stab"
    # Orchestral timpani (GM 47) on the roots: rolls into big sections, hits on them.
    timpani: bool = False
    # Production: the band's level per role against the mixer's defaults (dB; "band"
    # moves every instrument against the voice: a metal band is a wall the voice sits
    # in, a pop mix puts the voice far in front), and how hard the guitars (chords,
    # lead) are driven into distortion (0..1).
    levels: tuple[tuple[str, float], ...] = ()
    drive: float = 0.0
    # The lead instrument answers the singer in the gaps between sung lines (a jazz
    # sax, a bossa flute, an orchestral violin) instead of waiting for the solo.
    fills: bool = False
    # Sidechain: chords, pad, bass and colour dip on each kick by this much (0..1).
    pump: float = 0.0
    # Bars of the band alone before the first and after the last sung section
    # (form.plan_form); None: the usual short intro and outro. An orchestral song
    # opens on the orchestra and ends on it: without that stretch a tagger hears
    # a voice with accompaniment, not an orchestra (docs/decisions/0020).
    frame_bars: int | None = None


def _p(*names: str) -> frozenset[str]:
    return frozenset(names)


GENRES: dict[str, GenreProfile] = {
    profile.name: profile
    for profile in (
        GenreProfile(
            name="pop",
            keywords=("pop", "catchy", "radio", "mainstream", "k-pop", "kpop", "j-pop"),
            bpm=(96, 120),
            mode="major",
            verse=("vi", "IV", "I", "V"),
            chorus=("I", "V", "vi", "IV"),
            bridge=("IV", "V", "iii", "vi"),
            drums="pop",
            bass="root8",
            chords_program=0,
            chords_style="block",
            bass_program=33,
            lead_program=81,
            pad_program=89,
            colour_program=11,
            energy=0.65,
            voice_default="female",
        ),
        GenreProfile(
            name="edm",
            keywords=(
                "edm",
                "electronic",
                "dance",
                "house",
                "techno",
                "trance",
                "club",
                "rave",
                "synth",
                "synths",
                "electro",
                "dubstep",
                "festival",
                "eurodance",
            ),
            bpm=(124, 128),
            mode="minor",
            verse=("i", "bVI", "bIII", "bVII"),
            chorus=("i", "bVI", "bIII", "bVII"),
            bridge=("bVI", "bVII", "i", "i"),
            drums="four",
            bass="offbeat",
            chords_program=90,
            chords_style="stab",
            bass_program=38,
            lead_program=81,
            pad_program=89,
            colour_program=None,
            synth_parts=_p("drums", "bass", "pad", "chords", "lead"),
            energy=0.85,
            texture=("riser",),
            voice_default="female",
            pump=0.45,
        ),
        GenreProfile(
            name="rock",
            keywords=("rock", "guitar", "guitars", "distorted", "grunge", "alternative", "indie"),
            bpm=(128, 150),
            mode="major",
            verse=("I", "bVII", "IV", "I"),
            chorus=("I", "V", "vi", "IV"),
            bridge=("vi", "IV", "I", "V"),
            drums="rock",
            bass="root8",
            chords_program=30,
            chords_style="power",
            bass_program=34,
            lead_program=29,
            pad_program=None,
            colour_program=18,
            energy=0.9,
            drive=0.45,
        ),
        GenreProfile(
            name="metal",
            keywords=("metal", "heavy", "thrash", "hardcore", "screamo"),
            bpm=(140, 170),
            mode="minor",
            verse=("i", "bVI", "bVII", "i"),
            chorus=("i", "bVI", "bIII", "bVII"),
            bridge=("iv", "bVI", "v", "v"),
            drums="metal",
            bass="root8",
            # Palm-muted chugs on the low root between open power chords, double-tracked
            # distorted guitars, a distorted lead for the solo.
            chords_program=30,
            chords_style="chug",
            bass_program=34,
            lead_program=30,
            pad_program=None,
            colour_program=None,
            energy=1.0,
            levels=(("band", 4.0), ("chords", 4.0), ("drums", 1.0), ("bass", 1.0)),
            drive=0.9,
        ),
        GenreProfile(
            name="punk",
            keywords=("punk", "punk rock", "pop-punk", "garage"),
            bpm=(160, 185),
            mode="major",
            verse=("I", "IV", "V", "IV"),
            chorus=("I", "V", "vi", "IV"),
            bridge=("IV", "V", "IV", "V"),
            drums="rock",
            bass="root8",
            chords_program=30,
            chords_style="power",
            bass_program=34,
            lead_program=29,
            pad_program=None,
            colour_program=None,
            energy=0.95,
            levels=(("chords", 2.0),),
            drive=0.6,
        ),
        GenreProfile(
            name="ballad",
            keywords=("ballad", "piano", "heartbreak", "love song", "torch"),
            bpm=(66, 76),
            mode="major",
            verse=("I", "V", "vi", "IV"),
            chorus=("IV", "I", "V", "vi"),
            bridge=("vi", "IV", "I", "V"),
            drums="ballad",
            bass="root4",
            chords_program=0,
            chords_style="arp",
            bass_program=32,
            lead_program=0,
            pad_program=49,
            colour_program=None,
            energy=0.35,
        ),
        GenreProfile(
            name="country",
            keywords=(
                "country",
                "americana",
                "bluegrass",
                "cowboy",
                "nashville",
                "banjo",
                "fiddle",
                "story-telling",
                "storytelling",
            ),
            bpm=(90, 104),
            mode="major",
            verse=("I", "IV", "I", "V"),
            chorus=("IV", "I", "V", "I"),
            bridge=("vi", "IV", "I", "V"),
            drums="country",
            bass="alternate",
            chords_program=25,
            chords_style="strum",
            bass_program=32,
            lead_program=110,
            pad_program=None,
            colour_program=105,
            energy=0.55,
        ),
        GenreProfile(
            name="hiphop",
            keywords=(
                "hip hop",
                "hip-hop",
                "hiphop",
                "rap",
                "boom bap",
                "beat",
                "beats",
                "vinyl",
            ),
            bpm=(86, 94),
            mode="minor",
            verse=("i", "bVI", "iv", "v"),
            chorus=("i", "bVI", "bIII", "bVII"),
            bridge=("bVI", "bVII", "i", "i"),
            drums="hiphop",
            bass="sub",
            chords_program=4,
            chords_style="block",
            bass_program=38,
            lead_program=4,
            pad_program=None,
            colour_program=11,
            # A sampled kit (boom bap); "808"/"trap" in the prompt switch to the synth kit.
            synth_parts=_p("bass"),
            swing=0.12,
            energy=0.6,
            texture=("crackle",),
            syllable_seconds=0.19,
        ),
        GenreProfile(
            name="rnb",
            keywords=("r&b", "rnb", "soul", "neo-soul", "motown", "smooth", "sensual"),
            bpm=(70, 90),
            mode="minor",
            verse=("ii7", "V7", "Imaj7", "vi7"),
            chorus=("IVmaj7", "iii7", "vi7", "V7"),
            bridge=("ii7", "iii7", "IVmaj7", "V7"),
            drums="hiphop",
            bass="root4",
            chords_program=4,
            chords_style="block",
            bass_program=33,
            lead_program=4,
            pad_program=89,
            colour_program=None,
            synth_parts=_p("drums"),
            swing=0.1,
            energy=0.5,
            voice_default="female",
        ),
        GenreProfile(
            name="ambient",
            keywords=(
                "ambient",
                "meditation",
                "calm",
                "relaxing",
                "drone",
                "atmospheric",
                "new age",
                "spa",
                "sleep",
                "background",
                "chillout",
                "pads",
            ),
            bpm=(64, 76),
            mode="major",
            verse=("Imaj7", "IVmaj7", "vi7", "IVmaj7"),
            chorus=("IVmaj7", "Imaj7", "vi7", "V"),
            bridge=("vi7", "IVmaj7", "Imaj7", "Imaj7"),
            drums="none",
            bass="sub",
            chords_program=89,
            chords_style="pad",
            bass_program=89,
            lead_program=88,
            pad_program=88,
            colour_program=11,
            synth_parts=_p("pad", "bass"),
            energy=0.2,
            voice_default="female",
        ),
        GenreProfile(
            name="jazz",
            keywords=("jazz", "swing", "bebop", "lounge", "smooth jazz", "saxophone", "sax"),
            bpm=(110, 140),
            mode="major",
            verse=("ii7", "V7", "Imaj7", "vi7"),
            chorus=("ii7", "V7", "iii7", "vi7"),
            bridge=("IVmaj7", "iii7", "ii7", "V7"),
            drums="jazz",
            bass="walk",
            # A piano trio: shell voicings comped off the beat, upright bass walking in
            # quarters, ride cymbal and brushes kept low; a tenor sax takes the solos,
            # vibraphone colours the choruses.
            chords_program=0,
            chords_style="comp",
            bass_program=32,
            lead_program=66,
            pad_program=None,
            colour_program=11,
            swing=0.33,
            energy=0.5,
            levels=(("band", 3.0), ("chords", 4.0), ("bass", 4.0), ("drums", -8.0), ("lead", 2.0)),
            fills=True,
        ),
        GenreProfile(
            name="blues",
            keywords=("blues", "bluesy", "delta"),
            bpm=(80, 100),
            mode="major",
            verse=("I7", "IV7", "I7", "V7"),
            chorus=("IV7", "IV7", "I7", "V7"),
            bridge=("IV7", "I7", "V7", "IV7"),
            drums="shuffle",
            bass="walk",
            chords_program=27,
            chords_style="strum",
            bass_program=33,
            lead_program=22,
            pad_program=16,
            colour_program=None,
            swing=0.3,
            energy=0.55,
        ),
        GenreProfile(
            name="reggae",
            keywords=("reggae", "dub", "ska", "island", "caribbean", "dancehall"),
            bpm=(72, 84),
            mode="major",
            verse=("I", "IV", "I", "V"),
            chorus=("IV", "V", "I", "vi"),
            bridge=("ii", "V", "I", "I"),
            drums="onedrop",
            bass="reggae",
            chords_program=27,
            chords_style="skank",
            bass_program=33,
            lead_program=16,
            pad_program=None,
            colour_program=114,
            energy=0.5,
        ),
        GenreProfile(
            name="latin",
            keywords=(
                "latin",
                "salsa",
                "reggaeton",
                "cumbia",
                "tango",
                "flamenco",
                "bachata",
            ),
            bpm=(92, 104),
            mode="minor",
            verse=("i", "iv", "bVII", "bIII"),
            chorus=("i", "bVI", "bVII", "i"),
            bridge=("iv", "v", "i", "i"),
            drums="latin",
            bass="root8",
            chords_program=24,
            chords_style="strum",
            bass_program=33,
            lead_program=56,
            pad_program=None,
            colour_program=12,
            energy=0.7,
            horns_program=61,
        ),
        GenreProfile(
            name="funk",
            keywords=("funk", "funky", "groove", "groovy", "boogie", "slap", "clavinet"),
            bpm=(104, 118),
            mode="minor",
            verse=("i7", "iv7", "i7", "iv7"),
            chorus=("bVI", "bVII", "i7", "i7"),
            bridge=("iv7", "v7", "i7", "i7"),
            drums="funk",
            bass="slap",
            # A sixteenth-note clavinet riff, slap bass (thumbed roots, popped octaves,
            # ghost notes), muted "chicken scratch" guitar, horn stabs on the accents.
            chords_program=7,
            chords_style="clav",
            bass_program=36,
            lead_program=61,
            pad_program=None,
            colour_program=28,
            energy=0.75,
            horns_program=61,
            levels=(("bass", 3.0), ("chords", 2.0), ("drums", 1.0)),
        ),
        GenreProfile(
            name="classical",
            keywords=(
                "classical",
                "orchestral",
                "orchestra",
                "cinematic",
                "epic",
                "symphonic",
                "film score",
                "soundtrack",
                "strings",
                "violin",
                "cello",
            ),
            bpm=(76, 96),
            mode="minor",
            verse=("i", "iv", "bVII", "bIII"),
            chorus=("bVI", "bIII", "bVII", "i"),
            bridge=("iv", "i", "V", "V"),
            drums="none",
            bass="sub",
            # A string section (spiccato ostinato over held strings, cellos on the
            # roots), French horns swelling into the choruses, timpani, harp colour;
            # no drum kit.
            chords_program=48,
            chords_style="ostinato",
            bass_program=42,
            lead_program=40,
            pad_program=49,
            colour_program=46,
            energy=0.5,
            horns_program=60,
            horns_style="swell",
            timpani=True,
            levels=(("band", 4.0), ("chords", 5.0), ("pad", 9.0), ("bass", 3.0)),
            fills=True,
            frame_bars=8,
        ),
        GenreProfile(
            name="disco",
            keywords=("disco", "70s", "studio 54", "mirror ball", "nu-disco", "nu disco"),
            bpm=(114, 124),
            mode="minor",
            verse=("i7", "iv7", "bVII", "bIII"),
            chorus=("bVI", "bVII", "i7", "i7"),
            bridge=("iv7", "bVII", "bIIImaj7", "bVImaj7"),
            drums="disco",
            bass="octave",
            # Muted funk guitar stabs, string section pads, brass on the riffs.
            chords_program=28,
            chords_style="stab",
            bass_program=33,
            lead_program=61,
            pad_program=48,
            colour_program=48,
            energy=0.8,
            voice_default="female",
        ),
        GenreProfile(
            name="folk",
            keywords=(
                "folk",
                "acoustic",
                "fingerpicked",
                "fingerpicking",
                "harmonica",
                "singer-songwriter",
                "campfire",
                "unplugged",
            ),
            bpm=(84, 104),
            mode="major",
            verse=("I", "IV", "I", "V"),
            chorus=("vi", "IV", "I", "V"),
            bridge=("IV", "V", "vi", "V"),
            drums="ballad",
            bass="root4",
            # Fingerpicked steel-string guitar, harmonica answers.
            chords_program=25,
            chords_style="arp",
            bass_program=32,
            lead_program=22,
            pad_program=None,
            colour_program=None,
            energy=0.4,
        ),
        GenreProfile(
            name="synthwave",
            keywords=(
                "synthwave",
                "retrowave",
                "outrun",
                "80s",
                "eighties",
                "synthpop",
                "synth-pop",
                "new wave",
                "retro",
            ),
            bpm=(96, 118),
            mode="minor",
            verse=("i", "bVI", "bIII", "bVII"),
            chorus=("bVI", "bVII", "i", "i"),
            bridge=("iv", "bVI", "bVII", "bVII"),
            drums="synthwave",
            bass="root8",
            chords_program=90,
            chords_style="pad",
            bass_program=38,
            lead_program=81,
            pad_program=89,
            colour_program=None,
            synth_parts=_p("drums", "bass", "pad", "chords", "lead"),
            energy=0.7,
        ),
        GenreProfile(
            name="lofi",
            keywords=("lofi", "lo-fi", "chillhop", "chill hop", "study", "dusty", "jazzy hip hop"),
            bpm=(72, 88),
            mode="major",
            verse=("IVmaj7", "iii7", "ii7", "Imaj7"),
            chorus=("ii7", "V7", "Imaj7", "vi7"),
            bridge=("IVmaj7", "iv7", "iii7", "vi7"),
            drums="hiphop",
            bass="root4",
            # Mellow electric piano, a soft guitar colour, vinyl crackle, lazy swing.
            chords_program=4,
            chords_style="block",
            bass_program=32,
            lead_program=11,
            pad_program=None,
            colour_program=26,
            swing=0.16,
            energy=0.4,
            texture=("crackle",),
        ),
        GenreProfile(
            name="gospel",
            keywords=("gospel", "church", "choir", "hymn", "praise", "worship", "spiritual"),
            bpm=(72, 96),
            mode="major",
            verse=("I", "IV", "I", "V"),
            chorus=("IV", "I", "ii7", "V7"),
            bridge=("vi", "iii7", "IV", "V7"),
            drums="gospel",
            bass="root4",
            # Church organ, a choir pad, piano colour, hand claps in the kit.
            chords_program=19,
            chords_style="block",
            bass_program=33,
            lead_program=0,
            pad_program=52,
            colour_program=0,
            swing=0.1,
            energy=0.65,
            voice_default="female",
        ),
        GenreProfile(
            name="trap",
            keywords=("trap", "drill", "808", "808s", "rolling hi-hats", "hi-hats"),
            bpm=(136, 150),
            mode="minor",
            verse=("i", "bVI", "i", "bVII"),
            chorus=("i", "bVI", "bIII", "bVII"),
            bridge=("bVI", "bVII", "i", "i"),
            drums="trap",
            bass="sub",
            chords_program=88,
            chords_style="pad",
            bass_program=38,
            lead_program=80,
            pad_program=89,
            colour_program=None,
            synth_parts=_p("drums", "bass", "pad"),
            energy=0.7,
            # Rapped at half-time speech pace over a double-time beat.
            syllable_seconds=0.19,
        ),
        GenreProfile(
            name="bossa",
            keywords=("bossa", "bossa nova", "samba", "brazilian", "mpb"),
            bpm=(120, 140),
            mode="major",
            verse=("Imaj7", "ii7", "iii7", "V7"),
            chorus=("IVmaj7", "iv7", "iii7", "vi7"),
            bridge=("ii7", "V7", "Imaj7", "vi7"),
            drums="bossa",
            bass="alternate",
            # Nylon guitar in the bossa pattern (thumb on the bass, fingers on the
            # syncopated chord), soft rim clicks and brushed hat, a flute solo.
            chords_program=24,
            chords_style="bossa",
            bass_program=32,
            lead_program=73,
            pad_program=None,
            colour_program=None,
            energy=0.4,
            voice_default="female",
            levels=(("chords", 5.0), ("drums", -8.0), ("bass", -1.0)),
            fills=True,
        ),
    )
}

DEFAULT_GENRE = "pop"


def parse_numeral(numeral: str) -> tuple[int, str]:
    """Roman numeral ("bVI", "ii7", "Imaj7") -> (semitones above the tonic, quality)."""
    text = numeral
    flat = text.startswith("b")
    if flat:
        text = text[1:]
    suffix = ""
    for ending in ("maj7", "7"):
        if text.endswith(ending):
            suffix = ending
            text = text[: -len(ending)]
            break
    degrees = {"i": 0, "ii": 2, "iii": 4, "iv": 5, "v": 7, "vi": 9, "vii": 11}
    offset = degrees[text.lower()] - (1 if flat else 0)
    minor = text.islower()
    if suffix == "maj7":
        quality = "maj7"
    elif suffix == "7":
        quality = "min7" if minor else "7"
    else:
        quality = "min" if minor else "maj"
    return offset % 12, quality
