"""Runs jobs one at a time: spawns the worker, samples telemetry, spools and fans out events.

A job belongs to the agent, not to the RPC that started it: if the controller disconnects the
job runs on and its events land in the spool, where ``AttachJob`` (or a ``RunBenchmark`` with
the same job id) finds them. A second job while one runs is refused, naming the holder.

Every job ends with exactly one terminal event, whatever happens: a full disk fails it as the
farm's fault (in memory when not even that can be spooled), frees the device and leaves the
agent serving; a result too large for one message is spooled and sent in parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rigbench.agent.cache import ArtifactCache
from rigbench.agent.clock import SYSTEM_CLOCK, Clock
from rigbench.agent.convert import result_from_bytes, result_parts
from rigbench.agent.jobs import (
    EventBody,
    JobEvent,
    JobFailure,
    JobResult,
    JobSpec,
    PartsEnd,
    Progress,
    TelemetryBatch,
    TelemetryGapInfo,
    TelemetryPoint,
)
from rigbench.agent.lease import DEFAULT_MAX_LEASE_S, Lease
from rigbench.agent.runtimes.descriptor import MODEL_SUFFIXES
from rigbench.agent.spool import JobSpool, Spool
from rigbench.agent.telemetry_session import TelemetrySession
from rigbench.agent.worker import RESULT_FILE
from rigbench.errors import (
    ArtifactMissingError,
    DeviceBusyError,
    DiskFullError,
    JobNotFoundError,
    NotHolderError,
    is_disk_full,
)
from rigbench.failures import FailureKind, internal_message, trim_message

log = logging.getLogger("rigbench.agent")

_STDERR_TAIL = 2000
_KEEP_UNSPOOLED = 100  # ends kept in memory because the disk could not take them
# A worker killed by one of these crashed in native code: the runtime, running the model.
_CRASH_SIGNALS = frozenset(
    {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT}
)
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
    stopping: bool = False  # the agent is shutting down
    disk_full: DiskFullError | None = None  # telemetry could not be spooled
    task: asyncio.Task[None] | None = None

    def emit(self, body: EventBody) -> JobEvent:
        """Spool an event, then tell the followers. A full disk raises ``DiskFullError``."""
        if self.done:
            raise RuntimeError(f"job {self.spec.job_id} already ended")
        event = JobEvent(job_id=self.spec.job_id, seq=len(self.events), body=body)
        self.spool.append(event)  # to disk before anyone is told
        self._publish(event)
        return event

    def end_unspooled(self, body: JobFailure) -> JobEvent:
        """End the job in memory only: the disk could not take even its failure."""
        event = JobEvent(job_id=self.spec.job_id, seq=len(self.events), body=body)
        self._publish(event)
        return event

    def _publish(self, event: JobEvent) -> None:
        self.events.append(event)
        if event.is_terminal:
            self.done = True
        self.changed.set()
        self.changed = asyncio.Event()

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
        max_lease_s: float = DEFAULT_MAX_LEASE_S,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self.cache = cache
        self.spool = spool
        self.compile_cache = compile_cache
        self.telemetry = telemetry
        self.lease = Lease(max_lease_s, clock)
        self.current: RunningJob | None = None
        # Ends the disk could not take, by job id, so AttachJob still ends those jobs.
        self.unspooled: dict[str, JobEvent] = {}
        compile_cache.mkdir(parents=True, exist_ok=True)
        self._close_orphans()

    def _close_orphans(self) -> None:
        """Spools left unfinished by an agent that died mid-job get a failure, so none hangs."""
        for d in self.spool.root.iterdir():
            if d.is_dir() and (d / "events.pb").exists():
                js = JobSpool(d)
                if not js.finished:
                    with contextlib.suppress(OSError):  # a full disk: AttachJob ends it anyway
                        js.append(
                            JobEvent(
                                d.name,
                                js.last_seq() + 1,
                                JobFailure(
                                    FailureKind.AGENT_RESTARTED,
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
        spec.check()
        if self.spool.exists(spec.job_id) or spec.job_id in self.unspooled:
            return None  # it ran: follow() replays it
        self.lease.claim(spec.lease_holder, spec.lease_ttl_s)
        for digest in spec.artifact_digests:
            if not self.cache.has(digest):
                raise ArtifactMissingError(
                    f"artifact {digest[:12]} is not on this agent; upload it first"
                )
        try:
            job = RunningJob(spec=spec, spool=self.spool.create(spec.job_id))
        except OSError as e:
            if is_disk_full(e):
                raise DiskFullError(f"the agent's disk is full: cannot start a job ({e})") from e
            raise
        self.current = job
        job.task = asyncio.get_running_loop().create_task(self._execute(job))
        return job

    def release(self, holder: str) -> bool:
        """End ``holder``'s lease now (its run is over); False when it holds none."""
        return self.lease.release(holder)

    async def follow(self, job_id: str, from_seq: int = 0) -> AsyncIterator[JobEvent]:
        """The job's events from ``from_seq``: live while it runs, else from the spool.

        A live stream skips progress that is already out of date when its turn comes (a newer
        progress or the end is queued behind it): a short model goes through loading, warm-up
        and measuring in milliseconds, and each message costs a controller that drives
        hundreds of boards CPU time. The spool keeps every event, so seq numbers may jump.
        """
        from_seq = max(0, from_seq)
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
        kept = self.unspooled.get(job_id)
        if not js.events_path.exists() and kept is None:
            raise JobNotFoundError(
                f"no job {job_id!r} on this agent (finished spools are kept "
                f"for {self.spool.retention_s / 86400:g} days)"
            )
        ended = False
        for e in js.read(from_seq):
            ended = e.is_terminal
            yield replace(e, replayed=True)
        if not ended:
            if kept is None:
                kept = JobEvent(
                    job_id,
                    js.last_seq() + 1,
                    JobFailure(
                        FailureKind.AGENT_RESTARTED,
                        "the agent's spool of this job has no end (it stopped while the job "
                        "ran); run it again",
                    ),
                )
            if kept.seq >= from_seq:
                yield replace(kept, replayed=True)

    def cancel(self, job_id: str, holder: str = "", admin: bool = False) -> str:
        """Cancel a running job: only its lease holder may, or an admin who says so."""
        cur = self.current
        if cur is not None and cur.spec.job_id == job_id and not cur.done:
            owner = cur.spec.lease_holder
            if owner and holder != owner and not admin:
                raise NotHolderError(
                    f"job {job_id} belongs to {owner}; only its holder may cancel it "
                    "(or an admin: rigbench's cancel with admin set)"
                )
            cur.cancelled = True
            if cur.process is not None and cur.process.returncode is None:
                cur.process.kill()
            return "cancelling"
        if self.spool.exists(job_id):
            return "finished"
        raise JobNotFoundError(f"no job {job_id!r} on this agent")

    async def _execute(self, job: RunningJob) -> None:
        spec = job.spec
        pins = spec.artifact_digests
        for d in pins:
            self.cache.pin(d)
        recorder = None
        body: JobResult | JobFailure
        try:
            if self.telemetry is not None and spec.telemetry.enabled:
                recorder = self.telemetry.start(
                    spec.telemetry.rate_hz, lambda b: self._emit_telemetry(job, b)
                )
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
            if job.disk_full is not None and isinstance(body, JobResult):
                raise job.disk_full  # telemetry went missing: not a complete result
        except DiskFullError as e:
            body = JobFailure(FailureKind.DISK_FULL, trim_message(f"{e}; nothing was kept"))
        except Exception as e:  # the job must end with an event whatever happens
            log.exception("job %s failed inside the agent", spec.job_id)
            body = JobFailure(FailureKind.INTERNAL, internal_message(f"{type(e).__name__}: {e}"))
        finally:
            if recorder is not None:
                with contextlib.suppress(Exception):
                    recorder.stop_and_summarize(None, None)
            for d in pins:
                self.cache.unpin(d)
        self._end(job, body)
        self.lease.renew(spec.lease_holder, spec.lease_ttl_s)
        with contextlib.suppress(OSError):
            self.spool.prune(keep={spec.job_id})

    def _end(self, job: RunningJob, body: JobResult | JobFailure) -> None:
        """Give the job its one terminal event; never raises, never leaves the job open.

        A large result is spooled and sent as parts. When the disk cannot take the result,
        the job fails as the farm's fault (parts already spooled are dropped by whoever reads
        them, as no end follows); when it cannot take even that, the failure lives in memory
        so that followers and AttachJob still see the job end.
        """
        failure: JobFailure
        try:
            parts = result_parts(body) if isinstance(body, JobResult) else None
            if parts is None:
                job.emit(body)
            else:
                for part in parts:
                    job.emit(part)
                job.emit(PartsEnd())
            return
        except DiskFullError as e:
            failure = JobFailure(
                FailureKind.DISK_FULL, trim_message(f"{e}; the job's result was not kept")
            )
        except Exception as e:
            log.exception("job %s: its end could not be spooled", job.spec.job_id)
            failure = JobFailure(FailureKind.INTERNAL, internal_message(f"{type(e).__name__}: {e}"))
        try:
            job.emit(failure)
        except Exception:
            log.warning("job %s: the disk cannot take its end; kept in memory", job.spec.job_id)
            event = job.end_unspooled(failure)
            self.unspooled[job.spec.job_id] = event
            while len(self.unspooled) > _KEEP_UNSPOOLED:
                self.unspooled.pop(next(iter(self.unspooled)))

    def _emit_telemetry(self, job: RunningJob, body: EventBody) -> None:
        """Telemetry arrives on the event loop from the sampler: a full disk must end the job
        (its worker is stopped), not vanish into the loop's exception log.
        """
        if job.done or job.disk_full is not None:
            return
        try:
            job.emit(body)
        except DiskFullError as e:
            job.disk_full = e
            if job.process is not None and job.process.returncode is None:
                job.process.kill()

    async def shutdown(self) -> None:
        """The agent is stopping: end the running job as the farm's (it can run again)."""
        cur = self.current
        if cur is None or cur.done:
            return
        cur.stopping = True
        if cur.process is not None and cur.process.returncode is None:
            cur.process.kill()
        if cur.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(cur.task), timeout=10)

    async def _run_worker(self, job: RunningJob) -> JobResult | JobFailure:
        spec = job.spec
        work = job.spool.folder / "work"
        paths: dict[str, Any] = {"compile_cache": str(self.compile_cache)}
        if spec.inputs_npz_sha256:
            paths["inputs_npz"] = str(self.cache.get(spec.inputs_npz_sha256))
        if spec.reference_inputs_sha256:
            paths["reference_inputs"] = str(self.cache.get(spec.reference_inputs_sha256))
        try:
            work.mkdir(exist_ok=True)
            paths["artifact"] = str(place_artifact(self.cache, spec, work))
            (work / "spec.json").write_text(json.dumps(spec.to_json_dict()))
            (work / "paths.json").write_text(json.dumps(paths))
        except OSError as e:
            if is_disk_full(e):
                raise DiskFullError(
                    f"the agent's disk is full: cannot prepare the job ({e})"
                ) from e
            raise
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
        said: dict[str, Any] = {}
        try:
            async for line in proc.stdout:
                try:
                    p = json.loads(line)
                except ValueError:
                    continue  # a runtime printed to stdout; not ours
                if not isinstance(p, dict):
                    continue
                if "failure" in p or "done" in p:
                    said = p
                    continue
                try:
                    progress = Progress(p["phase"], int(p["iterations"]), int(p["elapsed_ns"]))
                except (KeyError, TypeError, ValueError):
                    continue
                if progress.phase not in _NOT_FORWARDED:
                    job.emit(progress)
        except DiskFullError:
            proc.kill()
            await proc.wait()
            raise
        rc = await proc.wait()
        stderr = (await stderr_task).decode(errors="replace")
        if job.disk_full is not None:
            raise job.disk_full
        if job.stopping:
            return JobFailure(
                FailureKind.AGENT_RESTARTED, "the agent was stopped while this job ran"
            )
        if job.cancelled:
            return JobFailure(FailureKind.CANCELLED, "the job was cancelled")
        if "failure" in said:
            f = said["failure"]
            return JobFailure(FailureKind.parse(f.get("kind")), str(f.get("message", "")))
        if said.get("done") and rc == 0:
            try:
                return _result_from_files(work)
            except OSError as e:
                if is_disk_full(e):
                    raise DiskFullError(f"the agent's disk is full: {e}") from e
                raise
        how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
        tail = stderr.strip()[-_STDERR_TAIL:]
        crashed = rc < 0 and -rc in {int(s) for s in _CRASH_SIGNALS}
        return JobFailure(
            FailureKind.RUNTIME_CRASHED if crashed else FailureKind.WORKER_CRASHED,
            trim_message(
                f"the worker process died ({how}) while running the model"
                + (f": {tail}" if tail else "")
            ),
        )


def place_artifact(cache: ArtifactCache, spec: JobSpec, work: Path) -> Path:
    """The artifact's path; with companions, a folder holding it and them under their names.

    OpenVINO finds an IR's weights as the .bin beside the .xml of the same name, so a
    multi-file model is laid out as its runtime expects: links to the cached files, by name.
    """
    primary = cache.get(spec.artifact_sha256)
    if not spec.companions:
        return primary
    spec.check_companions()
    folder = work / "model"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"model{MODEL_SUFFIXES.get(spec.model_format, '')}"
    parts = [(target, primary)]
    parts += [(folder / c.name, cache.get(c.sha256)) for c in spec.companions]
    for link, src in parts:
        if not link.exists():
            try:
                os.link(src, link)
            except OSError:
                shutil.copyfile(src, link)
    return target


async def _empty() -> bytes:
    return b""


def _result_from_files(work: Path) -> JobResult:
    """The worker's result: its wire message, as it will cross gRPC (``agent/worker.py``)."""
    return result_from_bytes((work / RESULT_FILE).read_bytes())


__all__ = ["JobRunner", "RunningJob", "TelemetryBatch", "TelemetryGapInfo", "TelemetryPoint"]
