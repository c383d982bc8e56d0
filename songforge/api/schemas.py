"""The request and answer shapes of docs/api.md as pydantic models.

They exist to describe the API in /api/openapi.json (see api/openapi.py): the hot
routes parse and serialise by hand and never go through these models, so a field
added to an answer must be added here too (tests/api/test_openapi.py checks real
answers against the document).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from songforge.audio.mp3 import ALLOWED_BITRATES, ALLOWED_SAMPLE_RATES
from songforge.audio.output_format import LOSSLESS_BIT_DEPTH
from songforge.catalog import FEATURES
from songforge.errors import ERROR_TYPES
from songforge.services.music_request import (
    DEFAULT_BITRATE,
    DEFAULT_SAMPLE_RATE,
    DURATION_MIN,
    LYRICS_MAX,
    PROMPT_MAX,
    SEED_MAX,
)

# Control characters are refused in text (issue 10): C0 but tab and line breaks, DEL, C1.
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_ALLOWED = rf"[^{_CONTROL}]"
_SPACE = rf"[^\S{_CONTROL}]"
_VISIBLE = rf"[^\s{_CONTROL}]"
# 1 to PROMPT_MAX characters once surrounding whitespace is trimmed, as the server
# counts them (a pattern rather than maxLength: leading and trailing spaces are free).
PROMPT_PATTERN = rf"^{_SPACE}*{_VISIBLE}(?:{_ALLOWED}{{0,{PROMPT_MAX - 2}}}{_VISIBLE})?{_SPACE}*$"
LYRICS_PATTERN = rf"^{_ALLOWED}*$"


class MusicRequest(BaseModel):
    """Body of POST /api/v1/audio/music; unknown fields are refused (400)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        description="A model id from GET /api/v1/models (unknown: 400; no live worker: 503)"
    )
    prompt: str = Field(
        pattern=PROMPT_PATTERN,
        description=f"Style and mood; 1 to {PROMPT_MAX} characters after trimming",
    )
    lyrics: str | None = Field(
        default=None,
        max_length=LYRICS_MAX,
        pattern=LYRICS_PATTERN,
        description="Lyrics; empty or absent makes an instrumental. Section tags on their own "
        "lines: [Intro] [Verse] [Pre Chorus] [Chorus] [Post Chorus] [Bridge] [Interlude] [Inst] "
        "[Solo] [Break] [Build Up] [Hook] [Transition] [Outro], any case, optionally numbered "
        "([Verse 2]); any other [...] is refused (400, param lyrics)",
    )
    bitrate: int = Field(
        default=DEFAULT_BITRATE,
        json_schema_extra={"enum": list(ALLOWED_BITRATES)},
        description="MP3 bitrate in bits per second (output.bitrate says what was encoded); "
        "MP3 only: given with format wav or flac it is refused (400, param bitrate)",
    )
    sample_rate: int = Field(
        default=DEFAULT_SAMPLE_RATE,
        json_schema_extra={"enum": list(ALLOWED_SAMPLE_RATES)},
        description="Sample rate of the file in Hz, always exactly this",
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=SEED_MAX,
        description="Same seed and input give the same song; default derived from the "
        "prompt and lyrics",
    )
    duration: float | None = Field(
        default=None,
        ge=DURATION_MIN,
        description="Upper bound on the song's length in seconds, up to the model's "
        "limits.max_duration_seconds",
    )
    # Issue 14's extensions. A model that cannot give one refuses it (400 with its param)
    # before anything is held; GET /api/v1/models lists each model's features and prices.
    format: Literal["mp3", "wav", "flac"] | None = Field(
        default=None,
        description=f"The file: mp3 (default), or lossless {LOSSLESS_BIT_DEPTH}-bit PCM in wav "
        "or flac at sample_rate (the model's price_lossless is added)",
    )
    stems: bool | None = Field(
        default=None,
        description="true: also the lead vocal and the instrumental as files in the same "
        "format (output.stems; the model's price_stems is added)",
    )
    instrumental: bool | None = Field(
        default=None, description="true: no voice, even when lyrics are given"
    )
    lyrics_timing: bool | None = Field(
        default=None,
        description="true: when each lyric line and word is sung (output.lyrics) and an LRC "
        "file with word timing (output.lrc_url)",
    )


_ERROR_TYPE_NAMES: list[JsonValue] = [*sorted(ERROR_TYPES)]


class ErrorDetail(BaseModel):
    code: int = Field(description="The HTTP status")
    message: str
    type: str = Field(json_schema_extra={"enum": _ERROR_TYPE_NAMES})
    param: str | None = Field(default=None, description="The field at fault, when one is")


class ErrorAnswer(BaseModel):
    """Every error, in the one envelope."""

    error: ErrorDetail


class TaskCreated(BaseModel):
    task_id: str
    status: Literal["IN_PROGRESS", "completed", "failed"] = Field(
        description="IN_PROGRESS for a new task; on an Idempotency-Key replay, the first "
        "task's status now"
    )


def _absent_when_lossless(schema: dict[str, JsonValue]) -> None:
    """A field every MP3 task has and a WAV/FLAC one leaves out: optional, not nullable,
    and without a made-up default in the document."""
    schema.pop("default", None)


class TaskInput(BaseModel):
    """The validated request, defaults filled in; an extension appears only when asked."""

    model: str
    prompt: str
    lyrics: str
    format: Literal["wav", "flac"] | None = Field(default=None, description="Lossless only")
    bitrate: int = Field(  # type: ignore[assignment]  # absent, never null (see above)
        default=None,
        json_schema_extra=_absent_when_lossless,
        description="MP3 only (always there for MP3)",
    )
    sample_rate: int
    seed: int
    duration: float | None
    instrumental: Literal[True] | None = None
    stems: Literal[True] | None = None
    lyrics_timing: Literal[True] | None = None


