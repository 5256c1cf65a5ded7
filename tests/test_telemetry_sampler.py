"""The sampler thread: timing, gaps instead of crashes, streaming batches, and staying cheap."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest

from rigbench.agent.telemetry.base import Reading, SensorEnv
from rigbench.agent.telemetry.external import ExternalMeterSource
from rigbench.agent.telemetry.procfs import ProcfsSource
from rigbench.agent.telemetry.sampler import Gap, Sample, Sampler
from rigbench.agent.telemetry.thermal import ThermalSource
from tests.builders.clock import ManualClock


def thermal_root(root: Path) -> Path:
    """Two zones with the Orin Nano capture's values (cpu 46.0 C, gpu 46.7 C)."""
    for i, (kind, mc) in enumerate([("cpu-thermal", "46000"), ("gpu-thermal", "46700")]):
        d = root / f"sys/class/thermal/thermal_zone{i}"
        d.mkdir(parents=True)
        (d / "type").write_text(kind + "\n")
        (d / "temp").write_text(mc + "\n")
    return root


def meter(argv: list[str], timeout_s: float = 2.0) -> ExternalMeterSource:
    return ExternalMeterSource.open(
        SensorEnv(settings={"external": {"command": shlex.join(argv)}},
                  command_timeout_s=timeout_s))


# --- one tick, deterministic -------------------------------------------------------------------


def test_a_tick_stamps_every_reading_of_a_source_with_one_monotonic_time(tmp_path: Path):
    sampler = Sampler([ThermalSource.open(SensorEnv(root=thermal_root(tmp_path)))])
    before = time.perf_counter_ns()
    sampler.tick()
    after = time.perf_counter_ns()
    out = sampler.stop()
    assert [(s.sensor, s.value) for s in out.samples] == [
        ("thermal:cpu-thermal", 46000), ("thermal:gpu-thermal", 46700)]
    assert len({s.t_ns for s in out.samples}) == 1
    assert before <= out.samples[0].t_ns <= after
    assert out.gaps == []


def test_a_hanging_command_costs_a_gap_and_the_other_sources_still_sample(tmp_path: Path):
    sampler = Sampler([meter(["sleep", "5"], timeout_s=0.2),
                       ThermalSource.open(SensorEnv(root=thermal_root(tmp_path)))])
    started = time.monotonic()
    sampler.tick()
    assert time.monotonic() - started < 2.0
    out = sampler.stop()
    assert [g.source for g in out.gaps] == ["external"]
    assert "did not answer within 0.2 s" in out.gaps[0].reason
    assert {s.sensor for s in out.samples} == {"thermal:cpu-thermal", "thermal:gpu-thermal"}


def test_garbage_output_is_a_gap_not_a_zero_reading():
    sampler = Sampler([meter(["echo", "N/A"])])
    sampler.tick()
    out = sampler.stop()
    assert out.samples == [] and len(out.gaps) == 1


def test_a_missing_binary_is_a_gap():
    sampler = Sampler([meter(["rigbench-no-such-meter"])])
    sampler.tick()
    assert "not installed" in sampler.stop().gaps[0].reason


def test_a_sensor_that_disappears_mid_run_is_recorded_as_a_gap(tmp_path: Path):
    root = thermal_root(tmp_path)
    sampler = Sampler([ThermalSource.open(SensorEnv(root=root))])
    sampler.tick()
    (root / "sys/class/thermal/thermal_zone1/temp").unlink()
    sampler.tick()
    out = sampler.stop()
    assert [s.sensor for s in out.samples].count("thermal:cpu-thermal") == 2
    assert [s.sensor for s in out.samples].count("thermal:gpu-thermal") == 1
    assert len(out.gaps) == 1 and out.gaps[0].reason.startswith("thermal:gpu-thermal")


def test_a_slow_source_is_polled_no_faster_than_its_min_interval():
    source = meter(["echo", "12.5"])
    assert source.min_interval_s == 0.25
    sampler = Sampler([source], rate_hz=100)
    for _ in range(3):
        sampler.tick()  # three ticks within a few ms
    out = sampler.stop()
    assert [s.value for s in out.samples] == [12500.0]


def test_rate_must_be_positive():
    with pytest.raises(ValueError):
        Sampler([], rate_hz=0)


# --- the thread --------------------------------------------------------------------------------


def test_the_thread_samples_at_the_rate_in_time_order():
    clock = ManualClock(until_s=0.5)
    sampler = Sampler([ProcfsSource.open(SensorEnv())], rate_hz=20, clock=clock)
    sampler.start()
    clock.run_until_reached()
    out = sampler.stop()
    ticks = sorted({s.t_ns for s in out.samples if s.sensor == "procfs:mem"})
    assert 6 <= len(ticks) <= 12
    steps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert min(steps) > 30_000_000  # ~50 ms apart, never a burst


class OnceSlowSource(ProcfsSource):
    """A source whose first read takes half a second of the clock's time (a stalled sensor)."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(SensorEnv())
        self._clock = clock
        self._reads = 0

    def read(self) -> list[Reading]:
        self._reads += 1
        if self._reads == 1:
            self._clock.advance(0.5)
        return super().read()


def test_a_slow_read_skips_the_missed_ticks_instead_of_bursting():
    clock = ManualClock(until_s=1.0)
    sampler = Sampler([OnceSlowSource(clock)], rate_hz=20, clock=clock)
    sampler.start()
    clock.run_until_reached()
    out = sampler.stop()
    ticks = [s.t_ns for s in out.samples if s.sensor == "procfs:mem"]
    steps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert len(ticks) >= 5 and min(steps) >= 50_000_000  # the rate again, not a burst


def test_batches_stream_every_sample_and_gap_exactly_once():
    batches: list[tuple[list[Sample], list[Gap]]] = []
    clock = ManualClock(until_s=0.4)
    sampler = Sampler([ProcfsSource.open(SensorEnv()), meter(["false"])], rate_hz=50,
                      on_batch=lambda s, g: batches.append((s, g)), batch_interval_s=0.05,
                      clock=clock)
    sampler.start()
    clock.run_until_reached()
    out = sampler.stop()
    assert len(batches) >= 3
    assert [s for b, _ in batches for s in b] == out.samples
    assert [g for _, b in batches for g in b] == out.gaps
    assert out.gaps and all(g.source == "external" for g in out.gaps)


def test_a_failing_batch_consumer_does_not_stop_sampling():
    def broken(samples: list[Sample], gaps: list[Gap]) -> None:
        raise OSError("spool disk full")

    clock = ManualClock(until_s=0.3)
    sampler = Sampler([ProcfsSource.open(SensorEnv())], rate_hz=50, on_batch=broken,
                      batch_interval_s=0.05, clock=clock)
    sampler.start()
    clock.run_until_reached()
    out = sampler.stop()
    assert any(g.source == "sampler" and "spool disk full" in g.reason for g in out.gaps)
    assert len({s.t_ns for s in out.samples}) >= 8


def test_sampling_blocks_between_ticks_instead_of_spinning():
    sampler = Sampler([ProcfsSource.open(SensorEnv())], rate_hz=10)
    cpu_before = time.process_time()
    sampler.start()
    time.sleep(1.0)
    sampler.stop()
    assert time.process_time() - cpu_before < 0.2  # a spinning thread would burn ~1 s
