"""A builder of realistic stores for the ranking, fleet and report tests.

Rows go through the real write path (`Store.begin_run`, devices, `record_jobs`, results)
with statistics from `controller.store.latency.latency_stats`, exactly as `rigbench run`
stores them, so the tests read what a real run leaves behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.agent.jobs import LoadPoint, LoadResult
from rigbench.controller.store import Store
from rigbench.controller.store.db import JobRecord, now
from rigbench.controller.store.latency import latency_stats
from rigbench.controller.store.load import load_record
from tests.builders.store import record_device, store_result

PI_COST = {"purchase_usd": 80.0, "lifetime_years": 3.0, "electricity_usd_per_kwh": 0.30}
CLOUD_COST = {"hourly_usd": 1.0}
NAMEPLATE_COST = {
    "purchase_usd": 650.0,
    "lifetime_years": 4.0,
    "electricity_usd_per_kwh": 0.30,
    "nameplate_w": 28.0,
}


def lognormal_ns(median_ms: float, n: int = 2000, sigma: float = 0.1, seed: int = 0) -> np.ndarray:
    """Latency-like samples: right-skewed around ``median_ms``."""
    rng = np.random.default_rng(seed)
    return (rng.lognormal(np.log(median_ms * 1e6), sigma, n)).astype(np.int64)


def load_point(
    qps: float,
    p99_ms: float,
    *,
    n: int = 500,
    held: bool | None = None,
    stop_reason: str = "completed",
    served: int | None = None,
    concurrency: int = 1,
    batch: int = 1,
    target_qps: float | None = None,
    seed: int = 0,
) -> LoadPoint:
    """A load point whose served requests ran at ``qps`` with a p99 near ``p99_ms``."""
    sigma = 0.2
    median_ms = p99_ms / float(np.exp(2.326 * sigma))
    lat = lognormal_ns(median_ms, n=served if served is not None else n, sigma=sigma, seed=seed)
    duration_ns = int(len(lat) / qps * 1e9)
    return LoadPoint(
        concurrency=concurrency,
        batch=batch,
        threads=1,
        target_qps=qps if target_qps is None else target_qps,
        latencies_ns=lat.tolist(),
        planned=n,
        begin_ns=1_000,
        end_ns=1_000 + duration_ns,
        cpu_ns=duration_ns,
        cpus=2,
        stop_reason=stop_reason,
        held=held,
        schedule_ns=int(n / qps * 1e9) if target_qps != 0.0 else 0,
    )


# A server search of one device: the bound (p99 50 ms) held at 300 and 375 qps, lost above.
SEARCH = [
    load_point(300.0, 20.0, held=True, seed=1),
    load_point(450.0, 400.0, held=False, stop_reason="bound_lost", served=40, seed=2),
    load_point(375.0, 35.0, held=True, seed=3),
    load_point(410.0, 90.0, held=False, seed=4),
]


class RunBuilder:
    """One run in a real store file, with devices and results added one by one."""

    def __init__(self, store: Store, run_id: str = "run-1", model: str = "cnn") -> None:
        self.store = store
        self.run_id = run_id
        self.model = model
        self._n = 0
        store.begin_run(run_id, "run", "test-plan", None, None)

    def device(
        self,
        name: str,
        cost: dict[str, Any] | None = None,
        simulated: bool = False,
        device_class: str = "x86",
        emulated: bool = False,
    ) -> RunBuilder:
        desc: dict[str, Any] = {"simulated": simulated}
        if emulated:  # what an agent under qemu-user says in Describe
            desc["emulation"] = {"emulator": "qemu-user", "host_arch": "x86_64"}
        record_device(self.store, self.run_id, name, device_class, [], "local", desc, cost)
        return self

    def pending(self, device: str, variant: str) -> str:
        """A job that has not produced a result yet (the run is still going)."""
        return self._job(device, variant, "ort-cpu", "single-stream")

    def _job(
        self, device: str, variant: str, runtime_name: str, scenario: str, model: str | None = None
    ) -> str:
        model = model or self.model
        self._n += 1
        job_id = f"{self.run_id}.{self._n:04d}"
        self.store.record_jobs(
            [
                JobRecord(
                    job_id,
                    self.run_id,
                    f"{device}/{model}/{variant}/{runtime_name}/{scenario}",
                    device,
                    model,
                    variant,
                    "0" * 64,
                    runtime_name,
                    "onnxruntime",
                    scenario,
                    "{}",
                )
            ]
        )
        return job_id

    def result(
        self,
        device: str,
        variant: str,
        latencies_ns: np.ndarray,
        *,
        runtime_name: str = "ort-cpu",
        scenario: str = "single-stream",
        power_mw: float | None = None,
        energy_source: str | None = None,
        simulated: bool = False,
        throttled: bool | None = None,
        peak_rss_mb: float = 64.0,
        max_abs_err: float | None = None,
        within_tolerance: bool | None = None,
        batch_size: int = 1,
        soak_windows: list[dict[str, float]] | None = None,
        telemetry: list[tuple[int, str, str, float]] | None = None,
        model: str | None = None,
    ) -> str:
        """Store one job's result the way `rigbench run` does; returns the job id."""
        model = model or self.model
        job_id = self._job(device, variant, runtime_name, scenario, model)
        st = latency_stats(latencies_ns)
        ips = st.throughput_ips
        row = {
            "job_id": job_id,
            "run_id": self.run_id,
            "device": device,
            "model": model,
            "variant": variant,
            "runtime": "onnxruntime",
            "runtime_name": runtime_name,
            "runtime_version": "1.20",
            "providers_used": "CPUExecutionProvider",
            "scenario": scenario,
            "batch_size": batch_size,
            **st.columns(),
            "throughput_ips": ips,
            "peak_rss_bytes": int(peak_rss_mb * 1048576),
            "measure_start_ns": 0,
            "measure_end_ns": int(latencies_ns.sum()),
            "avg_power_mw": power_mw,
            "energy_per_inference_mj": power_mw / ips if power_mw and ips else None,
            "energy_source": energy_source,
            "energy_coverage": 1.0 if power_mw else None,
            "throttled": throttled,
            "throttle_reasons_json": json.dumps(["soft temp limit"] if throttled else []),
            "soak_windows_json": json.dumps(soak_windows) if soak_windows else None,
            "simulated": simulated,
            "created_at": now(),
        }
        accuracy = []
        if max_abs_err is not None:
            accuracy.append(
                {
                    "output": "*",
                    "max_abs_err": max_abs_err,
                    "mean_abs_err": max_abs_err / 4,
                    "cosine_similarity": 0.999,
                    "n_samples": 8,
                    "within_tolerance": within_tolerance,
                    "reasons": None if within_tolerance is not False else "max_abs_err too high",
                }
            )
        store_result(self.store, row, latencies_ns, telemetry or [], [], accuracy)
        return job_id

    def load_result(
        self,
        device: str,
        variant: str,
        load: LoadResult,
        *,
        scenario: str | None = None,
        runtime_name: str = "ort-cpu",
        power_mw: float | None = None,
        energy_source: str | None = None,
    ) -> str:
        """Store an offline or server job the way `rigbench run` does: its headline point as
        the result row and samples, every point in load_points and load_samples.
        """
        job_id = self._job(device, variant, runtime_name, scenario or load.kind)
        head = load.points[load.headline]
        lat = np.asarray(head.latencies_ns, dtype=np.int64)
        st = latency_stats(lat, head.end_ns - head.begin_ns)
        ips = (st.throughput_ips or 0.0) * head.batch
        row = {
            "job_id": job_id,
            "run_id": self.run_id,
            "device": device,
            "model": self.model,
            "variant": variant,
            "runtime": "onnxruntime",
            "runtime_name": runtime_name,
            "runtime_version": "1.20",
            "providers_used": "CPUExecutionProvider",
            "scenario": scenario or load.kind,
            "batch_size": head.batch,
            **st.columns(),
            "throughput_ips": ips,
            "peak_rss_bytes": 64 * 1048576,
            "measure_start_ns": head.begin_ns,
            "measure_end_ns": head.end_ns,
            "avg_power_mw": power_mw,
            "energy_per_inference_mj": power_mw / ips if power_mw and ips else None,
            "energy_source": energy_source,
            "energy_coverage": 1.0 if power_mw else None,
            "simulated": False,
            "created_at": now(),
            "scenario_kind": load.kind,
            "load_point": load.headline,
        }
        store_result(self.store, row, lat, load=load_record(job_id, load))
        return job_id

    def finish(self, status: str = "finished") -> RunBuilder:
        self.store.finish_run(self.run_id, status)
        return self


def new_store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.duckdb")