class TimedWord(BaseModel):
    text: str
    start: float = Field(description="Seconds into the song")
    end: float


class TimedLine(BaseModel):
    text: str
    start: float = Field(description="Seconds into the song")
    end: float
    words: list[TimedWord]


class TimedLyrics(BaseModel):
    lines: list[TimedLine] = Field(description="In the order sung; empty when nothing is sung")


class Stems(BaseModel):
    """Signed links, same format as the song; null once retention deleted the files."""

    vocals: str | None
    instrumental: str | None


class UpstreamInfo(BaseModel):
    """What a relayed song's upstream service said, beyond its model (open-ended)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="The upstream service's model")


class TaskOutput(BaseModel):
    """What was made (only when completed); read back from the file, never assumed."""

    audio_url: str = Field(description="Signed link, no key needed; poll again for a fresh one")
    expires_at: str = Field(json_schema_extra={"format": "date-time"})
    format: str
    duration_seconds: float
    sample_rate: int
    # Not nullable, only absent for WAV/FLAC: MP3 answers keep the seed's types.
    bitrate: int = Field(  # type: ignore[assignment]
        default=None,
        json_schema_extra=_absent_when_lossless,
        description="What was really encoded (measured average for abr); MP3 only",
    )
    bitrate_mode: Literal["cbr", "abr"] = Field(
        default=None,  # type: ignore[arg-type]
        json_schema_extra=_absent_when_lossless,
        description="MP3 only",
    )
    bit_depth: Literal[16] | None = Field(default=None, description="WAV/FLAC only")
    channels: int
    size_bytes: int
    sha256: str
    engine: str = Field(description="Which backend made it")
    upstream: UpstreamInfo | None = Field(
        default=None, description="Songs relayed from an upstream service only (docs/engines.md)"
    )
    attribution: str | None = Field(
        default=None, description="When the model's licence requires crediting it"
    )
    lyrics: TimedLyrics | None = Field(default=None, description="With lyrics_timing only")
    lrc_url: str | None = Field(
        default=None,
        description="With lyrics_timing only: signed link to an enhanced LRC file "
        "(<mm:ss.xx> word tags); null once retention deleted it",
    )
    stems: Stems | None = Field(default=None, description="With stems only")


class TaskError(BaseModel):
    code: int
    message: str
    type: str = Field(
        description="canceled (code 499), generation_error, worker_lost, internal_error, or "
        "an upstream engine's refusal"
    )


class TaskCredits(BaseModel):
    price: int
    held: int
    charged: int
    refunded: int


class Task(BaseModel):
    task_id: str
    model: str
    status: Literal["IN_PROGRESS", "completed", "failed"]
    stage: Literal["queued", "generating", "encoding", "done"]
    stage_detail: str | None = Field(description="The engine's own word while it works")
    progress: int = Field(ge=0, le=100)
    queue_position: int | None = Field(description="1 = next to start; only while queued")
    eta_seconds: int | None = Field(description="Seconds until done, or null")
    attempt: int
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    started_at: str | None = Field(json_schema_extra={"format": "date-time"})
    finished_at: str | None = Field(json_schema_extra={"format": "date-time"})
    input: TaskInput
    output: TaskOutput | None
    credits: TaskCredits
    error: TaskError | None


class TaskPage(BaseModel):
    items: list[Task] = Field(description="Newest first")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null at the end")


class ModelParameter(BaseModel):
    name: str
    type: str
    required: bool
    description: str
    default: int | float | str | bool | None = None
    enum: list[int] | list[str] | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None


class ModelLimits(BaseModel):
    prompt_max_chars: int
    lyrics_max_chars: int
    max_duration_seconds: float


class CatalogModel(BaseModel):
    id: str
    name: str
    description: str
    price: int
    price_unit: Literal["credits"]
    endpoint: str
    parameters: list[ModelParameter]
    limits: ModelLimits
    attribution: str | None
    features: list[str] = Field(
        json_schema_extra={"items": {"type": "string", "enum": list(FEATURES)}},
        description="What this model can give beyond an MP3 (format wav/flac, instrumental, "
        "stems, lyrics_timing); anything else is refused (400)",
    )
    price_stems: int = Field(description="Credits added to price with stems")
    price_lossless: int = Field(description="Credits added to price with format wav or flac")


class KeyInfo(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    expires_at: str | None = Field(json_schema_extra={"format": "date-time"})
    credit_cap: int | None
    credits_committed: int
    allowed_models: list[str] | None


class Account(BaseModel):
    account_id: str
    email: str
    balance: int
    held: int
    available: int
    key: KeyInfo = Field(description="The key that made this call")


class _Success(BaseModel):
    code: Literal[200]
    message: Literal["success"]


class TaskCreatedAnswer(_Success):
    data: TaskCreated


class TaskAnswer(_Success):
    data: Task


class TaskPageAnswer(_Success):
    data: TaskPage


class ModelListAnswer(_Success):
    data: list[CatalogModel]


class AccountAnswer(_Success):
    data: Account


class Health(BaseModel):
    status: Literal["ok"]


class ModelReadiness(BaseModel):
    live_workers: int


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    database: Literal["ok", "unreachable"]
    rate_limit: str = Field(
        description="ok (shared Redis), memory (per process, by configuration), or why the "
        "shared backend is not answering"
    )
    degraded: list[str] = Field(description="Dependencies down without stopping the service")
    models: dict[str, ModelReadiness]


DOCUMENTED_MODELS: tuple[type[BaseModel], ...] = (
    MusicRequest,
    ErrorAnswer,
    TaskCreatedAnswer,
    TaskAnswer,
    TaskPageAnswer,
    ModelListAnswer,
    AccountAnswer,
    Health,
    Readiness,
)
