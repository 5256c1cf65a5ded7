"""Offline and server scenarios end to end: a plan, a spawned local agent, real models on
both runtimes, a real DuckDB file. Short points (the machine is shared): these tests check
what is stored and how it hangs together, never how fast anything was.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from rigbench.agent.telemetry.recorded import build_recorded_root
from rigbench.controller.cli import app
from rigbench.controller.modelgen import GeneratedModel
from tests.paths import TELEMETRY_FIXTURES

pytestmark = pytest.mark.e2e


def invoke(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, [*args, "--store", str(tmp_path / "rb.duckdb"), "--work", str(tmp_path / "work")]
    )
    return result.exit_code, result.output


def stored(tmp_path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(tmp_path / "rb.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def results_of(tmp_path: Path) -> str:
    res = CliRunner().invoke(app, ["results", "--store", str(tmp_path / "rb.duckdb")])
    assert res.exit_code == 0, res.output
    return res.output


def write_plan(
    tmp_path: Path, model: Path, scenarios: str, runtime: str = "onnxruntime", inputs: str = ""
) -> Path:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: load\n"
        f"models: [{{name: cnn, path: {model}, accuracy: {{samples: 0}}, inputs: {{{inputs}}}}}]\n"
        f"runtimes: [{{name: rt, runtime: {runtime}, threads: 1}}]\n"
        "measurement: {warmup_iterations: 2, min_iterations: 20, min_duration_s: 0.2,"
        " max_duration_s: 5}\n"
        "telemetry: {rate_hz: 20}\n"
        f"scenarios:\n{scenarios}"
    )
    return plan


def test_offline_sweep_stores_every_point_and_every_request(
    tmp_path: Path, tiny_dynamic: GeneratedModel
) -> None:
    plan = write_plan(
        tmp_path,
        tiny_dynamic.onnx_path,
        "  - {name: single-stream}\n"
        "  - {name: offline, kind: offline, concurrency: [1, 2], batch: [1, 4]}\n",
        inputs="input: {shape: [1, 3, 16, 16]}",  # single-stream needs it; offline batches it
    )
    code, out = invoke(tmp_path, "run", str(plan), "--quiet")
    assert code == 0, out
    points = stored(
        tmp_path,
        "SELECT p.point, p.concurrency, p.batch_size, p.threads, p.requests, p.samples_per_s,"
        " p.achieved_qps, p.cpu_util, p.headline FROM load_points p ORDER BY p.point",
    )
    assert [(c, b) for _, c, b, *_ in points] == [(1, 1), (1, 4), (2, 1), (2, 4)]
    # The runtime entry's one thread, split over two executors, is still one each.
    assert {p[3] for p in points} == {1}
    for _, _, b, _, n, sps, qps, cpu, _ in points:
        assert n >= 20
        assert sps == pytest.approx(qps * b)
        assert cpu is not None and cpu > 0
    # The headline is the point with the most samples per second, and the result row is it.
    best = max(points, key=lambda p: p[5])
    assert [p[0] for p in points if p[8]] == [best[0]]
    ((load_point, throughput, batch, kind, iterations),) = stored(
        tmp_path,
        "SELECT load_point, throughput_ips, batch_size, scenario_kind, iterations FROM results"
        " WHERE scenario = 'offline'",
    )
    assert (load_point, batch, kind) == (best[0], best[2], "offline")
    assert throughput == pytest.approx(best[5], rel=1e-9)
    # Every request of every point is stored; the headline's also as the job's samples.
    per_point = dict(stored(tmp_path, "SELECT point, count(*) FROM load_samples GROUP BY 1"))
    assert per_point == {p[0]: p[4] for p in points}
    assert iterations == best[4]
    assert stored(
        tmp_path,
        "SELECT count(*) FROM latency_samples s JOIN results r USING (job_id)"
        " WHERE r.scenario = 'offline'",
    ) == [(best[4],)]
    assert "offline local cnn/fp32 on rt: offline best" in results_of(tmp_path)
    # The single-stream job is what it always was.
    assert stored(
        tmp_path, "SELECT scenario_kind, load_point FROM results WHERE scenario = 'single-stream'"
    ) == [("single-stream", None)]


def test_server_search_finds_a_peak_that_met_the_bound(
    tmp_path: Path, tiny: GeneratedModel
) -> None:
    plan = write_plan(
        tmp_path,
        tiny.tflite_path,
        "  - {name: server, kind: server, qps: auto, latency_ms: 50, percentile: 90,"
        " concurrency: 2, duration_s: 0.3}\n",
        runtime="litert",
    )
    code, out = invoke(tmp_path, "run", str(plan), "--quiet")
    assert code == 0, out
    points = stored(
        tmp_path,
        "SELECT point, target_qps, achieved_qps, percentile_ns, bound_held, headline, search,"
        " requests, planned, stop_reason, latency_bound_ms, percentile"
        " FROM load_points ORDER BY point",
    )
    assert len(points) >= 3
    held = [p for p in points if p[4]]
    assert held, points
    peak = max(held, key=lambda p: p[1])
    assert [p[0] for p in points if p[5]] == [peak[0]]
    for *_, pct_ns, ok, _, search, served, planned, why, bound, pct in points:
        assert (bound, pct) == (50.0, 90.0)
        assert ok == (pct_ns <= 50e6 and why == "completed")
        assert search in ("converged", "max_steps")
        if why == "bound_lost":  # stopped as soon as the bound was lost
            assert not ok and served < planned
    ((p90_ms, kind),) = stored(
        tmp_path, "SELECT p90_ns / 1e6, scenario_kind FROM results WHERE scenario = 'server'"
    )
    assert kind == "server" and p90_ms <= 50.0
    out = results_of(tmp_path)
    assert "server local cnn/tflite-fp32 on rt: peak " in out and "<= 50 ms (queueing" in out


def test_a_fixed_batch_model_refuses_a_batch_list_naming_the_input(
    tmp_path: Path, tiny: GeneratedModel
) -> None:
    plan = write_plan(
        tmp_path, tiny.onnx_path, "  - {name: offline, kind: offline, batch: [1, 4]}\n"
    )
    code, out = invoke(tmp_path, "run", str(plan))
    assert code == 1, out  # the inputs' (the model's) fault, not the farm's
    assert "batch 4: input 'input' has a fixed first dimension of 1" in out
    assert stored(tmp_path, "SELECT count(*) FROM load_points") == [(0,)]


def test_a_bound_below_the_service_time_gives_up_and_says_so(
    tmp_path: Path, tiny: GeneratedModel
) -> None:
    plan = write_plan(
        tmp_path,
        tiny.onnx_path,
        "  - {name: server, kind: server, qps: auto, latency_ms: 0.001, duration_s: 0.2}\n",
    )
    code, out = invoke(tmp_path, "run", str(plan), "--quiet")
    assert code == 0, out  # measured: the answer is that no rate meets the bound
    ((stop, kind),) = stored(tmp_path, "SELECT stop_reason, scenario_kind FROM results")
    assert (stop, kind) == ("bound never met", "server")
    points = stored(tmp_path, "SELECT target_qps, bound_held, stop_reason FROM load_points")
    assert not any(held for _, held, _ in points)
    # Halving from the estimate, it gave up within a 32nd of it, each point stopped early.
    targets = sorted(t for t, _, _ in points)
    assert targets[-1] / targets[0] <= 33 and len(points) <= 7
    assert {why for *_, why in points} == {"bound_lost"}
    res = CliRunner().invoke(app, ["rank", "--store", str(tmp_path / "rb.duckdb")])
    assert res.exit_code == 1 and "server bound excluded 1" in res.output


def test_load_jobs_carry_telemetry_energy_and_throttling(
    tmp_path: Path, tiny_dynamic: GeneratedModel
) -> None:
    """Offline and server jobs are jobs like any other: the device's sampler runs through them,
    and energy per inference is the headline point's energy over the samples it served (a
    request of batch 2 is two inferences). Each point lasts its duration_s (4 s) however
    fast the machine is, so the replayed Pi 5 sensors at 20 Hz cover it.
    """
    root = build_recorded_root("rpi5", TELEMETRY_FIXTURES, tmp_path / "rpi5-root")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "devices:\n"
        f"  - {{name: pi5-sim, class: local, local: {{telemetry_root: {root}, simulated: true}}}}\n"
    )
    plan = write_plan(
        tmp_path,
        tiny_dynamic.onnx_path,
        "  - {name: offline, kind: offline, batch: [2], duration_s: 4}\n"
        "  - {name: server, kind: server, qps: 40, duration_s: 4}\n",
        inputs="input: {shape: [1, 3, 16, 16]}",
    )
    code, out = invoke(tmp_path, "run", str(plan), "-i", str(inventory), "--quiet")
    assert code == 0, out
    rows = stored(
        tmp_path,
        "SELECT r.scenario, r.energy_per_inference_mj, r.avg_power_mw, r.throttled, r.simulated,"
        " (r.measure_end_ns - r.measure_start_ns) / 1e9, p.requests * p.batch_size,"
        " (SELECT count(*) FROM telemetry_samples t WHERE t.job_id = r.job_id)"
        " FROM results r JOIN load_points p ON p.job_id = r.job_id AND p.headline"
        " ORDER BY r.scenario",
    )
    assert [r[0] for r in rows] == ["offline", "server"]
    for _, mj, mw, throttled, simulated, window_s, inferences, samples in rows:
        assert samples > 0 and simulated and throttled is not None
        assert mj is not None and mw is not None
        assert mj == pytest.approx(mw * window_s / inferences, rel=1e-6)
