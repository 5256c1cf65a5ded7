"""`rigbench nightly` end to end: real local agent processes, real models, a real DuckDB file.

Three nights of plans/nightly-smoke.yaml on this machine: the first has nothing to compare,
the second matches the first (its pair is an A/A check of the unchanged artifact), the third
runs the same model name built with ``slowdown: 30`` (a slower network with identical
outputs, about 4x here) and must be reported as a regression, on the pair of tonight's
artifact and the second night's measured interleaved tonight. The machine is shared (2 cores,
other test suites running, load averages of 10 seen), so the nights use a minimum effect of
50 %: the assertions are on verdicts, never on timings, and must hold however busy the
machine is.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from rigbench.controller.cli import app
from tests.paths import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SMOKE = REPO / "plans" / "nightly-smoke.yaml"
LOCAL = {"devices": [{"name": "local", "class": "local"}]}


@dataclass
class Night:
    code: int
    output: str
    out_dir: Path

    @property
    def summary(self) -> dict:
        return json.loads((self.out_dir / "nightly.json").read_text())

    def comparison(self, metric: str) -> dict:
        (c,) = [c for c in self.summary["comparisons"] if c["metric"] == metric]
        return c


def nightly(folder: Path, plan: Path, inventory: dict, name: str, *extra: str) -> Night:
    inv = folder / "inventory.yaml"
    inv.write_text(yaml.safe_dump(inventory))
    out = folder / name
    result = CliRunner().invoke(
        app,
        [
            "nightly", str(plan), "--inventory", str(inv), "--out", str(out), "--quiet",
            "--store", str(folder / "rb.duckdb"), "--work", str(folder / "work"),
            "--min-effect", "0.5", "--pair-round-s", "0.3", *extra,
        ],
    )  # fmt: skip
    return Night(result.exit_code, result.output, out)


def slowed_copy(folder: Path, slowdown: int) -> Path:
    plan = yaml.safe_load(SMOKE.read_text())
    plan["models"][0]["generate"]["slowdown"] = slowdown
    path = folder / "nightly-smoke-slowed.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


@pytest.fixture(scope="module")
def three_nights(tmp_path_factory: pytest.TempPathFactory) -> list[Night]:
    folder = tmp_path_factory.mktemp("nightly")
    first = nightly(folder, SMOKE, LOCAL, "night1")
    second = nightly(folder, SMOKE, LOCAL, "night2")
    third = nightly(folder, slowed_copy(folder, 30), LOCAL, "night3")
    return [first, second, third]


def test_first_night_has_nothing_to_compare_and_exits_0(three_nights: list[Night]):
    night = three_nights[0]
    assert night.code == 0, night.output
    assert night.comparison("latency_p50")["outcome"] == "not enough data"


def test_second_identical_night_reports_no_regression(three_nights: list[Night]):
    night = three_nights[1]
    assert night.code == 0, night.output
    latency = night.comparison("latency_p50")
    assert latency["outcome"] == "no change", latency
    assert latency["basis"] == "A/A" and latency["rounds"] >= 10
    assert latency["baseline_runs"] == [three_nights[0].summary["run_id"]]


def test_slowed_variant_is_reported_as_a_regression_with_exit_1(three_nights: list[Night]):
    night = three_nights[2]
    assert night.code == 1, night.output
    latency = night.comparison("latency_p50")
    assert latency["outcome"] == "regression" and latency["ratio"] > 2
    assert latency["basis"] == "paired" and latency["ci_low"] > 1.5
    assert latency["baseline_runs"] == [three_nights[1].summary["run_id"]]
    # The history alone is context: two earlier nights.
    assert latency["history_outcome"] in ("regression", "no change")


def test_pairs_run_interleaved_as_their_own_run(three_nights: list[Night]):
    night = three_nights[2]
    pairs_run = night.summary["pairs_run_id"]
    con = duckdb.connect(str(night.out_dir.parent / "rb.duckdb"), read_only=True)
    try:
        ((kind,),) = con.execute("SELECT kind FROM runs WHERE run_id = ?", [pairs_run]).fetchall()
        sides = [
            m[0]
            for (m,) in con.execute(
                "SELECT model FROM jobs WHERE run_id = ? ORDER BY started_at", [pairs_run]
            ).fetchall()
        ]
    finally:
        con.close()
    assert kind == "pairs"
    rounds = [sides[i : i + 2] for i in range(0, len(sides), 2)]
    assert all(sorted(r) == ["A", "B"] for r in rounds)
    assert {tuple(r) for r in rounds} == {("A", "B"), ("B", "A")}


def test_slowed_night_reports_what_changed(three_nights: list[Night]):
    changes = {c["what"]: c for c in three_nights[2].comparison("latency_p50")["changes"]}
    assert "model digest" in changes
    assert changes["plan.models[cnn].generate.slowdown"]["after"] == "30"


def test_slowed_night_junit_fails_the_latency_case(three_nights: list[Night]):
    # The 30 extra conv pairs also hold a few MB more, so peak memory may fail as well.
    root = ET.parse(three_nights[2].out_dir / "junit.xml").getroot()
    failures = {
        (c.get("classname"), c.get("name"))
        for c in root.iter("testcase")
        if c.find("failure") is not None
    }
    assert ("local.cnn.fp32.ort-cpu.single-stream", "latency_p50") in failures
    assert failures <= {
        ("local.cnn.fp32.ort-cpu.single-stream", m) for m in ("latency_p50", "peak_rss")
    }


def test_canary_passes_before_each_night(three_nights: list[Night]):
    for night in three_nights:
        (device,) = night.summary["devices"]
        assert device["state"] == "healthy" and "canary passed" in device["message"]
        assert night.summary["canary_run_id"]


def test_unreachable_device_exits_2(tmp_path: Path):
    inventory = {
        "devices": [
            {"name": "local", "class": "local"},
            {
                "name": "gone",
                "class": "x86",
                "grpc": {"address": "127.0.0.1:9"},
                "connect_timeout_s": 2,
            },
        ]
    }
    night = nightly(tmp_path, SMOKE, inventory, "night")
    assert night.code == 2, night.output
    states = {d["device"]: d["state"] for d in night.summary["devices"]}
    assert states == {"gone": "unreachable", "local": "healthy"}


def test_device_failing_the_canary_is_not_measured_and_exits_2(tmp_path: Path):
    plan = yaml.safe_load(SMOKE.read_text())
    plan["runtimes"][0]["providers"] = ["cuda"]  # not on this machine, and no CPU fallback
    path = tmp_path / "needs-cuda.yaml"
    path.write_text(yaml.safe_dump(plan))
    night = nightly(tmp_path, path, LOCAL, "night")
    assert night.code == 2, night.output
    (device,) = night.summary["devices"]
    assert device["state"] == "unhealthy" and "provider" in device["message"]
    assert night.summary["comparisons"] == []
