"""An external power meter: any command printing watts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigbench.agent.telemetry.base import SensorEnv, SourceStatus
from rigbench.agent.telemetry.external import ExternalMeterSource, parse_watts
from rigbench.errors import TelemetryError


@pytest.mark.parametrize(
    ("text", "watts"),
    [("12.5\n", 12.5), ("12.5 W\n", 12.5), ("Power: 3.2W", 3.2), ("P1 7 W", 7.0),
     ("1.5e1", 15.0), ("0", 0.0)],
)
def test_the_first_number_is_the_reading_in_watts(text: str, watts: float):
    assert parse_watts(text) == watts


@pytest.mark.parametrize("text", ["", "N/A", "error: plug offline", "-3.0 W", "nan"])
def test_garbage_or_impossible_output_is_an_error_not_a_zero(text: str):
    with pytest.raises(TelemetryError):
        parse_watts(text)


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_any_printed_non_negative_watt_value_reads_back(watts: float):
    assert parse_watts(f"{watts!r} W\n") == watts


def test_a_configured_meter_is_read_in_milliwatts_as_the_external_total():
    env = SensorEnv(settings={"external": {"command": "echo 23.4"}})
    info = ExternalMeterSource.probe(env)
    assert info.status is SourceStatus.AVAILABLE and "23.4 W" in info.detail
    readings = ExternalMeterSource.open(env).read()
    assert [(r.sensor, r.metric, r.value) for r in readings] == [
        ("external:total", "power_mw", pytest.approx(23400))]


def test_no_meter_configured_is_not_available():
    assert ExternalMeterSource.probe(SensorEnv()).status is SourceStatus.NOT_AVAILABLE


def test_a_meter_command_that_fails_is_not_available_with_the_reason():
    info = ExternalMeterSource.probe(SensorEnv(settings={"external": {"command": "false"}}))
    assert info.status is SourceStatus.NOT_AVAILABLE and "status 1" in info.detail
