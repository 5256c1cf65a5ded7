"""What A and B are: model files, variants of a plan, or artifacts of stored runs.

A *subject* is one thing ``rigbench compare`` measures: an artifact, the runtime entry that
runs it and the inputs it gets. The command line names one in any of three ways:

* ``PATH`` or ``PATH@VARIANT``: a model file, as given (fp32 / tflite-fp32) or compiled into a
  variant through the compile cache (``model.onnx@int8-dynamic``), on the runtime its format
  needs (``--runtime``, ``--provider``, ``--threads``, ``--input`` as for ``rigbench bench``);
* ``MODEL/VARIANT/RUNTIME`` with ``--plan PLAN``: a model entry, variant and runtime entry of
  a plan (trailing parts may be left out where the plan has only one);
* ``run:RUN_ID[/KEY]``: the artifact one job of a stored run measured, with that job's runtime
  entry and inputs. KEY is any consecutive part of the job key
  ``device/model/variant/runtime/scenario`` (e.g. ``cnn/fp32``); it may be left out when the run
  has one job, and for B when A named one. The artifact comes back from the compile cache; if
  it is gone from there, from the agent's own cache.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rigbench.agent.jobs import InputOverride
from rigbench.controller.compare.schedule import Side
from rigbench.controller.plan import Accuracy, InputSpec, ModelEntry, Plan, RuntimeEntry
from rigbench.controller.prepare import (
    PreparedModel,
    PreparedVariant,
    detect_format,
    prepare_model,
)
from rigbench.controller.store.db import Store
from rigbench.errors import PlanError, StoreError

RUN_PREFIX = "run:"


@dataclass(frozen=True)
class RuntimeOptions:
    """How a model file subject runs (the ``rigbench bench`` options)."""

    runtime: str | None = None
    providers: tuple[str, ...] = ()
    threads: int = 0
    allow_cpu_fallback: bool = False
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    inputs_npz: Path | None = None


@dataclass
class Subject:
    """One side of a comparison, ready to prepare."""

    side: Side
    label: str  # as the user named it
    runtime: RuntimeEntry
    entry: ModelEntry | None = None  # prepared through the compile cache ...
    stored: PreparedModel | None = None  # ... or an artifact a stored run measured
    overrides: tuple[InputOverride, ...] = ()
    device: str | None = None  # the device a stored job ran on
    job_key: str | None = None  # the stored job's key

    @property
    def model_name(self) -> str:
        if self.entry is not None:
            return self.entry.name
        assert self.stored is not None
        return self.stored.name

    @property
    def variant(self) -> str:
        if self.stored is not None:
            return self.stored.variants[0].name
        assert self.entry is not None
        v = self.entry.variants[0]
        return v if isinstance(v, str) else next(iter(v))

    def prepare(self, work: Path, store: Store) -> PreparedModel:
        if self.stored is not None:
            return self.stored
        assert self.entry is not None
        pm = prepare_model(self.entry, work, store)
        if pm.failures:
            variant, why = pm.failures[0]
            raise PlanError(f"{self.side} ({self.label}): variant {variant} not compiled: {why}")
        return pm


def _overrides(inputs: dict[str, InputSpec]) -> tuple[InputOverride, ...]:
    return tuple(
        InputOverride(n, tuple(s.shape) if s.shape else None, s.dtype, s.value, s.range or None)
        for n, s in inputs.items()
    )


def _file_subject(side: Side, spec: str, opts: RuntimeOptions) -> Subject:
    path, variant = Path(spec), ""
    if not path.exists() and "@" in spec:
        head, _, variant = spec.rpartition("@")
        path = Path(head)
    if not path.exists():
        raise PlanError(
            f"{side}: {spec!r} is not a model file (or PATH@VARIANT, run:RUN_ID[/KEY], or "
            "MODEL/VARIANT/RUNTIME with --plan)"
        )
    fmt = detect_format(path)
    variant = variant or ("tflite-fp32" if fmt == "tflite" else "fp32")
    needed = "litert" if variant.startswith("tflite") else "onnxruntime"
    if opts.runtime and opts.runtime != needed:
        raise PlanError(f"{side}: {spec!r} is a {fmt} model; runtime {opts.runtime} cannot run it")
    entry = ModelEntry(
        name=f"{side}:{path.stem}",
        path=path.resolve(),
        inputs=opts.inputs,
        inputs_npz=opts.inputs_npz.resolve() if opts.inputs_npz else None,
        variants=[variant],
        accuracy=Accuracy(samples=0),
    )
    rt = RuntimeEntry.model_validate(
        {
            "name": needed,
            "runtime": needed,
            "providers": list(opts.providers),
            "threads": opts.threads,
            "allow_cpu_fallback": opts.allow_cpu_fallback,
        }
    )
    return Subject(side, spec, rt, entry=entry, overrides=_overrides(opts.inputs))


def _pick(kind: str, wanted: str | None, names: Sequence[str], side: Side) -> str:
    if wanted is not None:
        if wanted not in names:
            raise PlanError(f"{side}: the plan has no {kind} {wanted!r} ({', '.join(names)})")
        return wanted
    if len(names) != 1:
        raise PlanError(f"{side}: the plan has several {kind}s ({', '.join(names)}): name one")
    return names[0]


def _plan_subject(side: Side, spec: str, plan: Plan) -> Subject:
    parts = spec.split("/")
    if len(parts) > 3 or not all(parts):
        raise PlanError(f"{side}: {spec!r}: with --plan, name MODEL/VARIANT/RUNTIME")
    models = {m.name: m for m in plan.models}
    if len(parts) < 3 and parts[0] not in models and len(models) == 1:
        parts.insert(0, next(iter(models)))  # VARIANT[/RUNTIME] of the plan's only model
    model = models[_pick("model", parts[0], list(models), side)]
    variants = [v if isinstance(v, str) else next(iter(v)) for v in model.variants] or ["fp32"]
    variant = _pick("variant", parts[1] if len(parts) > 1 else None, variants, side)
    params = next((v for v in model.variants if isinstance(v, dict) and variant in v), None)
    fmt = "tflite" if variant.startswith("tflite") else "onnx"
    runtimes = {r.name: r for r in plan.runtimes if fmt in r.formats}
    rt = runtimes[
        _pick("runtime entry", parts[2] if len(parts) > 2 else None, list(runtimes), side)
    ]
    entry = model.model_copy(
        update={
            "name": f"{side}:{model.name}",
            "variants": [params or variant],
            "accuracy": Accuracy(samples=0),
        }
    )
    return Subject(side, spec, rt, entry=entry, overrides=_overrides(model.inputs))


def _key_matches(job_key: str, wanted: str) -> bool:
    have, want = job_key.split("/"), wanted.split("/")
    return any(have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1))


_JOB_SQL = (
    "SELECT j.job_id, j.job_key, j.device, j.model, j.variant, j.artifact_sha256, "
    "j.runtime_name, j.spec_json, a.path, a.format FROM jobs j JOIN results r USING (job_id) "
    "LEFT JOIN artifacts a ON a.sha256 = j.artifact_sha256 "
)


def _stored_subject(side: Side, spec: str, store: Store, default_key: str | None) -> Subject:
    run_id, _, key = spec[len(RUN_PREFIX) :].partition("/")
    rows = store.query(_JOB_SQL + "WHERE j.run_id = ? ORDER BY j.job_key", [run_id])
    if not rows:
        known = store.query("SELECT run_id FROM runs WHERE run_id = ?", [run_id])
        why = "has no stored result" if known else "is not in the store"
        raise StoreError(f"{side}: run {run_id!r} {why}")
    wanted = key or (None if len(rows) == 1 else default_key)
    matching = [r for r in rows if wanted is None or _key_matches(r["job_key"], wanted)]
    if len(matching) != 1:
        keys = ", ".join(r["job_key"] for r in (matching or rows))
        what = f"no job matches {wanted!r}" if not matching else "several jobs match"
        raise PlanError(f"{side}: run {run_id}: {what}; name one as run:{run_id}/KEY ({keys})")
    return _subject_from_row(side, spec, matching[0], store)


def subject_from_job(store: Store, side: Side, job_id: str, label: str) -> Subject:
    """The artifact, runtime entry and inputs one stored job measured, as a subject."""
    rows = store.query(_JOB_SQL + "WHERE j.job_id = ?", [job_id])
    if not rows:
        raise StoreError(f"{side}: job {job_id!r} has no stored result")
    return _subject_from_row(side, label, rows[0], store)


def _subject_from_row(side: Side, label: str, row: dict[str, Any], store: Store) -> Subject:
    job: dict[str, Any] = json.loads(row["spec_json"])
    rt_cfg = job.get("runtime", {})
    rt = RuntimeEntry.model_validate(
        {
            "name": row["runtime_name"],
            "runtime": rt_cfg.get("runtime", "onnxruntime"),
            "providers": list(rt_cfg.get("providers", [])),
            "threads": rt_cfg.get("intra_op_threads", 0),
            "inter_op_threads": rt_cfg.get("inter_op_threads", 0),
            "allow_cpu_fallback": rt_cfg.get("allow_cpu_fallback", False),
            "graph_optimization": rt_cfg.get("graph_optimization", ""),
            "options": rt_cfg.get("options", {}),
        }
    )
    path = Path(row["path"]) if row["path"] else Path(f"<{row['artifact_sha256'][:12]}>")
    fmt = row["format"] or ("tflite" if rt.runtime == "litert" else "onnx")
    npz = job.get("inputs_npz_sha256") or ""
    inputs_npz = None
    if npz:
        found = store.query("SELECT path FROM artifacts WHERE sha256 = ?", [npz])
        inputs_npz = (
            npz,
            Path(found[0]["path"] if found and found[0]["path"] else f"<{npz[:12]}>"),
        )
    pm = PreparedModel(
        name=f"{side}:{row['model']}",
        source=path,
        source_format=fmt,
        source_sha256=row["artifact_sha256"],
        variants=[PreparedVariant(row["variant"], path, fmt, row["artifact_sha256"])],
        inputs_npz=inputs_npz,
    )
    overrides = tuple(
        InputOverride(
            i["name"],
            tuple(i["shape"]) if i.get("shape") is not None else None,
            i.get("dtype"),
            i.get("value"),
            tuple(i["range"]) if i.get("range") is not None else None,  # type: ignore[arg-type]
        )
        for i in job.get("inputs", [])
    )
    return Subject(
        side, label, rt, stored=pm, overrides=overrides, device=row["device"],
        job_key=row["job_key"],
    )  # fmt: skip


def resolve_subjects(
    a: str,
    b: str,
    store: Store,
    opts: RuntimeOptions | None = None,
    plan: Plan | None = None,
) -> tuple[Subject, Subject]:
    """Both sides of a comparison from their command-line names."""
    opts = opts or RuntimeOptions()
    out: list[Subject] = []
    default_key: str | None = None
    for side, spec in (("A", a), ("B", b)):
        if spec.startswith(RUN_PREFIX):
            s = _stored_subject(side, spec, store, default_key)  # type: ignore[arg-type]
            if s.job_key:
                default_key = "/".join(s.job_key.split("/")[1:])  # B: A's job, any device
        elif plan is not None:
            s = _plan_subject(side, spec, plan)  # type: ignore[arg-type]
        else:
            s = _file_subject(side, spec, opts)  # type: ignore[arg-type]
        out.append(s)
    return out[0], out[1]
