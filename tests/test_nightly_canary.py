"""The canary: its plan, and the health verdict it gives each device from stored results."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.controller.dispatch import RunOutcome
from rigbench.controller.nightly.canary import CANARY_MODEL, canary_health, canary_plan
from rigbench.controller.plan import Plan, load_plan
from rigbench.controller.store import Store
from rigbench.controller.store.db import JobRecord
from tests.builders.store import store_result
from tests.paths import REPO

RUN = "canary-run"


def canary_store(tmp_path: Path, results: dict[str, dict[str, Any] | str]) -> Store:
    """A canary run: per device, accuracy figures of its one job, or an error kind."""
    store = Store(tmp_path / "store.duckdb")
    store.begin_run(RUN, "canary", "p.canary", "{}", "d")
    for device, acc in results.items():
        job_id = f"{RUN}.{device}"
        store.record_jobs(
            [JobRecord(job_id, RUN, f"{device}/canary/fp32/ort/s", device, CANARY_MODEL,
                       "fp32", "sha", "ort", "onnxruntime", "s", "{}")]
        )  # fmt: skip
        if isinstance(acc, str):
            store.mark_job(job_id, "failed", error_kind=acc, error_message="boom")
            continue
        row = {
            "job_id": job_id, "run_id": RUN, "device": device, "model": CANARY_MODEL,
            "variant": "fp32", "runtime": "onnxruntime", "runtime_name": "ort",
            "scenario": "s", "iterations": 30, "created_at": datetime(2026, 1, 1),
        }  # fmt: skip
        lat = np.full(30, 1000, dtype=np.int64)
        store_result(store, row, lat, [], [], [{"output": "*", **acc}])
    store.finish_run(RUN, "finished")
    return store


GOOD = {"max_abs_err": 1e-6, "cosine_similarity": 1.0, "top1_agreement": 1.0}


def test_canary_plan_uses_the_plans_runtimes_and_devices():
    plan = load_plan(REPO / "plans" / "nightly.yaml")
    canary = canary_plan(plan)
    assert [r.name for r in canary.runtimes] == [r.name for r in plan.runtimes]
    assert canary.devices == plan.devices
    assert canary.models[0].variants == ["fp32", "tflite-fp32"]


def test_canary_plan_is_short_and_quiet():
    # About a second of measuring: enough for a median its speed check can compare night to
    # night, bounded by max_duration_s.
    canary = canary_plan(load_plan(REPO / "plans" / "nightly-smoke.yaml"))
    assert canary.models[0].generate is not None and canary.models[0].generate.size == "tiny"
    m = canary.measurement
    assert m.min_duration_s == 1.0 and m.max_duration_s <= 10 and not canary.telemetry.enabled


def test_canary_plan_is_a_valid_plan():
    canary = canary_plan(load_plan(REPO / "plans" / "nightly-smoke.yaml"))
    assert Plan.model_validate_json(canary.model_dump_json()) == canary


def test_correct_answers_make_a_healthy_device(tmp_path: Path):
    store = canary_store(tmp_path, {"pi": GOOD})
    assert canary_health(store, RunOutcome(RUN), ["pi"])["pi"].healthy


def test_a_different_top1_class_makes_an_unhealthy_device(tmp_path: Path):
    store = canary_store(tmp_path, {"pi": {**GOOD, "top1_agreement": 0.75}})
    h = canary_health(store, RunOutcome(RUN), ["pi"])["pi"]
    assert not h.healthy and "top-1 class differs on 25%" in h.message


def test_low_cosine_similarity_makes_an_unhealthy_device(tmp_path: Path):
    store = canary_store(tmp_path, {"pi": {**GOOD, "cosine_similarity": 0.9}})
    assert not canary_health(store, RunOutcome(RUN), ["pi"])["pi"].healthy


def test_no_outputs_to_check_makes_an_unhealthy_device(tmp_path: Path):
    store = canary_store(tmp_path, {"pi": {"max_abs_err": None}})
    h = canary_health(store, RunOutcome(RUN), ["pi"])["pi"]
    assert not h.healthy and "no outputs" in h.message


def test_a_failed_canary_job_makes_an_unhealthy_device(tmp_path: Path):
    store = canary_store(tmp_path, {"pi": "provider", "orin": GOOD})
    health = canary_health(store, RunOutcome(RUN), ["pi", "orin"])
    assert not health["pi"].healthy and health["orin"].healthy


def test_an_unreachable_device_is_reported_as_unreachable(tmp_path: Path):
    store = canary_store(tmp_path, {"orin": GOOD})
    outcome = RunOutcome(RUN, unreachable=[("pi", "connection refused")])
    h = canary_health(store, outcome, ["pi", "orin"])["pi"]
    assert (h.healthy, h.state, h.message) == (False, "unreachable", "connection refused")
