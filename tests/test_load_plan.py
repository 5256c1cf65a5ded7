"""The plan's offline and server scenarios: the syntax docs and examples use, what each kind
takes, bounds from rigbench/limits.py, and the job each scenario becomes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rigbench import limits
from rigbench.agent.jobs import JobSpec, LoadConfig
from rigbench.controller.plan import Plan, load_plan
from rigbench.errors import JobSpecError, PlanError
from tests.paths import REPO

HEAD = """
name: p
models:
  - name: m
    generate: {size: micro}
runtimes:
  - {name: ort, runtime: onnxruntime, threads: 2}
scenarios:
"""


def plan_with(tmp_path: Path, *scenarios: str) -> Path:
    p = tmp_path / "plan.yaml"
    p.write_text(textwrap.dedent(HEAD).lstrip("\n") + "".join(f"  - {s}\n" for s in scenarios))
    return p


def test_the_issue_syntax_becomes_three_jobs_of_three_kinds(tmp_path: Path) -> None:
    plan = load_plan(
        plan_with(
            tmp_path,
            "{name: single-stream}",
            "{name: offline, kind: offline, concurrency: [1, 2], batch: [1, 4]}",
            "{name: server, kind: server, qps: auto, latency_ms: 50, percentile: 99,"
            " concurrency: 2}",
        )
    )
    single, offline, server = (s.load() for s in plan.scenarios)
    assert single == LoadConfig()
    assert offline == LoadConfig(kind="offline", concurrency=(1, 2), batch=(1, 4))
    assert server == LoadConfig(kind="server", concurrency=(2,), qps=0.0, latency_ms=50.0)
    for s in plan.scenarios:  # every job the plan makes passes the agent's own check
        JobSpec("j", "a" * 64, "onnx", load=s.load(), soak=s.soak()).check()


def test_a_fixed_rate_server_needs_no_bound(tmp_path: Path) -> None:
    (s,) = load_plan(plan_with(tmp_path, "{name: s, kind: server, qps: 120}")).scenarios
    assert s.load() == LoadConfig(kind="server", qps=120.0)


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("{name: s, kind: server, qps: auto}", "qps: auto searches for the peak rate"),
        ("{name: s, kind: server}", "a server scenario needs qps"),
        ("{name: s, kind: server, qps: fast}", "give a rate in requests per second, or auto"),
        ("{name: s, kind: server, qps: 0}", "qps must be positive"),
        ("{name: s, kind: server, qps: 9, batch: [2]}", "a server scenario takes no batch"),
        ("{name: s, kind: server, qps: 9, concurrency: [1, 2]}", "takes one concurrency value"),
        ("{name: o, kind: offline, qps: 3}", "an offline scenario takes no qps"),
        ("{name: o, kind: offline, latency_ms: 3}", "an offline scenario takes no latency_ms"),
        ("{name: x, concurrency: 2}", "a single-stream scenario takes no concurrency"),
        ("{name: k, kind: soak, duration_s: 9, batch: [2]}", "a soak scenario takes no batch"),
        ("{name: o, kind: offline, batch: []}", "batch: give at least one value"),
        ("{name: o, kind: offline, batch: [2, 2]}", "batch: a value is given twice"),
        ("{name: o, kind: offline, threads: [0]}", "threads: give at least 1"),
        ("{name: s, kind: server, qps: 9, percentile: 100}", "less than 100"),
    ],
)
def test_a_scenario_takes_only_the_fields_of_its_kind(
    tmp_path: Path, scenario: str, message: str
) -> None:
    p = plan_with(tmp_path, scenario)
    with pytest.raises(PlanError, match=rf"plan\.yaml:8: scenarios\[0\].*{message}"):
        load_plan(p)


def test_a_stored_plan_resumes_with_every_field_written_out(tmp_path: Path) -> None:
    """The store keeps a run's plan with every field, defaults included: run --resume reads it
    back (a field at its default is not foreign to a kind; one set otherwise still is).
    """
    plan = load_plan(
        plan_with(
            tmp_path,
            "{name: single-stream}",
            "{name: soak, kind: soak, duration_s: 2}",
            "{name: offline, kind: offline, concurrency: [1, 2]}",
            "{name: server, kind: server, qps: auto, latency_ms: 50}",
        )
    )
    stored = plan.model_dump_json()
    again = Plan.model_validate_json(stored)
    assert again == plan and again.digest() == plan.digest()
    assert again.scenarios[3].qps_auto


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        (
            "{name: o, kind: offline, concurrency: [1000]}",
            f"1000 is above the limit of 256 \\({limits.CONCURRENCY.why}",
        ),
        ("{name: o, kind: offline, batch: [0]}", "0 is below the minimum of 1"),
        ("{name: o, kind: offline, batch: [4000000]}", "above the limit of 1048576"),
        ("{name: o, kind: offline, batch: 4000000}", r"batch\[0\]: 4000000 is above"),
        ("{name: s, kind: server, qps: 1e9}", "1000000000 is above the limit of 1000000"),
        ("{name: s, kind: server, qps: 2000000}", "2000000 is above the limit of 1000000"),
        ("{name: s, kind: server, qps: .inf}", "not a finite number"),
        ("{name: s, kind: server, qps: auto, latency_ms: 1e12}", "above the limit of 86400000"),
        (
            "{name: o, kind: offline, concurrency: [" + ", ".join(map(str, range(1, 70))) + "]}",
            "69 values, above the limit of 64",
        ),
    ],
)
def test_load_numbers_are_bounded(tmp_path: Path, scenario: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        load_plan(plan_with(tmp_path, scenario))


@pytest.mark.parametrize(
    ("load", "message"),
    [
        (LoadConfig(kind="warp"), "unknown load kind 'warp'"),
        (LoadConfig(kind="offline", concurrency=()), "load.concurrency is empty"),
        (LoadConfig(kind="offline", concurrency=(10**6,)), "load.concurrency: 1000000 is above"),
        (LoadConfig(kind="server", qps=float("nan")), "load.qps: nan is not a finite number"),
        (LoadConfig(kind="server"), "searching for the peak QPS .* needs a latency bound"),
        (LoadConfig(kind="server", qps=5, batch=(2,)), "one concurrency and one threads value"),
        (LoadConfig(kind="offline", percentile=100.0), "load.percentile = 100.0 must be between"),
        (LoadConfig(kind="server", qps=1e6, duration_s=86_400), "requests per point, above"),
    ],
)
def test_the_agent_refuses_a_load_out_of_bounds(load: LoadConfig, message: str) -> None:
    with pytest.raises(JobSpecError, match=message):
        JobSpec("j", "a" * 64, "onnx", load=load).check()


def test_the_procurement_example_plan_runs_all_three_scenarios() -> None:
    plan = load_plan(REPO / "plans" / "procurement.yaml")
    kinds = {s.kind for s in plan.scenarios}
    assert kinds == {"single-stream", "offline", "server"}
    server = next(s for s in plan.scenarios if s.kind == "server")
    assert server.qps_auto and server.latency_ms is not None
