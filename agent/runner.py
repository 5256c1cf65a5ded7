"""Runs jobs one at a time: spawns the worker, samples telemetry, spools and fans out events.

A job belongs to the agent, not to the RPC that started it: if the controller disconnects the
job runs on and its events land in the spool, where ``AttachJob`` (or a ``RunBenchmark`` with
the same job id) finds them. A second job while one runs is refused, naming the holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.agent.cache import ArtifactCache
from rigbench.agent.jobs import (
    EventBody,
    JobEvent,
    JobFailure,
    JobResult,
    JobSpec,
    Progress,
    TelemetryBatch,
    TelemetryGapInfo,
    TelemetryPoint,
    TensorInfo,
)
from rigbench.agent.spool import JobSpool, Spool
from rigbench.agent.telemetry_session import TelemetrySession
from rigbench.errors import ArtifactError, DeviceBusyError, JobNotFoundError

log = logging.getLogger("rigbench.agent")

_STDERR_TAIL = 2000
# "measured" is followed at once by the result, which says the same and more. (Nor is there a
# "starting" event before the worker's "loading": no controller shows it, and every event
# costs a controller driving hundreds of boards CPU time.)
_NOT_FORWARDED = frozenset({"measured"})


def _worth_sending(events: list[JobEvent], start: int, end: int) -> list[JobEvent]:
    """``events[start:end]`` without progress already out of date: progress with a newer
    progress or the end queued behind it. Telemetry and the end are always sent.
    """
    newest = next((j for j in range(end - 1, start - 1, -1) if _progress_or_end(events[j])), start)
    return [
        e
        for j, e in enumerate(events[start:end], start)
        if not (isinstance(e.body, Progress) and j < newest)
    ]


def _progress_or_end(e: JobEvent) -> bool:
    return isinstance(e.body, Progress) or e.is_terminal


@dataclass
class RunningJob:
    spec: JobSpec
    spool: JobSpool
    started_at: float = field(default_factory=time.time)
    events: list[JobEvent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    done: bool = False
    process: asyncio.subprocess.Process | None = None
    cancelled: bool = False
    task: asyncio.Task[None] | None = None

    def emit(self, body: EventBody) -> JobEvent:
        event = JobEvent(job_id=self.spec.job_id, seq=len(self.events), body=body)
        self.spool.append(event)  # to disk before anyone is told
        self.events.append(event)
        if event.is_terminal:
            self.done = True
        self.changed.set()
        self.changed = asyncio.Event()
        return event

    @property
    def since(self) -> str:
        return datetime.fromtimestamp(self.started_at, timezone.utc).isoformat(timespec="seconds")


class JobRunner:
    def __init__(
        self,
        cache: ArtifactCache,
        spool: Spool,
        compile_cache: Path,
        telemetry: TelemetrySession | None = None,
    ):
        self.cache = cache
        self.spool = spool
        self.compile_cache = compile_cache
        self.telemetry = telemetry
        self.current: RunningJob | None = None
        self.lease_holder = ""
        self.lease_until = 0.0  # time.monotonic(); the holder keeps the device until then
        compile_cache.mkdir(parents=True, exist_ok=True)
        self._close_orphans()

    def _close_orphans(self) -> None:
        """Spools left unfinished by an agent that died mid-job get a failure, so none hangs."""
        for d in self.spool.root.iterdir():
            if d.is_dir() and (d / "events.pb").exists():
                js = JobSpool(d)
                if not js.finished:
                    js.append(
                        JobEvent(
                            d.name,
                            js.last_seq() + 1,
                            JobFailure(
                                "worker-crashed",
                                "the agent stopped while this job ran; run it again",
                            ),
                        )
                    )

    @property
    def busy_job_id(self) -> str:
        return self.current.spec.job_id if self.current and not self.current.done else ""

    def start(self, spec: JobSpec) -> RunningJob | None:
        """Start a job, or None when this job id already ran (its spool is replayed instead)."""
        cur = self.current
        if cur is not None and not cur.done:
            if cur.spec.job_id == spec.job_id:
                return cur
            raise DeviceBusyError(
                f"device busy: job {cur.spec.job_id} ({cur.spec.label or 'unlabelled'}) "
                f"holds it since {cur.since}"
            )
        if self.spool.exists(spec.job_id):
            return None
        self._check_lease(spec)
        for digest in filter(
            None, (spec.artifact_sha256, spec.inputs_npz_sha256, spec.reference_inputs_sha256)
        ):
            if not self.cache.has(digest):
                raise ArtifactError(f"artifact {digest[:12]} is not on this agent; upload it first")
        job = RunningJob(spec=spec, spool=self.spool.create(spec.job_id))
        self.current = job
        job.task = asyncio.get_running_loop().create_task(self._execute(job))
        return job

    def _check_lease(self, spec: JobSpec) -> None:
        now = time.monotonic()
        holder = self.lease_holder
        if holder and spec.lease_holder != holder and now < self.lease_until:
            raise DeviceBusyError(
                f"device leased by {holder} for another {self.lease_until - now:.0f} s "
                "(the lease lapses if its holder stops sending jobs)"
            )
        self.lease_holder = spec.lease_holder
        self.lease_until = now + spec.lease_ttl_s if spec.lease_holder else 0.0

    async def follow(self, job_id: str, from_seq: int = 0) -> AsyncIterator[JobEvent]:
        """The job's events from ``from_seq``: live while it runs, else from the spool.

        A live stream skips progress that is already out of date when its turn comes (a newer
        progress or the end is queued behind it): a short model goes through loading, warm-up
        and measuring in milliseconds, and each message costs a controller that drives
        hundreds of boards CPU time. The spool keeps every event, so seq numbers may jump.
        """
        cur = self.current
        if cur is not None and cur.spec.job_id == job_id and not cur.done:
            i = from_seq
            while True:
                while i < len(cur.events):
                    end = len(cur.events)
                    for event in _worth_sending(cur.events, i, end):
                        yield event
                    i = end
                if cur.done:
                    return
                await cur.changed.wait()
        js = self.spool.job(job_id)
        if not js.events_path.exists():
            raise JobNotFoundError(
                f"no job {job_id!r} on this agent (finished spools are kept "
                f"for {self.spool.retention_s / 86400:g} days)"
            )
        for e in js.read(from_seq):
            yield replace(e, replayed=True)

    def cancel(self, job_id: str) -> str:
        cur = self.current
        if cur is not None and cur.spec.job_id == job_id and not cur.done:
            cur.cancelled = True
            if cur.process is not None and cur.process.returncode is None:
                cur.process.kill()
            return "cancelling"
        if self.spool.exists(job_id):
            return "finished"
        raise JobNotFoundError(f"no job {job_id!r} on this agent")

    async def _execute(self, job: RunningJob) -> None:
        spec = job.spec
        pins = [
            d
            for d in (spec.artifact_sha256, spec.inputs_npz_sha256, spec.reference_inputs_sha256)
            if d
        ]
        for d in pins:
            self.cache.pin(d)
        recorder = None
        try:
            if self.telemetry is not None and spec.telemetry.enabled:
                recorder = self.telemetry.start(spec.telemetry.rate_hz, job.emit)
            idle_window = None
            if recorder is not None and spec.telemetry.idle_baseline_s > 0:
                job.emit(Progress("idle-baseline"))
                t0 = time.perf_counter_ns()
                await asyncio.sleep(spec.telemetry.idle_baseline_s)
                idle_window = (t0, time.perf_counter_ns())
            body = await self._run_worker(job)
            if recorder is not None:
                summary = recorder.stop_and_summarize(body, idle_window)
                recorder = None
                if isinstance(body, JobResult):
                    body.telemetry_summary = summary
            job.emit(body)
        except Exception as e:  # the job must end with an event whatever happens
            log.exception("job %s failed inside the agent", spec.job_id)
            job.emit(JobFailure("internal", f"agent error: {type(e).__name__}: {e}"))
        finally:
            if recorder is not None:
                recorder.stop_and_summarize(None, None)
            for d in pins:
                self.cache.unpin(d)
            if spec.lease_holder and spec.lease_holder == self.lease_holder:
                self.lease_until = time.monotonic() + spec.lease_ttl_s
            with contextlib.suppress(OSError):
                self.spool.prune(keep={spec.job_id})

    async def _run_worker(self, job: RunningJob) -> JobResult | JobFailure:
        spec = job.spec
        work = job.spool.folder / "work"
        work.mkdir(exist_ok=True)
        (work / "spec.json").write_text(json.dumps(spec.to_json_dict()))
        paths: dict[str, Any] = {
            "artifact": str(self.cache.get(spec.artifact_sha256)),
            "compile_cache": str(self.compile_cache),
        }
        if spec.inputs_npz_sha256:
            paths["inputs_npz"] = str(self.cache.get(spec.inputs_npz_sha256))
        if spec.reference_inputs_sha256:
            paths["reference_inputs"] = str(self.cache.get(spec.reference_inputs_sha256))
        (work / "paths.json").write_text(json.dumps(paths))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rigbench.agent.worker",
            str(work),
            str(os.getpid()),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        job.process = proc
        stderr_task = asyncio.ensure_future(proc.stderr.read() if proc.stderr else _empty())
        assert proc.stdout is not None
        async for line in proc.stdout:
            try:
                p = json.loads(line)
                progress = Progress(p["phase"], int(p["iterations"]), int(p["elapsed_ns"]))
            except (ValueError, KeyError, TypeError):
                continue  # a runtime printed to stdout; not ours
            if progress.phase not in _NOT_FORWARDED:
                job.emit(progress)
        rc = await proc.wait()
        stderr = (await stderr_task).decode(errors="replace")
        if job.cancelled:
            return JobFailure("cancelled", "the job was cancelled")
        if (work / "result.json").exists():
            return _result_from_files(work)
        if (work / "error.json").exists():
            err = json.loads((work / "error.json").read_text())
            return JobFailure(err["kind"], err["message"])
        how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
        tail = stderr.strip()[-_STDERR_TAIL:]
        return JobFailure(
            "worker-crashed",
            f"the worker process died ({how}) while running the model"
            + (f": {tail}" if tail else ""),
        )


async def _empty() -> bytes:
    return b""


def _result_from_files(work: Path) -> JobResult:
    r = json.loads((work / "result.json").read_text())
    lat = np.load(work / "latencies.npy")
    outputs = work / "outputs.npz"
    return JobResult(
        load_ns=r["load_ns"],
        compile_ns=r["compile_ns"],
        first_inference_ns=r["first_inference_ns"],
        warmup_iterations=r["warmup_iterations"],
        latencies_ns=lat.tolist(),
        measure_start_ns=r["measure_start_ns"],
        measure_end_ns=r["measure_end_ns"],
        peak_rss_bytes=r["peak_rss_bytes"],
        rss_before_load_bytes=r["rss_before_load_bytes"],
        runtime=r["runtime"],
        runtime_version=r["runtime_version"],
        providers_used=r["providers_used"],
        inputs=[TensorInfo(t["name"], t["dtype"], tuple(t["shape"])) for t in r["inputs"]],
        outputs=[TensorInfo(t["name"], t["dtype"], tuple(t["shape"])) for t in r["outputs"]],
        stop_reason=r["stop_reason"],
        reference_outputs_npz=outputs.read_bytes() if outputs.exists() else b"",
        warnings=r["warnings"],
        soak_windows=r["soak_windows"],
        compile_cache_hit=r["compile_cache_hit"],
    )


__all__ = ["JobRunner", "RunningJob", "TelemetryBatch", "TelemetryGapInfo", "TelemetryPoint"]
