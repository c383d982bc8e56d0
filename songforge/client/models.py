"""Typed views of the API's JSON answers (docs/api.md).

Parsing is tolerant on purpose: fields the client does not know are kept in
``raw`` and otherwise ignored, and optional fields may be missing, so a newer
server (or an aggregator speaking the same route) does not break an older
client. Only the fields that identify a thing (``task_id``, ``status``) are
required; a task answer without them is an ``invalid_response`` error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from songforge.client.errors import SongforgeError

FINAL_STATUSES = frozenset({"completed", "failed"})

JSONObject = Mapping[str, Any]


def _invalid(message: str) -> SongforgeError:
    return SongforgeError(message, type="invalid_response")


def _object(value: Any, what: str) -> JSONObject:
    if not isinstance(value, Mapping):
        raise _invalid(f"expected a JSON object for {what}, got {type(value).__name__}")
    return value


def _opt_object(value: Any) -> JSONObject | None:
    return value if isinstance(value, Mapping) else None


def _req_str(obj: JSONObject, key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise _invalid(f"{what} has no {key!r}")
    return value


def _opt_str(obj: JSONObject, key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def _opt_int(obj: JSONObject, key: str) -> int | None:
    value = obj.get(key)
    # bool is an int in Python but never a count or a rate in the contract.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _opt_float(obj: JSONObject, key: str) -> float | None:
    value = obj.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _int(obj: JSONObject, key: str) -> int:
    value = _opt_int(obj, key)
    return 0 if value is None else value


def _opt_datetime(obj: JSONObject, key: str) -> datetime | None:
    value = obj.get(key)
    if not isinstance(value, str):
        return None
    try:
        # Python 3.11 reads the "Z" suffix and fractional seconds of ISO 8601.
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class CreatedTask:
    """The answer to a create: the new task's id and status."""

    task_id: str
    status: str
    # True when an Idempotency-Key matched an earlier request and that task
    # came back instead of a new one (and nothing was charged again).
    replayed: bool = False

    @classmethod
    def from_json(cls, data: Any, *, replayed: bool = False) -> CreatedTask:
        obj = _object(data, "the created task")
        return cls(
            task_id=_req_str(obj, "task_id", "the created task"),
            status=_req_str(obj, "status", "the created task"),
            replayed=replayed,
        )


def _flag(obj: JSONObject, key: str) -> bool:
    return obj.get(key) is True


@dataclass(frozen=True)
class TaskInput:
    model: str | None
    prompt: str | None
    lyrics: str | None
    bitrate: int | None
    sample_rate: int | None
    seed: int | None
    duration: float | None
    raw: JSONObject = field(default_factory=dict, repr=False, compare=False)
    # Issue 14's extensions: the server lists them only when asked.
    format: str = "mp3"
    instrumental: bool = False
    stems: bool = False
    lyrics_timing: bool = False

    @classmethod
    def from_json(cls, data: Any) -> TaskInput:
        obj = _object(data, "task input")
        return cls(
            model=_opt_str(obj, "model"),
            prompt=_opt_str(obj, "prompt"),
            lyrics=_opt_str(obj, "lyrics"),
            bitrate=_opt_int(obj, "bitrate"),
            sample_rate=_opt_int(obj, "sample_rate"),
            seed=_opt_int(obj, "seed"),
            duration=_opt_float(obj, "duration"),
            raw=obj,
            format=_opt_str(obj, "format") or "mp3",
            instrumental=_flag(obj, "instrumental"),
            stems=_flag(obj, "stems"),
            lyrics_timing=_flag(obj, "lyrics_timing"),
        )


@dataclass(frozen=True)
class TimedWord:
    """One sung word: when it is heard, in seconds into the song."""

    text: str
    start: float
    end: float

    @classmethod
    def from_json(cls, data: Any) -> TimedWord:
        obj = _object(data, "a timed word")
        return cls(
            text=_opt_str(obj, "text") or "",
            start=_opt_float(obj, "start") or 0.0,
            end=_opt_float(obj, "end") or 0.0,
        )


@dataclass(frozen=True)
class TimedLine:
    """One lyric line as sung, with its words."""

    text: str
    start: float
    end: float
    words: tuple[TimedWord, ...]

    @classmethod
    def from_json(cls, data: Any) -> TimedLine:
        obj = _object(data, "a timed line")
        words = obj.get("words")
        return cls(
            text=_opt_str(obj, "text") or "",
            start=_opt_float(obj, "start") or 0.0,
            end=_opt_float(obj, "end") or 0.0,
            words=tuple(TimedWord.from_json(w) for w in words) if isinstance(words, list) else (),
        )


