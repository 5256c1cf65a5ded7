"""Turn a plan's model entries into artifacts: sources, compiled variants, reference data.

Everything here runs on the controller's CPU before any device is contacted: the variants are
compiled (or found in the compile cache), reference inputs are made once per model, and the
fp32 source's outputs for them are the yardstick every device's outputs are compared against.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.agent.jobs import ArtifactFile, RuntimeConfig
from rigbench.agent.npzfile import array_headers
from rigbench.controller.accuracy.metrics import OutputKind, Tolerances
from rigbench.controller.accuracy.task import TaskScore
from rigbench.controller.plan import ModelEntry
from rigbench.controller.store.db import ArtifactRecord, Store
from rigbench.digest import sha256_file
from rigbench.errors import (
    AccuracyError,
    DatasetError,
    ModelLoadError,
    PlanError,
    RigbenchError,
    VariantError,
)

log = logging.getLogger("rigbench.controller")

Sample = dict[str, np.ndarray]


@dataclass
class ModelAccuracy:
    """What the accuracy check of one model needs, made once before any device is contacted.

    ``references`` holds the source's outputs per kernel family (``accuracy.kernel_family``);
    a family without them has its reason in ``unknown``. ``wanted`` is False only when the plan
    turned the check off and set no tolerance: then no figure is expected and none is missing.
    """

    wanted: bool = False
    references: dict[str, list[Sample]] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, OutputKind] = field(default_factory=dict)
    tolerances: Tolerances = field(default_factory=Tolerances)
    labels: list[Any] | None = None
    metric: str | None = None
    reference_task: dict[str, TaskScore] = field(default_factory=dict)

    def reference(self, family: str) -> tuple[list[Sample] | None, str | None]:
        """The reference outputs for ``family``, or None and why there are none."""
        if family in self.references:
            return self.references[family], None
        return None, self.unknown.get(family, "no reference outputs were made")

    @property
    def class_output(self) -> str | None:
        """The output holding class scores, when exactly one does."""
        names = [n for n, k in self.kinds.items() if k.is_class_scores]
        return names[0] if len(names) == 1 else None


@dataclass(frozen=True)
class PreparedVariant:
    name: str
    path: Path
    format: str
    sha256: str
    cache_hit: bool = False
    warnings: tuple[str, ...] = ()
    companions: tuple[tuple[str, Path, str], ...] = ()  # (name on the device, path, sha256)

    def artifact_files(self) -> tuple[ArtifactFile, ...]:
        return tuple(ArtifactFile(name, digest) for name, _, digest in self.companions)


@dataclass
class PreparedModel:
    name: str
    source: Path
    source_format: str
    source_sha256: str
    variants: list[PreparedVariant]
    inputs_npz: tuple[str, Path] | None = None  # (digest, path)
    reference_inputs: tuple[str, Path] | None = None
    accuracy: ModelAccuracy = field(default_factory=ModelAccuracy)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (variant, why)
    same_as: list[tuple[str, str]] = field(default_factory=list)  # (variant, "same as PARENT")
    notes: list[str] = field(default_factory=list)

    def files(self) -> dict[str, Path]:
        """Every artifact a device may need for this model, by digest."""
        out = {v.sha256: v.path for v in self.variants}
        out.update({d: p for v in self.variants for _, p, d in v.companions})
        for extra in (self.inputs_npz, self.reference_inputs):
            if extra:
                out[extra[0]] = extra[1]
        return out


def detect_format(path: Path) -> str:
    """'onnx' or 'tflite' by content (TFLite flatbuffers carry the identifier TFL3)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise PlanError(f"cannot read model {path}: {e.strerror or e}") from e
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "tflite"
    if head.lstrip().startswith((b"<?xml", b"<net")):
        raise PlanError(
            f"{path} looks like OpenVINO IR (XML); give the ONNX model it came from and the "
            "openvino-ir variant instead"
        )
    if path.suffix.lower() == ".tflite":
        return "tflite"
    return "onnx"


def _missing(path: Path) -> bool:
    """Nothing at ``path``; one that cannot be read is not missing (its reader says why)."""
    try:
        return not path.exists()
    except OSError:
        return False


def save_npz(arrays: Mapping[str, np.ndarray], path: Path) -> tuple[str, Path]:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    data = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return sha256_file(path), path


