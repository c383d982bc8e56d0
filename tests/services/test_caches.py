"""The finished-task cache keeps records and the answers rendered from them."""

from __future__ import annotations

from dataclasses import replace

from songforge.services.caches import (
    ANSWERS_PER_TASK,
    FinishedTaskCache,
    RefreshClaims,
    UnfinishedAnswers,
)
from songforge.services.task_records import TaskRecord, TaskStage, TaskStatus
from tests.records import task_record


def record(status: TaskStatus = TaskStatus.COMPLETED, task_id: str = "tsk_1") -> TaskRecord:
    finished = status != TaskStatus.IN_PROGRESS
    return task_record(
        id=task_id,
        status=status,
        stage=TaskStage.DONE if finished else TaskStage.QUEUED,
        output={"format": "mp3"} if finished else None,
        storage_key="tsk_1.mp3" if finished else None,
    )


def test_an_answer_is_kept_per_variant_beside_its_record() -> None:
    cache = FinishedTaskCache()
    task = record()
    cache.put(task)
    assert cache.answer(task.id, "http://a/ 60") is None
    cache.keep_answer(task, "http://a/ 60", b"A")
    cache.keep_answer(task, "http://b/ 60", b"B")
    assert cache.answer(task.id, "http://a/ 60") == (task, b"A")
    assert cache.answer(task.id, "http://b/ 60") == (task, b"B")
    assert cache.answer(task.id, "http://a/ 120") is None  # the next minute's links


def test_unfinished_or_unknown_tasks_keep_no_answer() -> None:
    cache = FinishedTaskCache()
    queued = record(TaskStatus.IN_PROGRESS)
    cache.put(queued)
    cache.keep_answer(queued, "v", b"x")
    assert cache.get(queued.id) is None and cache.answer(queued.id, "v") is None
    stranger = record(task_id="tsk_2")
    cache.keep_answer(stranger, "v", b"x")  # never put: nothing kept
    assert cache.answer("tsk_2", "v") is None


def test_a_changed_record_drops_the_answers_rendered_from_the_old_one() -> None:
    cache = FinishedTaskCache()
    task = record()
    cache.put(task)
    cache.keep_answer(task, "v", b"with links")
    cache.put(replace(task))  # an equal record read again: answers stay true
    assert cache.answer(task.id, "v") is not None
    deleted = replace(task, storage_key=None)  # retention deleted the files
    cache.put(deleted)
    assert cache.answer(task.id, "v") is None
    cache.keep_answer(task, "v", b"stale")  # rendered from the old record: refused
    assert cache.answer(task.id, "v") is None


def test_answers_per_task_are_bounded() -> None:
    cache = FinishedTaskCache()
    task = record()
    cache.put(task)
    for index in range(ANSWERS_PER_TASK + 1):
        cache.keep_answer(task, f"http://host{index}/ 60", b"x")
    kept = [i for i in range(ANSWERS_PER_TASK + 1) if cache.answer(task.id, f"http://host{i}/ 60")]
    assert len(kept) <= ANSWERS_PER_TASK and ANSWERS_PER_TASK in kept


def test_a_refresh_is_claimed_once_until_released_or_for_a_moment() -> None:
    now = [100.0]
    claims = RefreshClaims(hold=1.0, clock=lambda: now[0])
    assert claims.claim("m") and not claims.claim("m")
    assert claims.claim("other")
    claims.release("m")
    assert claims.claim("m")
    now[0] += 1.1  # never released: it stands no longer than its hold
    assert claims.claim("m")


def test_an_unfinished_answer_is_kept_for_the_same_record_and_progress_only() -> None:
    answers = UnfinishedAnswers(capacity=2)
    queued = task_record(status=TaskStatus.IN_PROGRESS, stage=TaskStage.QUEUED)
    answers.keep(queued, ("v", 3), b"third")
    assert answers.get(queued, ("v", 3)) == b"third"
    assert answers.get(queued, ("v", 2)) is None  # it moved up the queue
    assert answers.get(replace(queued), ("v", 3)) is None  # the row was read anew
    answers.keep(task_record(id="tsk_b"), 1, b"b")
    answers.keep(task_record(id="tsk_c"), 1, b"c")  # over capacity: forgets the others
    assert answers.get(queued, ("v", 3)) is None