@dataclass(frozen=True)
class TimedLyrics:
    """``output.lyrics`` (with ``lyrics_timing``): the lines in the order sung."""

    lines: tuple[TimedLine, ...]

    @classmethod
    def from_json(cls, data: Any) -> TimedLyrics:
        lines = _object(data, "timed lyrics").get("lines")
        return cls(tuple(TimedLine.from_json(x) for x in lines) if isinstance(lines, list) else ())

    def line_at(self, seconds: float) -> TimedLine | None:
        """The line being sung at ``seconds`` (for karaoke-style display), if any."""
        return next((line for line in self.lines if line.start <= seconds < line.end), None)


@dataclass(frozen=True)
class Stems:
    """``output.stems`` (with ``stems``): signed links, in the song's format; None
    once the operator's retention deleted the files."""

    vocals: str | None
    instrumental: str | None

    @classmethod
    def from_json(cls, data: Any) -> Stems:
        obj = _object(data, "stems")
        return cls(vocals=_opt_str(obj, "vocals"), instrumental=_opt_str(obj, "instrumental"))


@dataclass(frozen=True)
class TaskOutput:
    """What a completed task made: the file, described as it was really encoded."""

    audio_url: str
    expires_at: datetime | None
    format: str | None
    duration_seconds: float | None
    sample_rate: int | None
    bitrate: int | None
    bitrate_mode: str | None
    channels: int | None
    size_bytes: int | None
    sha256: str | None
    engine: str | None
    raw: JSONObject = field(default_factory=dict, repr=False, compare=False)
    # Issue 14: 16 for WAV/FLAC (which have no bitrate); timed lyrics and their LRC
    # file's link (with lyrics_timing); links to the stems (with stems).
    bit_depth: int | None = None
    lyrics: TimedLyrics | None = None
    lrc_url: str | None = None
    stems: Stems | None = None

    @classmethod
    def from_json(cls, data: Any) -> TaskOutput:
        obj = _object(data, "task output")
        lyrics, stems = _opt_object(obj.get("lyrics")), _opt_object(obj.get("stems"))
        return cls(
            audio_url=_req_str(obj, "audio_url", "the task output"),
            expires_at=_opt_datetime(obj, "expires_at"),
            format=_opt_str(obj, "format"),
            duration_seconds=_opt_float(obj, "duration_seconds"),
            sample_rate=_opt_int(obj, "sample_rate"),
            bitrate=_opt_int(obj, "bitrate"),
            bitrate_mode=_opt_str(obj, "bitrate_mode"),
            channels=_opt_int(obj, "channels"),
            size_bytes=_opt_int(obj, "size_bytes"),
            sha256=_opt_str(obj, "sha256"),
            engine=_opt_str(obj, "engine"),
            raw=obj,
            bit_depth=_opt_int(obj, "bit_depth"),
            lyrics=TimedLyrics.from_json(lyrics) if lyrics is not None else None,
            lrc_url=_opt_str(obj, "lrc_url"),
            stems=Stems.from_json(stems) if stems is not None else None,
        )


@dataclass(frozen=True)
class Credits:
    price: int
    held: int
    charged: int
    refunded: int

    @classmethod
    def from_json(cls, data: Any) -> Credits:
        obj = _object(data, "task credits")
        return cls(
            price=_int(obj, "price"),
            held=_int(obj, "held"),
            charged=_int(obj, "charged"),
            refunded=_int(obj, "refunded"),
        )


@dataclass(frozen=True)
class TaskError:
    """Why a task failed; ``type == "canceled"`` for a cancelled task."""

    code: str | int | None
    message: str
    type: str

    @classmethod
    def from_json(cls, data: Any) -> TaskError:
        obj = _object(data, "task error")
        code = obj.get("code")
        return cls(
            code=code if isinstance(code, str | int) and not isinstance(code, bool) else None,
            message=_opt_str(obj, "message") or "",
            type=_opt_str(obj, "type") or "unknown",
        )


