"""Telemetry end to end: real agents sampling this machine, and agents on recorded devices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rigbench.agent.telemetry.recorded import build_recorded_root
from rigbench.controller.cli import app
from tests.builders.processes import query
from tests.paths import TELEMETRY_FIXTURES

pytestmark = pytest.mark.e2e


def run_plan(tmp_path: Path, plan_text: str, inventory_text: str | None = None) -> str:
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan_text)
    args = [
        "run",
        str(plan),
        "--quiet",
        "--store",
        str(tmp_path / "rb.duckdb"),
        "--work",
        str(tmp_path / "work"),
    ]
    if inventory_text is not None:
        (tmp_path / "inv.yaml").write_text(inventory_text)
        args += ["--inventory", str(tmp_path / "inv.yaml")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


TINY_PLAN = """
name: tel
models:
  - {name: cnn, generate: {size: tiny}, variants: [fp32], accuracy: {samples: 0}}
runtimes: [{name: ort, runtime: onnxruntime, threads: 1}]
measurement: {min_iterations: 20, min_duration_s: 1.0, warmup_iterations: 2}
telemetry: {rate_hz: 10}
"""


def test_soak_run_stores_a_timeline_and_its_summary(tmp_path):
    out = run_plan(
        tmp_path, TINY_PLAN + "scenarios: [{name: soak, kind: soak, duration_s: 3, window_s: 1}]\n"
    )
    (job_id, windows_json) = query(tmp_path, "SELECT job_id, soak_windows_json FROM results")[0]
    windows = json.loads(windows_json)
    assert [w["window"] for w in windows][:3] == [0, 1, 2]
    assert all(w["throughput_ips"] > 0 for w in windows)
    assert "soak local cnn/fp32 on ort: " in out and "sustained" in out
    # The CPU utilisation of this machine is sampled for real during the window.
    (n,) = query(
        tmp_path,
        "SELECT count(*) FROM telemetry_samples WHERE metric = 'util_pct' "
        "AND sensor = 'procfs:cpu'",
    )[0]
    assert n >= 20  # 10 Hz over ~3 s
    result = CliRunner().invoke(
        app, ["timeline", job_id, "--format", "json", "--store", str(tmp_path / "rb.duckdb")]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    measured = [r for r in rows if r["iterations"]]
    assert len(measured) >= 3
    assert all(r["cpu_util_pct"] is not None for r in measured)


def test_this_machine_reports_no_power_as_not_available(tmp_path):
    out = run_plan(tmp_path, TINY_PLAN)
    (power, energy, throttled, simulated) = query(
        tmp_path, "SELECT avg_power_mw, energy_per_inference_mj, throttled, simulated FROM results"
    )[0]
    assert power is None and energy is None  # no sensor: not available, never zero
    assert throttled is None  # nothing here could have seen throttling
    assert simulated is False
    assert "power W" in out.split("not available for any result:")[1].splitlines()[0]


def local_inventory(root: Path) -> str:
    return (
        "devices:\n  - name: pi\n    class: rpi\n"
        f"    local: {{telemetry_root: '{root}', simulated: true}}\n"
    )


def test_simulated_pi5_reports_power_and_says_it_is_simulated(tmp_path):
    root = build_recorded_root("rpi5", TELEMETRY_FIXTURES, tmp_path / "pi5-root")
    # vcgencmd is polled every 0.5 s at most: energy needs a window of several updates.
    plan = TINY_PLAN.replace("min_duration_s: 1.0", "min_duration_s: 3.0")
    out = run_plan(tmp_path, plan, local_inventory(root))
    (power, simulated, tel_json) = query(
        tmp_path, "SELECT avg_power_mw, simulated, telemetry_json FROM results"
    )[0]
    assert simulated is True
    assert power is not None and power > 0
    assert json.loads(tel_json)["simulated"] is True
    assert "simulated" in out
    (desc,) = query(tmp_path, "SELECT description_json FROM devices")[0]
    sensors = {s["source"]: s for s in json.loads(desc)["sensors"]}
    assert sensors["rpi"]["status"] == "available" and sensors["rpi"]["simulated"] is True


def test_simulated_throttling_pi3_marks_the_result_throttled(tmp_path):
    root = build_recorded_root("rpi3", TELEMETRY_FIXTURES, tmp_path / "pi3-root")
    run_plan(tmp_path, TINY_PLAN, local_inventory(root))
    (throttled, reasons) = query(tmp_path, "SELECT throttled, throttle_reasons_json FROM results")[
        0
    ]
    assert throttled is True
    assert any("soft-temp-limit" in r for r in json.loads(reasons))


# --- the inventory's sensors: reach the agent ------------------------------------------------

METER_PLAN = TINY_PLAN.replace("min_duration_s: 1.0", "min_duration_s: 2.0")


def test_an_external_meter_in_the_inventory_is_a_local_devices_energy(tmp_path):
    inventory = (
        "devices:\n  - name: pc\n    class: local\n"
        "    sensors: {external: {command: 'echo 12.5'}}\n"
    )
    run_plan(tmp_path, METER_PLAN, inventory)
    (power, source) = query(tmp_path, "SELECT avg_power_mw, energy_source FROM results")[0]
    assert source == "integrated:external:total"
    assert power == pytest.approx(12_500)
    (desc,) = query(tmp_path, "SELECT description_json FROM devices")[0]
    assert json.loads(desc)["sensor_settings"] == {"external": {"command": "echo 12.5"}}


def grpc_inventory(address: str, sensors: str) -> str:
    return (
        f"devices:\n  - name: board\n    class: x86\n    grpc: {{address: '{address}'}}\n"
        f"    connect_timeout_s: 10\n    sensors: {sensors}\n"
    )


def test_a_grpc_agent_without_the_inventorys_sensors_is_refused_with_the_options_to_give_it(
    tmp_path, start_agent
):
    plain = start_agent()
    (tmp_path / "plan.yaml").write_text(METER_PLAN)
    (tmp_path / "inv.yaml").write_text(
        grpc_inventory(plain.address, "{external: {command: 'echo 7'}}")
    )
    args = ["run", str(tmp_path / "plan.yaml"), "--quiet", "-i", str(tmp_path / "inv.yaml"),
            "--store", str(tmp_path / "rb.duckdb"), "--work", str(tmp_path / "work")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "its agent runs with sensor settings for none" in r.output
    assert "with: --sensor 'external.command=echo 7'" in r.output
    assert query(tmp_path, "SELECT count(*) FROM results") == [(0,)]

    metered = start_agent("--sensor", "external.command=echo 7")
    (tmp_path / "inv.yaml").write_text(
        grpc_inventory(metered.address, "{external: {command: 'echo 7'}}")
    )
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    (source,) = query(tmp_path, "SELECT energy_source FROM results")[0]
    assert source == "integrated:external:total"
