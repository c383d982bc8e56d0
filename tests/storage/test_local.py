"""storage/local.py: what the shared contract (test_contract.py) cannot see of a
directory: atomic writes leave nothing half-written, and no method lets a key out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from songforge.storage.local import LocalStorage

ESCAPING = ["", "/etc/passwd", "../outside.mp3", "a/../../b.mp3", "tsk_a/../../x"]


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob(".tmp-*"))


def test_the_root_is_made_and_keys_make_their_directories(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "a" / "b")
    storage.save("tsk_1/deep/attempt-1.mp3", b"x")
    assert (tmp_path / "a" / "b" / "tsk_1" / "deep" / "attempt-1.mp3").read_bytes() == b"x"
    assert storage.local_path("tsk_1/deep/attempt-1.mp3") == (
        tmp_path / "a" / "b" / "tsk_1" / "deep" / "attempt-1.mp3"
    )


def test_a_save_leaves_no_temporary_file(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.save("tsk_1/attempt-1.mp3", b"first")
    storage.save("tsk_1/attempt-1.mp3", b"second")
    assert _leftovers(tmp_path) == []
    assert storage.read("tsk_1/attempt-1.mp3") == b"second"


def test_a_failed_save_keeps_the_old_file_whole_and_cleans_up(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.save("tsk_1/attempt-1.mp3", b"complete song")
    not_bytes: Any = "text is not bytes"
    with pytest.raises(TypeError):
        storage.save("tsk_1/attempt-1.mp3", not_bytes)
    assert storage.read("tsk_1/attempt-1.mp3") == b"complete song"
    assert _leftovers(tmp_path) == []


def _calls(storage: LocalStorage) -> list[Callable[[str], object]]:
    return [
        lambda key: storage.save(key, b"x"),
        storage.read,
        storage.exists,
        storage.delete,
        storage.delete_prefix,
        storage.local_path,
        storage.stream,
    ]


@pytest.mark.parametrize("key", ESCAPING)
def test_no_method_lets_a_key_out_of_the_root(tmp_path: Path, key: str) -> None:
    (tmp_path / "outside.mp3").write_bytes(b"not yours")
    storage = LocalStorage(tmp_path / "root")
    for call in _calls(storage):
        with pytest.raises(ValueError, match="bad storage key"):
            call(key)
    assert (tmp_path / "outside.mp3").read_bytes() == b"not yours"


def test_a_name_prefix_takes_the_files_that_start_with_it(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    for key in ("tsk_1/attempt-1.mp3", "tsk_1/attempt-1.mp3.svg", "tsk_1/attempt-2.mp3"):
        storage.save(key, b"x")
    assert storage.delete_prefix("tsk_1/attempt-1") == 2
    assert [storage.exists(k) for k in ("tsk_1/attempt-1.mp3", "tsk_1/attempt-2.mp3")] == [
        False,
        True,
    ]
    assert storage.delete_prefix("tsk_2/attempt-1") == 0  # no such directory


def test_deleting_a_task_prefix_removes_its_directory(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.save("tsk_1/attempt-1.mp3", b"x")
    storage.save("tsk_1/parts/vocals.mp3", b"y")
    assert storage.delete_prefix("tsk_1/") == 2
    assert not (tmp_path / "tsk_1").exists()
