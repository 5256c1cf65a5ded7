"""The shared plumbing: command running, line streams, discovery on this very machine."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from rigbench.agent.telemetry import SOURCES, discover, open_available
from rigbench.agent.telemetry.base import METRICS, SensorEnv, SourceStatus
from rigbench.agent.telemetry.commands import ProcessLineStream, run_command
from rigbench.agent.telemetry.procfs import ProcfsSource
from rigbench.errors import TelemetryError
from tests.paths import TELEMETRY_FIXTURES


def test_run_command_returns_stdout():
    assert run_command(["echo", "12.5"], 2.0) == "12.5\n"


def test_run_command_turns_a_non_zero_exit_into_an_error_with_the_reason():
    with pytest.raises(TelemetryError, match="status 3: boom"):
        run_command([sys.executable, "-c", "import sys; print('boom', file=sys.stderr); "
                                           "sys.exit(3)"], 2.0)


def test_run_command_turns_a_missing_binary_into_an_error():
    with pytest.raises(TelemetryError, match="not installed"):
        run_command(["rigbench-no-such-tool"], 2.0)


def test_run_command_gives_up_on_a_hanging_command_at_the_timeout():
    started = time.monotonic()
    with pytest.raises(TelemetryError, match="did not answer within 0.2 s"):
        run_command(["sleep", "5"], 0.2)
    assert time.monotonic() - started < 2.0


def test_a_line_stream_hands_out_the_newest_line_then_nothing_until_a_new_one(tmp_path: Path):
    script = tmp_path / "ticker.py"
    script.write_text("import time\nprint('one', flush=True)\nprint('two', flush=True)\n"
                      "time.sleep(30)\n")
    stream = ProcessLineStream([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 5
        line = None
        while line != "two" and time.monotonic() < deadline:
            line = stream.latest(wait_s=0.2) or line
        assert line == "two"
        assert stream.latest() is None
    finally:
        stream.close()


def test_a_line_stream_whose_command_exited_is_an_error():
    stream = ProcessLineStream([sys.executable, "-c", "pass"])
    try:
        time.sleep(0.3)
        with pytest.raises(TelemetryError, match="exited"):
            stream.latest(wait_s=1.0)
    finally:
        stream.close()


def test_the_env_streams_through_the_runners_own_spawn_when_it_has_one():
    class Runner:
        def __call__(self, argv: Sequence[str], timeout_s: float) -> str:
            raise TelemetryError("not used")

        def spawn(self, argv: Sequence[str]) -> ProcessLineStream:
            return ProcessLineStream([sys.executable, "-c", "print('RAM 1/2MB')"])

    stream = SensorEnv(run=Runner()).stream(["tegrastats"])
    try:
        assert stream.latest(wait_s=5.0) == "RAM 1/2MB"
    finally:
        stream.close()


# --- discovery on this machine -----------------------------------------------------------------


def test_every_backend_reports_a_status_on_this_machine_and_procfs_is_available():
    infos = discover(SensorEnv())
    assert [i.source for i in infos] == [s.name for s in SOURCES]
    assert all(isinstance(i.status, SourceStatus) and i.detail for i in infos)
    by_name = {i.source: i for i in infos}
    assert by_name["procfs"].status is SourceStatus.AVAILABLE
    assert by_name["rapl"].status in set(SourceStatus)
    assert not any(i.simulated for i in infos)


def _nothing_installed(argv: Sequence[str], timeout_s: float = 0.0) -> str:
    raise TelemetryError(f"{argv[0]} is not installed (not on PATH)")


def test_sources_without_hardware_say_not_available_rather_than_reporting_zeros(tmp_path: Path):
    env = SensorEnv(root=tmp_path, run=_nothing_installed, spawn=_nothing_installed)
    infos = discover(env)
    assert {i.source: i.status for i in infos} == {s.name: SourceStatus.NOT_AVAILABLE
                                                   for s in SOURCES}
    assert all(i.sensors == () for i in infos)


def test_open_available_on_this_machine_opens_procfs_and_its_readings_use_known_metrics():
    sources = open_available(SensorEnv())
    try:
        assert ProcfsSource in {type(s) for s in sources}
        for source in sources:
            assert all(r.metric in METRICS for r in source.read())
    finally:
        for source in sources:
            source.close()


def test_a_backend_that_crashes_while_probing_is_listed_as_not_available(tmp_path: Path):
    def broken(argv: Sequence[str], timeout_s: float) -> str:
        raise RuntimeError("runner bug")

    infos = {i.source: i for i in discover(SensorEnv(root=tmp_path, run=broken))}
    assert infos["rpi"].status is SourceStatus.NOT_AVAILABLE
    assert "probe failed: RuntimeError: runner bug" in infos["rpi"].detail
    assert "rpi" not in {s.name for s in open_available(SensorEnv(root=tmp_path, run=broken))}


def test_every_captured_fixture_is_read_by_some_telemetry_test():
    tests = "".join(p.read_text(encoding="utf-8")
                    for p in Path(__file__).parent.glob("test_telemetry_*.py"))
    captures = [p.name for p in TELEMETRY_FIXTURES.rglob("*") if p.suffix == ".txt"]
    captures.append("nvml_constants.md")
    assert len(captures) > 60
    assert [name for name in captures if name not in tests] == []
