"""The process that loads and measures one job, started fresh for every job.

A fresh process gives an honest peak RSS for the job, keeps a runtime that crashes on a bad
model from taking the agent down, and lets a job be cancelled by killing it. It talks to the
agent through its job folder and its stdout: ``spec.json`` in; progress as JSON lines on
stdout; ``result.pb`` out (the result as its wire message: the one declaration of a result's
fields is the ``JobResult`` dataclass and its mapping in ``agent/convert.py``, so a new field
needs no hand-off code of its own), and a last stdout line
that says ``done`` or names the failure (stdout, not a file, so that a full disk can still be
reported). Every failure is typed by where it happened: the inputs (the user's), the runtime
running the model (the model's, in the runtime's own words), the disk (the farm's), or
anything else, which is rigbench's own bug and says so.

Usage: ``python -m rigbench.agent.worker JOB_DIR``
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import resource
import sys
import time
import traceback
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.agent.hostload import host_load, read_counters
from rigbench.agent.inputs import build_inputs
from rigbench.agent.jobs import JobResult, JobSpec, TensorInfo
from rigbench.agent.load.scenario import batch_one, run_load
from rigbench.agent.measure import run_measurement, soak_windows
from rigbench.agent.npzfile import read_npz
from rigbench.agent.profiling import NOT_AVAILABLE, OpProfile, profile_iterations
from rigbench.agent.runtimes import adapter_class
from rigbench.agent.runtimes.base import LoadedModel, RuntimeAdapter
from rigbench.errors import (
    DiskFullError,
    InputSpecError,
    ModelLoadError,
    ModelRunError,
    RigbenchError,
    is_disk_full,
)
from rigbench.failures import FailureKind, internal_message, trim_message

# Raised while reading the user's .npz or building inputs from the user's shapes and dtypes:
# a pickled or corrupt .npz, a dtype numpy does not know, a shape too large to allocate.
_INPUT_ERRORS = (ValueError, TypeError, MemoryError, EOFError, zipfile.BadZipFile, OverflowError)
RESULT_FILE = "result.pb"  # the JobResult wire message the agent reads back


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _progress(phase: str, n: int, elapsed_ns: int) -> None:
    _emit({"phase": phase, "iterations": n, "elapsed_ns": elapsed_ns})


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_bytes() -> int:
    """Peak RSS of this process image.

    VmHWM belongs to the memory map, which exec replaces; ``ru_maxrss`` on Linux survives
    exec and would report the agent's own peak from before the fork.
    """
    kb = _proc_status_kb("VmHWM")
    return (
        kb * 1024 if kb is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )


def current_rss_bytes() -> int:
    kb = _proc_status_kb("VmRSS")
    return kb * 1024 if kb is not None else peak_rss_bytes()


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    return read_npz(path, "the job's .npz")


def reference_samples(arrays: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Split a reference .npz whose keys are ``<sample>:<input>`` into one dict per sample."""
    samples: dict[int, dict[str, np.ndarray]] = {}
    for key, arr in arrays.items():
        idx, _, name = key.partition(":")
        samples.setdefault(int(idx), {})[name] = arr
    return [samples[i] for i in sorted(samples)]


