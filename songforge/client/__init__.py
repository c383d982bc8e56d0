"""A small typed client for the songforge API (docs/api.md), sync and async.

    from songforge.client import Client

    with Client() as client:  # SONGFORGE_URL, SONGFORGE_API_KEY
        created = client.create_music("minimax-music", "lo-fi piano, rainy night")
        task = client.wait(created)
        client.download(task, "song.mp3")

The client runs on the user's machine, so it is the one part of songforge
that reads its configuration from the environment directly.
"""

from songforge.client.aio import AsyncClient
from songforge.client.errors import SongforgeError
from songforge.client.models import (
    Account,
    CreatedTask,
    Credits,
    Model,
    Stems,
    Task,
    TaskError,
    TaskInput,
    TaskOutput,
    TaskPage,
    TimedLine,
    TimedLyrics,
    TimedWord,
)
from songforge.client.protocol import DownloadResult
from songforge.client.sync import Client

__all__ = [
    "Account",
    "AsyncClient",
    "Client",
    "CreatedTask",
    "Credits",
    "DownloadResult",
    "Model",
    "SongforgeError",
    "Stems",
    "Task",
    "TaskError",
    "TaskInput",
    "TaskOutput",
    "TaskPage",
    "TimedLine",
    "TimedLyrics",
    "TimedWord",
]
