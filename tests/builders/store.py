"""Rows and records written through the store's real write path."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import duckdb
import numpy as np

from rigbench.controller.store import Store
from rigbench.controller.store.db import DeviceRecord, JobRecord, ResultRecord, now
from rigbench.controller.store.load import LoadRecord


def job(job_id: str = "job-1", run_id: str = "run-1") -> JobRecord:
    return JobRecord(
        job_id, run_id, "local/m/fp32/ort/ss", "local", "m", "fp32", "a" * 64, "ort",
        "onnxruntime", "single-stream", "{}",
    )  # fmt: skip


def result_row(job_id: str = "job-1", run_id: str = "run-1") -> dict[str, Any]:
    return {
        "job_id": job_id,
        "run_id": run_id,
        "device": "local",
        "model": "m",
        "variant": "fp32",
        "runtime": "onnxruntime",
        "runtime_name": "ort",
        "scenario": "single-stream",
        "iterations": 4,
        "p50_ns": 150.0,
        "created_at": now(),
    }


LATENCIES = np.array([100, 200, 150, 175], dtype=np.int64)
TELEMETRY = [(1, "cpu", "temp_mc", 45000.0), (2, "cpu", "temp_mc", 46000.0)]
GAPS = [(3, "rapl", "permission denied")]
ACCURACY = [{"output": "*", "max_abs_err": 0.01, "n_samples": 8, "within_tolerance": True}]


def store_one(store: Store, **kw: Any) -> bool:
    args: dict[str, Any] = dict(
        row=result_row(), latencies_ns=LATENCIES, telemetry=TELEMETRY, gaps=GAPS, accuracy=ACCURACY
    )
    args.update(kw)
    return store_result(store, **args)


def result(job_id: str) -> ResultRecord:
    row = {
        "job_id": job_id,
        "run_id": "r",
        "device": "d",
        "model": "m",
        "variant": "v",
        "runtime": "onnxruntime",
        "runtime_name": "ort",
        "scenario": "s",
        "iterations": 3,
        "created_at": datetime(2026, 1, 1),
    }
    return ResultRecord(row, np.array([1, 2, 3], dtype=np.int64))


def store_result(
    store: Store,
    row: dict[str, Any],
    latencies_ns: np.ndarray,
    telemetry: Sequence[tuple[int, str, str, float]] = (),
    gaps: Sequence[tuple[int, str, str]] = (),
    accuracy: Sequence[dict[str, Any]] = (),
    load: LoadRecord | None = None,
) -> bool:
    """Store one job's result and samples as a run's writer does; False if already stored."""
    record = ResultRecord(row, latencies_ns, list(telemetry), list(gaps), list(accuracy), load=load)
    return store.write_batch([], [record]) == 1


def record_device(
    store: Store,
    run_id: str,
    device: str,
    device_class: str,
    tags: Sequence[str],
    transport: str,
    description: dict[str, Any] | None,
    cost: dict[str, Any] | None,
) -> None:
    """A run's device row, as a run's writer records it after Describe."""
    rec = DeviceRecord(run_id, device, device_class, tuple(tags), transport, description, cost)
    store.write_batch([], [], [rec])


@contextlib.contextmanager
def one_connection(store: Store) -> Iterator[Store]:
    """Every read and write of the block through one open connection.

    Opening the file costs ~10 ms; builders writing hundreds of rows keep it open instead.
    """
    with store.open_writer() as con:

        @contextlib.contextmanager
        def connect(
            read_only: bool = False, config: dict[str, Any] | None = None
        ) -> Iterator[duckdb.DuckDBPyConnection]:
            yield con

        store.connect = connect  # type: ignore[method-assign]
        try:
            yield store
        finally:
            del store.connect