def run_job(job_dir: Path) -> JobResult:
    """Load, prepare, measure; the result (its telemetry summary is the agent's to add)."""
    spec = JobSpec.from_json_dict(json.loads((job_dir / "spec.json").read_text()))
    paths = json.loads((job_dir / "paths.json").read_text())
    rss_before = current_rss_bytes()
    adapter = adapter_class(spec.runtime.runtime)()
    if spec.model_format not in adapter.formats:
        raise ModelLoadError(
            f"runtime {spec.runtime.runtime} runs {', '.join(adapter.formats)} models, "
            f"not {spec.model_format}"
        )
    _progress("loading", 0, 0)
    t0 = time.perf_counter_ns()
    model = adapter.load(Path(paths["artifact"]), spec.runtime, Path(paths["compile_cache"]))
    load_ns = time.perf_counter_ns() - t0 - model.info.compile_ns

    try:
        arrays = _load_npz(Path(paths["inputs_npz"])) if paths.get("inputs_npz") else None
        overrides = batch_one(model.inputs, spec.inputs) if spec.load.batch else spec.inputs
        feeds = build_inputs(model.inputs, overrides, arrays, seed=spec.measurement.seed)
        samples = (
            reference_samples(_load_npz(Path(paths["reference_inputs"])))
            if paths.get("reference_inputs")
            else []
        )
    except _INPUT_ERRORS as e:
        raise InputSpecError(_input_problem(e)) from e

    with _running(adapter.name, adapter.run_errors()):
        outputs_npz = b""
        if samples:
            _progress("reference", 0, 0)
            outs: dict[str, np.ndarray] = {}
            for i, sample in enumerate(samples):
                for name, arr in model.run_float(sample).items():
                    outs[f"{i}:{name}"] = arr
            buf = io.BytesIO()
            np.savez(buf, **outs)  # type: ignore[arg-type]
            outputs_npz = buf.getvalue()

    cfg = spec.measurement
    if spec.soak.is_soak:
        cfg = dataclasses.replace(
            cfg,
            min_duration_s=spec.soak.duration_s,
            max_duration_s=spec.soak.duration_s,
            max_iterations=2**62,
            ci_target_rel_width=0.0,
        )
    bind = None
    if spec.measurement.rotate_inputs and not samples:
        raise InputSpecError(
            "rotate_inputs needs prepared inputs: give the model a dataset or accuracy samples"
        )
    if spec.load.is_load:
        if spec.measurement.rotate_inputs:
            raise InputSpecError(
                f"rotate_inputs is for single-stream and soak jobs, not {spec.load.kind} loads"
            )
        return _run_load_job(
            job_dir, spec, adapter, model, paths, feeds, outputs_npz, rss_before, load_ns
        )
    with _running(adapter.name, adapter.run_errors()):
        if spec.measurement.rotate_inputs:
            call, bind = model.prepare_rotation(samples)  # every sample cast before timing
        else:
            call = model.prepare(feeds)
        before = read_counters()
        m = run_measurement(call, cfg, _progress, record_starts=spec.soak.is_soak, bind=bind)
        around = host_load(before, read_counters())
    op_profile = None
    if spec.runtime.profile:
        # After the timed loop, on a separate profiled session: timing is never profiled.
        _progress("profiling", 0, 0)
        p50 = float(np.median(m.latencies_ns)) if m.latencies_ns else 0.0
        profile_feeds = model.cast_float(samples[0]) if bind is not None else feeds
        try:
            op_profile = model.profile(profile_feeds, profile_iterations(p50))
        except Exception as e:  # a profiler failing must not lose the measurement
            op_profile = OpProfile(
                model.info.providers_used[0] if model.info.providers_used else "",
                note=f"{NOT_AVAILABLE}: the profiling pass failed: {type(e).__name__}: {e}"[:500],
            )
    runtime_desc = adapter.describe()
    return JobResult(
        load_ns=load_ns,
        compile_ns=model.info.compile_ns,
        compile_cache_hit=model.info.compile_cache_hit,
        first_inference_ns=m.first_inference_ns,
        warmup_iterations=m.warmup_iterations,
        latencies_ns=m.latencies_ns,
        measure_start_ns=m.start_ns,
        measure_end_ns=m.end_ns,
        peak_rss_bytes=peak_rss_bytes(),
        rss_before_load_bytes=rss_before,
        runtime=adapter.name,
        runtime_version=runtime_desc.version if runtime_desc else "unknown",
        providers_used=model.info.providers_used,
        inputs=[TensorInfo(n, a.dtype.name, tuple(a.shape)) for n, a in feeds.items()],
        outputs=[
            TensorInfo(s.name, s.dtype, tuple(d if isinstance(d, int) else -1 for d in s.shape))
            for s in model.outputs
        ],
        stop_reason=m.stop_reason,
        reference_outputs_npz=outputs_npz,
        warnings=model.info.warnings,
        op_profile=op_profile,
        soak_windows=soak_windows(m.starts_ns, m.latencies_ns, m.start_ns, spec.soak.window_s)
        if spec.soak.is_soak
        else [],
        host_load=around,
    )


