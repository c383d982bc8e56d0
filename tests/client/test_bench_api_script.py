"""The pure parts of scripts/bench_api.py: wrk script, parsing, table, doc section."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_api.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_api", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is built.
    sys.modules["bench_api"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["bench_api"]
    return module


def test_wrk_script_sets_request_and_prints_a_summary(bench: ModuleType) -> None:
    phase = bench.Phase(
        "create",
        "create",
        "POST",
        ["/api/v1/audio/music"],
        {"Authorization": "Bearer aio_x", "Content-Type": "application/json"},
        '{"model": "m", "prompt": "say \\"hi\\""}',
    )
    script = bench.wrk_script(phase)
    assert 'wrk.method = "POST"' in script
    assert 'wrk.headers["Authorization"] = "Bearer aio_x"' in script
    assert 'wrk.body = "{\\"model\\": \\"m\\", \\"prompt\\": \\"say \\\\\\"hi\\\\\\"\\"}"' in script
    assert 'local paths = {"/api/v1/audio/music"}' in script
    assert "latency:percentile(99)" in script and "BENCH_JSON" in script


def test_parse_summary(bench: ModuleType) -> None:
    phase = bench.Phase("poll", "poll", "GET", ["/x"], {})
    summary = {
        "requests": 5000,
        "duration_us": 10_000_000,
        "p50_us": 1500,
        "p99_us": 9000,
        "status_errors": 2,
        "socket_errors": 1,
    }
    out = f"Running 10s test\nBENCH_JSON {json.dumps(summary)}\n"
    result = bench.parse_bench_json(out, phase)
    assert result.rps == 500 and result.p50_ms == 1.5 and result.p99_ms == 9 and result.errors == 3
    with pytest.raises(RuntimeError):
        bench.parse_bench_json("wrk crashed", phase)


def test_table_ratios_and_goals(bench: ModuleType) -> None:
    results = [
        bench.Result("bare", "bare", 1000, 1.0, 1.0, 2.0, 0),
        bench.Result("durable", "durable", 500, 1.0, 1.0, 2.0, 0),
        bench.Result("poll", "poll", 800, 1.0, 1.0, 2.0, 0),
        bench.Result("poll-queued", "queued", 450, 1.0, 1.0, 2.0, 0),
        bench.Result("create", "create", 400, 1.0, 1.0, 25.0, 0),
    ]
    table = bench.render_table(results)
    assert "| poll | 800 | 1.00 | 2.00 | 0 | 80% | 160% | ≥ 70% of bare: met |" in table
    assert "| queued | 450 | 1.00 | 2.00 | 0 | 45% | 90% | ≥ 50% of bare: NOT met |" in table
    # 80 % of the durable INSERT, but the p99 goal is missed.
    assert (
        "| create | 400 | 1.00 | 25.00 | 0 | 40% | 80% "
        "| ≥ 50% of durable INSERT, p99 < 20 ms: NOT met |"
    ) in table
    assert "| bare | 1,000 |" in table and "| baseline |" in table
    fast = [*results[:4], bench.Result("create", "create", 400, 1.0, 1.0, 15.0, 0)]
    assert "p99 < 20 ms: met |" in bench.render_table(fast)


def test_wrk_script_spreads_threads_over_ports(bench: ModuleType) -> None:
    phase = bench.Phase("poll", "poll", "GET", ["/x"], {})
    assert "setup" not in bench.wrk_script(phase)
    script = bench.wrk_script(phase, [8001, 8002])
    assert "local ports = {8001, 8002}" in script
    assert "thread.addr = wrk.lookup" in script


def test_cpu_plan_gives_the_server_a_core_of_its_own(bench: ModuleType) -> None:
    assert bench.cpu_plan([0]) == ([0], [0], [0])
    assert bench.cpu_plan([0, 1]) == ([0], [1], [1])
    assert bench.cpu_plan([3, 0, 1, 2]) == ([0], [1], [2, 3])


def test_replace_section_keeps_the_other_sections(bench: ModuleType) -> None:
    doc = "# Benchmarks\n\nintro\n\n## Engines\n\nengine numbers\n\n## API\n\nold\n\n## Zeta\n\nz\n"
    new = bench.replace_section(doc, "API", "new table")
    assert new == (
        "# Benchmarks\n\nintro\n\n## Engines\n\nengine numbers\n\n## API\n\nnew table\n\n"
        "## Zeta\n\nz\n"
    )
    assert bench.replace_section(new, "API", "new table") == new
    appended = bench.replace_section("# Benchmarks\n\n## Engines\n\nx\n", "API", "t")
    assert appended == "# Benchmarks\n\n## Engines\n\nx\n\n## API\n\nt\n"
    assert bench.replace_section("", "API", "t") == "# Benchmarks\n\n## API\n\nt\n"
    # A heading that merely starts with the name is another section.
    other = bench.replace_section("## API clients\n\nkeep\n", "API", "t")
    assert other.startswith("## API clients\n\nkeep\n") and other.endswith("## API\n\nt\n")


def test_rounds_combine_into_one_row_per_endpoint(bench: ModuleType) -> None:
    rounds = [
        [
            bench.Result("bare", "b", 1000, 1.0, 1.0, 5.0, 0),
            bench.Result("poll", "p", 700, 1.0, 2.0, 9.0, 1),
        ],
        [
            bench.Result("bare", "b", 2000, 1.0, 3.0, 7.0, 0),
            bench.Result("poll", "p", 900, 1.0, 4.0, 8.0, 0),
        ],
    ]
    bare, poll = bench.combine(rounds)
    assert (bare.rps, poll.rps) == (1500, 800)
    assert (poll.p50_ms, poll.p99_ms, poll.errors) == (3.0, 8.5, 1)
    assert bench.round_ratios(rounds, "poll") == [0.7, 0.45]


@pytest.mark.postgres
def test_a_vacuum_stands_in_for_an_autovacuum_that_is_off(
    bench: ModuleType, postgres_url: str
) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        autovacuum = conn.exec_driver_sql("SHOW autovacuum").scalar_one()
    engine.dispose()
    took = bench.vacuum_if_autovacuum_off(postgres_url)
    # The server's own autovacuum is left to do its work; only where it is off
    # does the bench vacuum its database between rounds.
    if autovacuum == "on":
        assert took is None
    else:
        assert isinstance(took, float) and 0 <= took < 60
    assert bench.vacuum_if_autovacuum_off("sqlite:///unused.db") is None
