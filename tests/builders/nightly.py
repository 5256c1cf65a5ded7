"""Synthetic nightly histories written into real DuckDB stores.

Nights are written through the Store API (runs, devices, artifacts, jobs, results with every
per-iteration latency, accuracy), with latencies shaped like real ones (log-normal jitter
around a median that moves a little from night to night, plus rare 1.5-3x spikes).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from rigbench.controller.baseline import trends
from rigbench.controller.store import Store
from rigbench.controller.store.db import ArtifactRecord, JobRecord
from rigbench.controller.store.latency import latency_stats
from rigbench.reports.trends import render_trends
from tests.builders.store import one_connection, record_device, store_result

FP = {"kernel": "6.6.31", "agent": "0.1.0", "runtime.onnxruntime": "1.32.0"}


@dataclass
class Series:
    """One job of a synthetic night."""

    device: str = "pi5-01"
    model: str = "cnn"
    variant: str = "fp32"
    runtime_name: str = "ort-cpu"
    scenario: str = "single-stream"
    median_ns: float = 2_000_000.0
    slowdown: float = 1.0  # multiplies the median tonight
    model_version: str = "v1"  # changes the artifact digest
    threads: int = 1
    iterations: int = 2000
    throttled: bool = False
    peak_rss_bytes: int = 60_000_000
    energy_mj: float | None = None
    max_abs_err: float | None = 1e-6
    failed: str | None = None  # an error kind: the job failed instead
    emulated: bool = False  # measured on an emulated device (qemu-user)

    @property
    def key(self) -> str:
        return f"{self.device}/{self.model}/{self.variant}/{self.runtime_name}/{self.scenario}"


def latencies(rng: np.random.Generator, median_ns: float, n: int, night_sd: float) -> np.ndarray:
    """Per-iteration latencies: 5 % log-normal jitter, 2 % spikes, a night-level offset."""
    med = median_ns * math.exp(rng.normal(0.0, night_sd))
    x = med * np.exp(rng.normal(0.0, 0.05, n))
    spikes = rng.random(n) < 0.02
    x[spikes] *= rng.uniform(1.5, 3.0, int(spikes.sum()))
    return x.astype(np.int64)


@dataclass
class History:
    """Writes nights of one plan into a store, one day apart."""

    store: Store
    plan: str = "nightly"
    night_sd: float = 0.005
    seed: int = 0
    start: datetime = datetime(2026, 3, 1, 2, 0)
    fingerprints: dict[str, dict[str, str]] = field(default_factory=dict)
    _count: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def night(self, series: list[Series], kind: str = "nightly", status: str = "finished") -> str:
        """Store one night with the given jobs; returns its run id."""
        self._count += 1
        when = self.start + timedelta(days=self._count)
        run_id = f"{when:%Y%m%dT%H%M%SZ}-{self._count:04d}"
        plan_digest = hashlib.sha256(
            json.dumps(sorted((s.key, s.model_version) for s in series)).encode()
        ).hexdigest()
        st = self.store
        with one_connection(st):
            st.begin_run(run_id, kind, self.plan, "{}", plan_digest)
            with st.transaction() as con:
                con.execute("UPDATE runs SET started_at = ? WHERE run_id = ?", [when, run_id])
            for device in sorted({s.device for s in series}):
                fp = self.fingerprints.get(device, FP)
                record_device(st, run_id, device, "rpi", [], "grpc", {"fingerprint": fp}, None)
            for s in series:
                self._job(run_id, s)
            st.finish_run(run_id, status)
        return run_id

    def _job(self, run_id: str, s: Series) -> None:
        sha = hashlib.sha256(f"{s.model}/{s.variant}/{s.model_version}".encode()).hexdigest()
        self.store.record_artifact(
            ArtifactRecord(sha, "onnx", 1000, s.model, s.variant, transform="identity", params={})
        )
        job_id = f"{run_id}.{hashlib.sha256(s.key.encode()).hexdigest()[:12]}"
        spec = {
            "runtime": {
                "runtime": "onnxruntime",
                "providers": ["cpu"],
                "intra_op_threads": s.threads,
            },
            "inputs": [],
            "inputs_npz_sha256": "",
            "soak": {"duration_s": 0.0, "window_s": 10.0},
        }
        self.store.record_jobs(
            [
                JobRecord(
                    job_id, run_id, s.key, s.device, s.model, s.variant, sha,
                    s.runtime_name, "onnxruntime", s.scenario, json.dumps(spec),
                )
            ]
        )  # fmt: skip
        if s.failed:
            self.store.mark_job(job_id, "failed", error_kind=s.failed, error_message="synthetic")
            return
        lat = latencies(self.rng, s.median_ns * s.slowdown, s.iterations, self.night_sd)
        st = latency_stats(lat)
        row: dict[str, Any] = {
            "job_id": job_id,
            "run_id": run_id,
            "device": s.device,
            "model": s.model,
            "variant": s.variant,
            "runtime": "onnxruntime",
            "runtime_name": s.runtime_name,
            "scenario": s.scenario,
            "iterations": st.iterations,
            "p50_ns": st.p50_ns,
            "p90_ns": st.p90_ns,
            "p99_ns": st.p99_ns,
            "mean_ns": st.mean_ns,
            "throughput_ips": st.throughput_ips,
            "peak_rss_bytes": s.peak_rss_bytes,
            "energy_per_inference_mj": s.energy_mj,
            "throttled": s.throttled,
            "simulated": False,
            "emulated": s.emulated,
            "created_at": datetime(2026, 1, 1),
        }
        acc = []
        if s.max_abs_err is not None:
            acc = [{"output": "*", "max_abs_err": s.max_abs_err, "within_tolerance": True}]
        store_result(self.store, row, lat, [], [], acc)


def trend_page(store: Store, report: Any, nights: int = 30) -> str:
    """The trend report of a nightly report, as the nightly writes it."""
    return render_trends(report, trends(store, report.plan_name, report.started_at, nights))
