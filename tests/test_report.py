"""`rigbench report`: Markdown, JSON and self-contained HTML from a real store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rigbench.controller.cli import app
from rigbench.controller.cli.common import EXIT_ERROR
from rigbench.controller.store import Store
from tests.builders.ranking import CLOUD_COST, PI_COST, RunBuilder, lognormal_ns, new_store

SOAK_WINDOWS = [
    {
        "window": i,
        "t_start_s": float(i),
        "iterations": 100,
        "throughput_ips": 100.0 - i,
        "p50_ms": 8.0 + i / 10,
        "p99_ms": 9.0 + i / 5,
    }
    for i in range(5)
]
SOAK_TELEMETRY = [
    (int(t * 1e8), sensor, metric, value)
    for t in range(50)
    for sensor, metric, value in (
        ("thermal:cpu", "temp_mc", 50_000.0 + 200 * t),
        ("rpi:total", "power_mw", 5_000.0 + 10 * t),
        ("rpi:core", "power_mw", 1_000.0),  # a part, not the total: not plotted
    )
]


def cli(store: Store, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--store", str(store.path)])


@pytest.fixture
def soaked(tmp_path: Path) -> Store:
    """Two devices, single-stream and a soak run with simulated Pi telemetry."""
    store = new_store(tmp_path)
    b = RunBuilder(store).device("pi", PI_COST, simulated=True).device("cloud", CLOUD_COST)
    b.result(
        "pi",
        "int8",
        lognormal_ns(8.0, seed=1),
        power_mw=5000,
        simulated=True,
        energy_source="rpi:total",
    )
    b.result("cloud", "fp32", lognormal_ns(1.0, seed=2))
    b.result(
        "pi",
        "int8",
        lognormal_ns(8.5, seed=3),
        scenario="soak",
        power_mw=5200,
        simulated=True,
        soak_windows=SOAK_WINDOWS,
        telemetry=SOAK_TELEMETRY,
    )
    b.finish()
    return store


@pytest.fixture
def plain(tmp_path: Path) -> Store:
    store = new_store(tmp_path)
    b = RunBuilder(store).device("cloud", CLOUD_COST)
    b.result("cloud", "fp32", lognormal_ns(1.0, seed=2))
    b.result("cloud", "int8", lognormal_ns(0.7, seed=3))
    b.finish()
    return store


def html_of(store: Store, tmp_path: Path, *args: str) -> str:
    out = tmp_path / "report.html"
    res = cli(store, "report", "--html", str(out), *args)
    assert res.exit_code == 0, res.output
    return out.read_text()


def test_html_loads_nothing_from_the_network(soaked: Store, tmp_path: Path) -> None:
    page = html_of(soaked, tmp_path)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "default-src 'none'" in page  # the CSP forbids any fetch


def test_html_has_the_ranking_table_and_every_chart(soaked: Store, tmp_path: Path) -> None:
    page = html_of(soaked, tmp_path)
    assert "<table class='rank'>" in page
    assert "Cost against p99 latency, with the Pareto front" in page
    assert page.count('<g class="dist"') == 3  # one latency distribution per choice
    assert 'class="front"' in page  # the Pareto step line


def test_html_draws_soak_temperature_and_power_timelines(soaked: Store, tmp_path: Path) -> None:
    page = html_of(soaked, tmp_path)
    assert 'aria-label="temperature"' in page and 'aria-label="power"' in page
    assert "<title>rpi:total</title>" in page
    assert "rpi:core" not in page
    assert "simulated telemetry" in page


def test_html_says_so_when_there_is_no_soak_run(plain: Store, tmp_path: Path) -> None:
    assert "No soak runs in this run" in html_of(plain, tmp_path)


def test_html_says_why_nothing_is_plotted_without_costs(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    RunBuilder(store).device("lab").result("lab", "fp32", lognormal_ns(1.0))
    assert "No choice has a known cost, so there is nothing to plot" in html_of(store, tmp_path)


def test_html_escapes_names_from_the_store(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    RunBuilder(store).device("d", CLOUD_COST).result("d", "<script>x</script>", lognormal_ns(1.0))
    page = html_of(store, tmp_path)
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_markdown_report_has_ranking_and_soak_summary(soaked: Store) -> None:
    out = cli(soaked, "report", "--markdown").output
    assert out.startswith("# rigbench report: cnn")
    assert "| rank | front | device |" in out
    assert "### Soak runs" in out and "| pi / int8 / ort-cpu | yes |" in out


def test_json_report_has_histograms_and_timelines(soaked: Store) -> None:
    data = json.loads(cli(soaked, "report", "--json").output)
    (section,) = data["models"]
    hist = section["latency_histograms"]
    assert sum(sum(c) for c in hist["counts"].values()) == 3 * 2000
    (soak,) = section["soak_timelines"]
    assert soak["simulated"] is True
    assert [s["label"] for s in soak["power_w"]] == ["rpi:total"]


def test_report_writes_markdown_to_a_file_with_output(soaked: Store, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.md"
    res = cli(soaked, "report", "--markdown", "-o", str(target))
    assert res.exit_code == 0
    assert target.read_text().startswith("# rigbench report")


def test_report_needs_exactly_one_format(soaked: Store) -> None:
    res = cli(soaked, "report", "--markdown", "--json")
    assert res.exit_code == EXIT_ERROR
    assert "choose one of --html FILE, --markdown or --json" in res.output


def test_report_on_an_empty_store_is_a_clear_error(tmp_path: Path) -> None:
    res = cli(new_store(tmp_path), "report", "--json")
    assert res.exit_code == EXIT_ERROR
    assert "the store holds no run yet" in res.output


@pytest.fixture
def loaded(tmp_path: Path) -> Store:
    """A Pi with single-stream, a server search (bound p99 50 ms) and an offline sweep."""
    from rigbench.agent.jobs import LoadResult
    from tests.builders.ranking import SEARCH, load_point

    store = new_store(tmp_path)
    b = RunBuilder(store).device("pi", PI_COST)
    b.result("pi", "int8", lognormal_ns(8.0, seed=1))
    b.load_result(
        "pi",
        "int8",
        LoadResult("server", SEARCH, headline=2, latency_bound_ms=50.0, search="converged"),
    )
    sweep = [
        load_point(120.0, 9.0, target_qps=0.0, stop_reason="min_reached"),
        load_point(100.0, 30.0, batch=4, target_qps=0.0, stop_reason="min_reached"),
    ]
    b.load_result("pi", "int8", LoadResult("offline", sweep, headline=1))
    b.finish()
    return store


def test_html_draws_a_throughput_latency_curve_with_the_bound(
    loaded: Store, tmp_path: Path
) -> None:
    page = html_of(loaded, tmp_path)
    assert "Throughput under load" in page
    curve = page[page.index('aria-label="p99 latency against throughput"') :]
    curve = curve[: curve.index("</svg>")]
    assert curve.count('class="pt"') == 4  # one per server point
    assert "<title>bound p99 50 ms</title>" in curve
    assert curve.count("(peak)") == 1 and "375 req/s" in curve.split("(peak)")[0][-200:]
    assert "stopped early: bound lost" in curve  # the early-stopped point, drawn hollow
    # The offline sweep: a table with the best point marked.
    table = page[page.index("<table class='rank offline'>") :]
    table = table[: table.index("</table>")]
    assert table.count("<tr data-job=") == 2 and table.count(">*</td>") == 1


def test_html_says_so_when_nothing_ran_under_load(plain: Store, tmp_path: Path) -> None:
    assert "No offline or server scenario in this run" in html_of(plain, tmp_path)


def test_markdown_and_json_reports_carry_every_load_point(loaded: Store) -> None:
    out = cli(loaded, "report", "--markdown").output
    assert "### Throughput under load" in out
    assert "completed (peak)" in out and "min_reached (best)" in out
    assert "<= 50 ms" in out and "> 50 ms" in out
    data = json.loads(cli(loaded, "report", "--json").output)
    points = data["models"][0]["ranking"]["load_points"]
    assert len(points) == 6 and {p["kind"] for p in points} == {"server", "offline"}
