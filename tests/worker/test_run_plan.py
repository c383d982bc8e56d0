"""The ETA's prior: planned length, measured throughput, and where each comes from."""

from __future__ import annotations

from pathlib import Path

from songforge.audio.output_format import OutputFormat, mp3_format
from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.engines.base import GenerationRequest
from songforge.worker.run_plan import Throughput, plan_run
from tests.fakes import ToneEngine


class PlanningEngine(ToneEngine):
    def planned_seconds(self, request: GenerationRequest) -> float:
        return 105.0


def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    upgrade_to_head(db)
    return db


LOW = mp3_format(32000, 16000)


def test_calibration_is_replaced_by_the_first_real_encode() -> None:
    throughput = Throughput()
    calibrated = throughput.encode_rate(LOW)
    assert 0 < calibrated < 1.0
    throughput.record_encode(LOW, seconds=1.0, audio_seconds=100.0)
    assert throughput.encode_rate(LOW) == 0.01
    throughput.record_encode(LOW, seconds=3.0, audio_seconds=100.0)
    assert throughput.encode_rate(LOW) == 0.02  # smoothed from here on


def test_each_output_format_has_its_own_encoding_rate() -> None:
    throughput = Throughput()
    flac = OutputFormat(container="flac", sample_rate=16000, bitrate=None)
    assert 0 <= throughput.encode_rate(flac) < 1.0  # calibrated with the FLAC encoder
    throughput.record_encode(LOW, seconds=1.0, audio_seconds=100.0)
    throughput.record_encode(flac, seconds=2.0, audio_seconds=100.0)
    assert (throughput.encode_rate(LOW), throughput.encode_rate(flac)) == (0.01, 0.02)


def test_plan_scales_measured_throughput_by_the_planned_length(tmp_path: Path) -> None:
    throughput = Throughput()
    throughput.record_generate("m", seconds=2.0, audio_seconds=20.0)
    throughput.record_encode(LOW, seconds=0.2, audio_seconds=20.0)
    plan = plan_run(
        _db(tmp_path),
        throughput,
        model="m",
        engine=PlanningEngine(),
        request=GenerationRequest(prompt="p", sample_rate=16000),
        output=LOW,
        typical_run_seconds=15.0,
    )
    assert plan.audio_seconds == 105.0
    assert abs(plan.generate_seconds - 10.5) < 1e-9
    assert plan.encode_seconds_per_audio_second == 0.01


def test_without_history_the_request_duration_and_typical_time_stand_in(
    tmp_path: Path,
) -> None:
    throughput = Throughput()
    throughput.record_encode(LOW, seconds=0.0, audio_seconds=20.0)
    plan = plan_run(
        _db(tmp_path),
        throughput,
        model="m",
        engine=ToneEngine(),
        request=GenerationRequest(prompt="p", duration=60.0, sample_rate=16000),
        output=LOW,
        typical_run_seconds=15.0,
    )
    assert plan.audio_seconds == 60.0 and plan.generate_seconds == 15.0
