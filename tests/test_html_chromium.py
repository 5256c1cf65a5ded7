"""End to end: a real `rigbench run` on a tiny plan, then rank, fleet and the HTML report in
headless Chromium (Debian's `chromium`): the charts draw, the console stays silent, and a
screenshot is saved (kept in $RIGBENCH_SCREENSHOT_DIR when set).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rigbench.agent.telemetry.recorded import build_recorded_root
from rigbench.controller.cli import app
from tests.builders.chromium import CHROMIUM, FLAGS
from tests.paths import TELEMETRY_FIXTURES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PLAN = """
name: tiny-e2e
models:
  - name: cnn
    generate: {size: tiny, seed: 0}
    variants: [fp32, int8-dynamic]
    accuracy: {samples: 2, tolerance: {max_abs_err: 0.5, cosine_min: 0.99}}
runtimes:
  - {name: ort-cpu, runtime: onnxruntime, providers: [cpu], threads: 1}
measurement: {warmup_iterations: 5, min_iterations: 50, min_duration_s: 0.3, max_duration_s: 1}
telemetry: {rate_hz: 20}
scenarios:
  - {name: single-stream}
  - {name: soak, kind: soak, duration_s: 2, window_s: 0.5}
  - {name: offline, kind: offline, concurrency: [1, 2]}
  - {name: server, kind: server, qps: auto, latency_ms: 50, percentile: 90, duration_s: 0.3}
"""

INVENTORY = """
devices:
  - name: local
    class: local
    cost: {purchase_usd: 1200, lifetime_years: 4, electricity_usd_per_kwh: 0.3, nameplate_w: 65}
  - name: pi5-sim
    class: local
    local: {telemetry_root: ROOT, simulated: true}
    cost: {purchase_usd: 80, lifetime_years: 3, electricity_usd_per_kwh: 0.3}
"""


@dataclass(frozen=True)
class RealRun:
    folder: Path
    store: Path
    html: Path


def cli(run: RealRun, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--store", str(run.store)])


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRun]:
    """One real run of the tiny plan on a local and a simulated Pi 5, then the HTML report."""
    if not TELEMETRY_FIXTURES.is_dir():
        pytest.skip(f"captured telemetry fixtures not found at {TELEMETRY_FIXTURES}")
    folder = tmp_path_factory.mktemp("real-run")
    root = build_recorded_root("rpi5", TELEMETRY_FIXTURES, folder / "rpi5-root")
    (folder / "plan.yaml").write_text(textwrap.dedent(PLAN))
    (folder / "inventory.yaml").write_text(textwrap.dedent(INVENTORY).replace("ROOT", str(root)))
    run = RealRun(folder, folder / "store.duckdb", folder / "report.html")
    res = CliRunner().invoke(
        app,
        [
            "run",
            str(folder / "plan.yaml"),
            "-i",
            str(folder / "inventory.yaml"),
            "--store",
            str(run.store),
            "--work",
            str(folder / "work"),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    res = cli(run, "report", "--html", str(run.html))
    assert res.exit_code == 0, res.output
    yield run


def chromium(run: RealRun, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    profile = run.folder / f"chromium-profile-{len(list(run.folder.glob('chromium-*')))}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, run.html.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_rank_answers_for_the_model_after_a_real_run(real_run: RealRun) -> None:
    res = cli(real_run, "rank", "--model", "cnn", "--latency-ms", "1000")
    assert res.exit_code == 0, res.output
    assert "cnn in run" in res.output and "pi5-sim" in res.output and "local" in res.output


def test_fleet_answers_for_the_model_after_a_real_run(real_run: RealRun) -> None:
    res = cli(real_run, "fleet", "--qps", "200", "--latency-ms", "1000")
    assert res.exit_code == 0, res.output
    assert "fleet for 200 inferences/s" in res.output and "$/month" in res.output
    # Every deployment ran a server search: the fleet answers from its measured points.
    out = cli(real_run, "fleet", "--qps", "200", "--latency-ms", "1000", "-f", "json").output
    data = json.loads(out)
    assert {o["capacity_basis"] for o in data["options"]} == {"measured"}


def test_report_charts_render_in_headless_chromium(real_run: RealRun) -> None:
    dom = chromium(real_run, "--dump-dom").stdout
    body = dom[dom.index("<body") : dom.index(">", dom.index("<body"))]
    assert 'data-rendered="ok"' in body, body
    assert "data-errors" not in body
    charts = int(body.split('data-charts="')[1].split('"')[0])
    assert charts >= 5  # cost/latency, distributions, throughput-latency, soak timelines
    assert 'aria-label="p90 latency against throughput"' in dom
    assert "<svg" in dom and "<circle" in dom


def test_throughput_latency_curves_draw_one_line_per_server_choice(real_run: RealRun) -> None:
    """The rendered chart holds a curve for every server job of the run, the bound drawn
    across, and a ringed peak on each curve whose search found a rate within the bound.
    """
    dom = chromium(real_run, "--dump-dom").stdout
    start = dom.index('aria-label="p90 latency against throughput"')
    svg = dom[start : dom.index("</svg>", start)]
    res = cli(
        real_run,
        "sql",
        "SELECT r.job_id, bool_or(p.bound_held) AS held FROM results r "
        "JOIN load_points p USING (job_id) WHERE r.scenario = 'server' "
        "AND r.run_id = (SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1) GROUP BY 1",
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.output
    jobs = json.loads(res.output)
    assert len(jobs) == 4  # two devices x two variants
    assert sorted(re.findall(r'<g class="curve" data-job="([^"]+)"', svg)) == sorted(
        j["job_id"] for j in jobs
    )
    assert "<title>bound p90 50 ms</title>" in svg
    assert svg.count(" (peak)</title>") == sum(1 for j in jobs if j["held"])


def test_report_console_is_clean_in_headless_chromium(real_run: RealRun) -> None:
    err = chromium(real_run, "--enable-logging=stderr", "--v=0", "--dump-dom").stderr
    console = [line for line in err.splitlines() if ":CONSOLE" in line]
    assert console == []


def test_report_screenshot_is_saved(real_run: RealRun) -> None:
    shot = real_run.folder / "report.png"
    chromium(real_run, f"--screenshot={shot}", "--window-size=1280,2000")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 2000)
    keep = os.environ.get("RIGBENCH_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")


def test_only_the_simulated_device_is_labelled_simulated(real_run: RealRun) -> None:
    data = json.loads(cli(real_run, "rank", "--format", "json").output)
    labels = {(c["device"], c["simulated"]) for c in data["ranked"] + data["excluded"]}
    assert labels == {("local", False), ("pi5-sim", True)}