def _flatten(samples: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {f"{i}:{name}": arr for i, s in enumerate(samples) for name, arr in s.items()}


def default_variants(entry: ModelEntry, has_tflite: bool, source_format: str) -> list[str]:
    from rigbench.controller.variants.identity import AS_GIVEN

    if has_tflite and source_format != "tflite":
        return [AS_GIVEN[source_format], AS_GIVEN["tflite"]]
    return [AS_GIVEN[source_format]]


def prepare_model(
    entry: ModelEntry, work: Path, store: Store, runtimes: Sequence[RuntimeConfig] = ()
) -> PreparedModel:
    """Resolve the source, compile every variant, and make reference inputs and outputs.

    References are computed for the kernel family of every runtime in ``runtimes`` (default:
    the source's own runtime with its default kernels).
    """
    from rigbench.controller.variants import VariantSpec, compile_variant

    tflite: Path | None = entry.tflite
    if entry.generate is not None:
        from rigbench.controller.modelgen import generate_cnn

        g = entry.generate
        gen = generate_cnn(
            work / "models",
            size=g.size,
            seed=g.seed,
            slowdown=g.slowdown,
            dynamic_batch=g.dynamic_batch,
        )
        source = gen.onnx_path
        tflite = tflite or gen.tflite_path
    else:
        assert entry.path is not None
        source = entry.path
        if _missing(source):
            raise PlanError(f"model {entry.name!r}: file {source} does not exist")
    source_format = detect_format(source)
    source_sha = sha256_file(source)
    store.record_artifact(
        ArtifactRecord(
            sha256=source_sha,
            format=source_format,
            size_bytes=source.stat().st_size,
            model=entry.name,
            variant="source",
            transform="source",
            path=str(source),
        )
    )

    shapes = _input_shapes(entry)
    cache_dir = work / "compiled"
    variants: list[PreparedVariant] = []
    failures: list[tuple[str, str]] = []
    same_as: list[tuple[str, str]] = []
    names = entry.variants or default_variants(entry, tflite is not None, source_format)
    check_variant_names(entry, names, source_format, tflite is not None)
    for item in names:
        name, params = (item, {}) if isinstance(item, str) else _variant_item(item, entry.name)
        if variant_source_format(name) == "tflite" and source_format == "onnx":
            if tflite is None:
                raise VariantError(
                    f"model {entry.name!r}: variant {name} needs a TFLite form of the model. "
                    "Converting ONNX to TFLite needs TensorFlow, which rigbench does not use: "
                    "convert it yourself and give its path as `tflite:` in the plan"
                )
            base = tflite
        else:
            base = source
        try:
            cv = compile_variant(
                base, VariantSpec(name, params), cache_dir, input_shapes=shapes or None
            )
        except (VariantError, ModelLoadError) as e:
            # One variant that cannot be made must not stop the others from being measured.
            failures.append((name, str(e)))
            log.warning("model %s, variant %s: %s", entry.name, name, e)
            continue
        for w in cv.warnings:
            log.warning("model %s, variant %s: %s", entry.name, name, w)
        parent = _parent(name, names, source_format)
        if cv.same_as_source and parent is not None:
            # Same graph and weights as a variant measured anyway: one choice, not two.
            what = "quantizer" if "int" in name else "transform"
            same_as.append((name, f"same as {parent} (the {what} changed nothing)"))
        else:
            variants.append(
                PreparedVariant(
                    name,
                    cv.path,
                    cv.format,
                    cv.sha256,
                    cv.cache_hit,
                    tuple(cv.warnings),
                    cv.companions,
                )
            )
        store.record_artifact(
            ArtifactRecord(
                sha256=cv.sha256,
                format=cv.format,
                size_bytes=cv.size_bytes,
                model=entry.name,
                variant=name,
                source_sha256=cv.source_sha256,
                transform=cv.transform,
                params=dict(cv.params),
                tool_versions=dict(cv.tool_versions),
                compile_ms=cv.compile_ms,
                path=str(cv.path),
            )
        )
        for part, path, digest in cv.companions:
            # A companion's lineage: which artifact it belongs to, and under which name.
            store.record_artifact(
                ArtifactRecord(
                    sha256=digest,
                    format=f"{cv.format} companion",
                    size_bytes=path.stat().st_size,
                    model=entry.name,
                    variant=name,
                    source_sha256=cv.sha256,
                    transform="companion",
                    params={"name": part},
                    path=str(path),
                )
            )

    pm = PreparedModel(
        entry.name, source, source_format, source_sha, variants, failures=failures, same_as=same_as
    )
    if not variants:
        return pm  # nothing to measure; the failures say why
    if entry.inputs_npz is not None:
        if _missing(entry.inputs_npz):
            raise PlanError(f"model {entry.name!r}: inputs_npz {entry.inputs_npz} does not exist")
        array_headers(entry.inputs_npz, f"model {entry.name!r}: inputs_npz {entry.inputs_npz}")
        pm.inputs_npz = (sha256_file(entry.inputs_npz), entry.inputs_npz)
    _prepare_accuracy(entry, pm, work, runtimes)
    for extra in (pm.inputs_npz, pm.reference_inputs):
        if extra:
            store.record_artifact(
                ArtifactRecord(
                    sha256=extra[0],
                    format="npz",
                    size_bytes=extra[1].stat().st_size,
                    model=entry.name,
                    path=str(extra[1]),
                )
            )
    return pm


def variant_source_format(name: str) -> str:
    """The source format variant ``name`` is compiled from ('any' for external files)."""
    from rigbench.controller.variants import source_format_of

    return source_format_of(name)


def _parent(name: str, names: Sequence[str | dict[str, object]], source_format: str) -> str | None:
    """The plan's variant that is this one's unchanged base, when the plan measures it."""
    from rigbench.controller.variants.identity import AS_GIVEN

    listed = {n if isinstance(n, str) else str(next(iter(n))) for n in names}
    fmt = variant_source_format(name)
    base = AS_GIVEN.get(fmt if fmt in AS_GIVEN else source_format)
    return base if base in listed and base != name else None


def _input_shapes(entry: ModelEntry) -> dict[str, list[int]]:
    return {n: s.shape for n, s in entry.inputs.items() if s.shape is not None}


def _reference_inputs(entry: ModelEntry, source: Path) -> tuple[list[Sample], list[Any] | None]:
    """The samples accuracy runs on: the dataset, the user's .npz, or seeded generated ones."""
    from rigbench.controller import accuracy
    from rigbench.controller.accuracy import dataset as ds
    from rigbench.controller.variants.signature import read_signature

    shapes = _input_shapes(entry)
    values = {n: s.value for n, s in entry.inputs.items() if s.value is not None}
    ranges = {n: s.range for n, s in entry.inputs.items() if s.range is not None}
    acc = entry.accuracy
    if entry.dataset is not None:
        d = entry.dataset
        pre = d.preprocess
        spec = ds.DatasetSpec(
            path=d.path,
            input=d.input,
            preprocess=ds.Preprocessing(
                resize=pre.resize,
                layout=pre.layout,
                color=pre.color,
                scale=pre.scale,
                mean=tuple(pre.mean),
                std=tuple(pre.std),
                dtype=pre.dtype,
            ),
            labels=d.labels,
            limit=d.limit,
        )
        loaded = ds.load_dataset(spec, read_signature(source), shapes, values, ranges, acc.seed)
        return loaded.samples, loaded.labels
    samples = accuracy.make_reference_inputs(
        source,
        n=acc.samples,
        seed=acc.seed,
        shapes=shapes,
        values=values,
        npz=acc.npz,
        ranges=ranges,
    )
    return samples, None


def _prepare_accuracy(
    entry: ModelEntry, pm: PreparedModel, work: Path, runtimes: Sequence[RuntimeConfig]
) -> None:
    """Reference inputs, the source's outputs per kernel family, output kinds and tolerances.

    A dataset that cannot be read stops the run (the user pointed at it: a one-line error);
    anything else that keeps accuracy from being computed leaves it unknown, with the reason,
    and the jobs still run.
    """
    from rigbench.controller import accuracy
    from rigbench.controller.accuracy import task

    acc = entry.accuracy
    tol = acc.tolerance.bounds() if acc.tolerance else {}
    per_output = {n: o.tolerance.bounds() for n, o in acc.outputs.items() if o.tolerance}
    ma = pm.accuracy
    ma.tolerances = Tolerances(tol, per_output)
    ma.wanted = acc.samples > 0 or acc.npz is not None or entry.dataset is not None
    ma.wanted = ma.wanted or bool(ma.tolerances)
    if not ma.wanted:
        return
    families = sorted(
        {accuracy.kernel_family(pm.source_format, r) for r in runtimes}
        or {accuracy.kernel_family(pm.source_format, RuntimeConfig())}
    )
    if acc.samples == 0 and acc.npz is None and entry.dataset is None:
        why = "the plan sets a tolerance but turns the check off (accuracy.samples: 0)"
        ma.unknown = dict.fromkeys(families, why)
        return
    try:
        ref_in, labels = _reference_inputs(entry, pm.source)
    except DatasetError:
        raise
    except RigbenchError as e:
        ma.unknown = dict.fromkeys(families, f"no reference inputs: {e}")
        pm.notes.append(f"accuracy unknown: no reference inputs: {e}")
        return
    if entry.dataset is not None and entry.dataset.metric:
        task.load_metric(entry.dataset.metric)  # a metric that cannot load fails now, not later
        ma.metric = entry.dataset.metric
    ma.labels = labels
    pm.reference_inputs = save_npz(
        _flatten(ref_in), work / "reference" / f"{entry.name}-{pm.source_sha256[:12]}.npz"
    )
    for family in families:
        try:
            ma.references[family] = accuracy.reference_outputs(pm.source, ref_in, family)
        except RigbenchError as e:
            ma.unknown[family] = f"the source's reference outputs ({family}) failed: {e}"
            pm.notes.append(f"accuracy unknown on {family}: {e}")
    if not ma.references:
        return
    first = next(iter(ma.references.values()))
    shapes = {n: tuple(int(d) for d in np.shape(a)) for n, a in first[0].items()}
    declared = {n: o.kind for n, o in acc.outputs.items() if o.kind}
    try:
        ma.kinds, kind_notes = accuracy.resolve_kinds(shapes, entry.task, declared)
        bad = sorted(set(per_output) - set(shapes))
        if bad:
            raise AccuracyError(
                f"accuracy.outputs names {', '.join(map(repr, bad))}, which the model does "
                f"not output; outputs: {', '.join(shapes)}"
            )
    except AccuracyError as e:
        raise PlanError(f"model {entry.name!r}: {e}") from e
    pm.notes += kind_notes
    if labels is not None or ma.metric:
        for family, outs in ma.references.items():
            ma.reference_task[family] = task.score(
                outs, labels or [None] * len(outs), ma.class_output, ma.metric
            )


def check_variant_names(
    entry: ModelEntry,
    names: Sequence[str | dict[str, object]],
    source_format: str,
    has_tflite: bool,
) -> None:
    """Fail fast, before anything is measured, on a variant name that does not exist."""
    from rigbench.controller.variants import available_variants

    known = set(available_variants(source_format))
    if has_tflite or source_format == "tflite":
        known |= set(available_variants("tflite"))
    for item in names:
        name = item if isinstance(item, str) else _variant_item(item, entry.name)[0]
        if name not in known:
            raise PlanError(
                f"model {entry.name!r}: unknown variant {name!r}; variants for this model: "
                f"{', '.join(sorted(known))}"
            )


def _variant_item(item: Mapping[str, Any], model: str) -> tuple[str, dict[str, Any]]:
    if len(item) != 1:
        raise PlanError(
            f"model {model!r}: a variant with parameters is written "
            "`- int8-static: {per_channel: true}`"
        )
    ((name, params),) = item.items()
    if params is not None and not isinstance(params, dict):
        raise PlanError(f"model {model!r}: parameters of variant {name} must be a mapping")
    return str(name), dict(params or {})


def load_reference_outputs(npz: bytes) -> list[dict[str, np.ndarray]]:
    """Split a device's outputs .npz (keys ``<sample>:<output>``) into one dict per sample."""
    samples: dict[int, dict[str, np.ndarray]] = {}
    with np.load(io.BytesIO(npz), allow_pickle=False) as z:
        for key in z.files:
            idx, _, name = key.partition(":")
            samples.setdefault(int(idx), {})[name] = z[key]
    return [samples[i] for i in sorted(samples)]