@dataclass(frozen=True)
class Task:
    task_id: str
    status: str
    model: str | None = None
    stage: str | None = None
    progress: float | None = None
    queue_position: int | None = None
    eta_seconds: float | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    input: TaskInput | None = None
    output: TaskOutput | None = None
    credits: Credits | None = None
    error: TaskError | None = None
    raw: JSONObject = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def is_completed(self) -> bool:
        return self.status == "completed"

    @property
    def is_failed(self) -> bool:
        return self.status == "failed"

    @classmethod
    def from_json(cls, data: Any) -> Task:
        obj = _object(data, "a task")
        input_obj = _opt_object(obj.get("input"))
        output_obj = _opt_object(obj.get("output"))
        credits_obj = _opt_object(obj.get("credits"))
        error_obj = _opt_object(obj.get("error"))
        return cls(
            task_id=_req_str(obj, "task_id", "the task"),
            status=_req_str(obj, "status", "the task"),
            model=_opt_str(obj, "model"),
            stage=_opt_str(obj, "stage"),
            progress=_opt_float(obj, "progress"),
            queue_position=_opt_int(obj, "queue_position"),
            eta_seconds=_opt_float(obj, "eta_seconds"),
            created_at=_opt_datetime(obj, "created_at"),
            started_at=_opt_datetime(obj, "started_at"),
            finished_at=_opt_datetime(obj, "finished_at"),
            input=TaskInput.from_json(input_obj) if input_obj is not None else None,
            output=TaskOutput.from_json(output_obj) if output_obj is not None else None,
            credits=Credits.from_json(credits_obj) if credits_obj is not None else None,
            error=TaskError.from_json(error_obj) if error_obj is not None else None,
            raw=obj,
        )


@dataclass(frozen=True)
class TaskPage:
    """One page of ``GET /api/v1/tasks``, newest first."""

    tasks: list[Task]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Any) -> TaskPage:
        # The contract does not fix the page's shape; accept a bare list or an
        # object holding the list under a usual name, plus a cursor if any.
        if isinstance(data, list):
            return cls(tasks=[Task.from_json(item) for item in data], next_cursor=None)
        obj = _object(data, "the task list")
        items: Any = None
        for key in ("tasks", "items", "data"):
            if isinstance(obj.get(key), list):
                items = obj[key]
                break
        if items is None:
            raise _invalid("the task list has no list of tasks")
        cursor = _opt_str(obj, "next_cursor") or _opt_str(obj, "cursor")
        return cls(tasks=[Task.from_json(item) for item in items], next_cursor=cursor)


@dataclass(frozen=True)
class Model:
    """A live model from ``GET /api/v1/models``."""

    id: str
    name: str | None
    description: str | None
    price: int | None
    # One object per request field (name, type, required, enum, min/max...).
    parameters: list[JSONObject]
    limits: JSONObject
    raw: JSONObject = field(default_factory=dict, repr=False, compare=False)
    # Issue 14: what it gives beyond an MP3 ("wav", "flac", "instrumental", "stems",
    # "lyrics_timing"), and what stems and a lossless file add to ``price``.
    features: tuple[str, ...] = ()
    price_stems: int = 0
    price_lossless: int = 0

    def supports(self, feature: str) -> bool:
        return feature in self.features

    def parameter(self, name: str) -> JSONObject | None:
        return next((p for p in self.parameters if p.get("name") == name), None)

    @classmethod
    def from_json(cls, data: Any) -> Model:
        obj = _object(data, "a model")
        return cls(
            id=_req_str(obj, "id", "the model"),
            name=_opt_str(obj, "name"),
            description=_opt_str(obj, "description"),
            price=_opt_int(obj, "price"),
            parameters=_parameters(obj.get("parameters")),
            limits=_opt_object(obj.get("limits")) or {},
            raw=obj,
            features=_names(obj.get("features")),
            price_stems=_int(obj, "price_stems"),
            price_lossless=_int(obj, "price_lossless"),
        )


def _names(value: Any) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def _parameters(value: Any) -> list[JSONObject]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    # A mapping keyed by field name is the other common way to describe them.
    if isinstance(value, Mapping):
        return [
            {"name": name, **spec} if isinstance(spec, Mapping) else {"name": name}
            for name, spec in value.items()
        ]
    return []


def parse_models(data: Any) -> list[Model]:
    if isinstance(data, list):
        return [Model.from_json(item) for item in data]
    obj = _object(data, "the model list")
    for key in ("models", "data", "items"):
        if isinstance(obj.get(key), list):
            return [Model.from_json(item) for item in obj[key]]
    raise _invalid("the model list has no list of models")


@dataclass(frozen=True)
class Account:
    """``GET /api/v1/account``: the balance and the key that asked."""

    balance: int
    held: int
    available: int
    id: str | None
    email: str | None
    key: JSONObject
    raw: JSONObject = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Account:
        obj = _object(data, "the account")
        balance = _int(obj, "balance")
        held = _int(obj, "held")
        available = _opt_int(obj, "available")
        return cls(
            balance=balance,
            held=held,
            available=balance - held if available is None else available,
            id=_opt_str(obj, "account_id") or _opt_str(obj, "id"),
            email=_opt_str(obj, "email"),
            key=_opt_object(obj.get("key")) or {},
            raw=obj,
        )