def _run_load_job(
    job_dir: Path,
    spec: JobSpec,
    adapter: RuntimeAdapter,
    model: LoadedModel,
    paths: dict[str, Any],
    feeds: dict[str, np.ndarray],
    outputs_npz: bytes,
    rss_before: int,
    load_ns: int,
) -> JobResult:
    """An offline or server job (``agent/load``): executors load their own copies."""
    specs, outputs, info = list(model.inputs), list(model.outputs), model.info
    model.close()  # the executors load their own; this one has given its reference outputs
    del model

    def open_model(threads: int) -> LoadedModel:
        config = dataclasses.replace(spec.runtime, intra_op_threads=threads)
        return adapter.load(Path(paths["artifact"]), config, Path(paths["compile_cache"]))

    with _running(adapter.name, adapter.run_errors()):
        run = run_load(
            spec.load,
            spec.measurement,
            spec.runtime.intra_op_threads,
            open_model,
            specs,
            feeds,
            _progress,
        )
    head = run.headline
    runtime_desc = adapter.describe()
    return JobResult(
        load_ns=load_ns,
        compile_ns=info.compile_ns,
        compile_cache_hit=info.compile_cache_hit,
        first_inference_ns=run.first_inference_ns,
        warmup_iterations=run.warmup_iterations,
        latencies_ns=list(head.latencies_ns),
        measure_start_ns=head.begin_ns,
        measure_end_ns=head.end_ns,
        peak_rss_bytes=peak_rss_bytes(),
        rss_before_load_bytes=rss_before,
        runtime=adapter.name,
        runtime_version=runtime_desc.version if runtime_desc else "unknown",
        providers_used=info.providers_used,
        inputs=[TensorInfo(n, a.dtype.name, tuple(a.shape)) for n, a in feeds.items()],
        outputs=[
            TensorInfo(s.name, s.dtype, tuple(d if isinstance(d, int) else -1 for d in s.shape))
            for s in outputs
        ],
        stop_reason=run.result.search or head.stop_reason,
        reference_outputs_npz=outputs_npz,
        warnings=info.warnings,
        load=run.result,
    )


def _input_problem(e: BaseException) -> str:
    if isinstance(e, MemoryError):
        return "the inputs do not fit in this device's memory (MemoryError while building them)"
    return f"the inputs could not be built: {type(e).__name__}: {trim_message(str(e))}"


@contextlib.contextmanager
def _running(runtime: str, errors: tuple[type[BaseException], ...]) -> Iterator[None]:
    """While the runtime runs the model: its own errors are the model's, in its own words."""
    try:
        yield
    except RigbenchError:
        raise
    except MemoryError as e:
        raise ModelRunError(
            f"{runtime} ran out of memory running the model with these inputs"
        ) from e
    except errors as e:
        if is_disk_full(e):
            raise
        raise ModelRunError(
            f"{runtime} failed running the model: {trim_message(str(e)) or type(e).__name__}"
        ) from e


def failure_of(e: BaseException) -> tuple[FailureKind, str]:
    """The failure kind and message a worker reports for an exception."""
    if is_disk_full(e):
        return FailureKind.DISK_FULL, trim_message(f"the agent's disk is full: {e}")
    if isinstance(e, RigbenchError):
        return e.failure_kind, trim_message(str(e))
    return FailureKind.INTERNAL, internal_message(f"{type(e).__name__}: {e}")


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to kill this worker if the agent dies.

    An orphaned worker would go on loading the CPU while a restarted agent measures the next
    job, quietly skewing it. Best effort: other platforms keep the default.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the agent died before prctl took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job_dir = Path(args[0])
    if len(args) > 1:
        die_with_parent(int(args[1]))
    try:
        result = run_job(job_dir)
        # Imported after the job: protobuf's import must not count in the job's peak RSS.
        from rigbench.agent.convert import result_to_bytes

        _write_atomic(job_dir / RESULT_FILE, result_to_bytes(result))
    except BaseException as e:  # every failure becomes a typed failure the agent can report
        if isinstance(e, KeyboardInterrupt):
            raise
        kind, message = failure_of(e)
        if kind is FailureKind.INTERNAL:
            traceback.print_exc()  # to stderr: the agent keeps its tail for the bug report
        _emit({"failure": {"kind": kind.value, "message": message}})
        return 0
    _emit({"done": True})
    return 0


def _write_atomic(path: Path, data: bytes) -> None:
    # Through Python's own write, not numpy's or protobuf's: a short write from C's fwrite
    # carries no errno, so a full disk would look like a bug; Python's raises ENOSPC.
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if is_disk_full(e):
            raise DiskFullError(f"the agent's disk is full: cannot write {path.name} ({e})") from e
        raise


if __name__ == "__main__":
    sys.exit(main())
