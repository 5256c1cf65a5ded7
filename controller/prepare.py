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

from rigbench.controller.client import sha256_file
from rigbench.controller.plan import ModelEntry
from rigbench.controller.store.db import ArtifactRecord, Store
from rigbench.errors import ModelLoadError, PlanError, RigbenchError, VariantError

log = logging.getLogger("rigbench.controller")

_TOLERANCE_KEYS = {"cosine_min": "cosine_similarity", "top1_min": "top1_agreement"}


@dataclass(frozen=True)
class PreparedVariant:
    name: str
    path: Path
    format: str
    sha256: str
    cache_hit: bool = False
    warnings: tuple[str, ...] = ()


@dataclass
class PreparedModel:
    name: str
    source: Path
    source_format: str
    source_sha256: str
    variants: list[PreparedVariant]
    inputs_npz: tuple[str, Path] | None = None  # (digest, path)
    reference_inputs: tuple[str, Path] | None = None
    reference_outputs: list[dict[str, np.ndarray]] = field(default_factory=list)
    tolerance: dict[str, float] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (variant, why)
    notes: list[str] = field(default_factory=list)

    def files(self) -> dict[str, Path]:
        """Every artifact a device may need for this model, by digest."""
        out = {v.sha256: v.path for v in self.variants}
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
    if path.suffix.lower() == ".tflite":
        return "tflite"
    return "onnx"


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
    if source_format == "tflite":
        return ["tflite-fp32"]
    return ["fp32", "tflite-fp32"] if has_tflite else ["fp32"]


def prepare_model(entry: ModelEntry, work: Path, store: Store) -> PreparedModel:
    """Resolve the source, compile every variant, and make reference inputs and outputs."""
    from rigbench.controller import accuracy
    from rigbench.controller.variants import VariantSpec, compile_variant

    tflite: Path | None = entry.tflite
    if entry.generate is not None:
        from rigbench.controller.modelgen import generate_cnn

        g = entry.generate
        gen = generate_cnn(work / "models", size=g.size, seed=g.seed, slowdown=g.slowdown)
        source = gen.onnx_path
        tflite = tflite or gen.tflite_path
    else:
        assert entry.path is not None
        source = entry.path
        if not source.exists():
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

    shapes = {n: s.shape for n, s in entry.inputs.items() if s.shape is not None}
    values = {n: s.value for n, s in entry.inputs.items() if s.value is not None}
    cache_dir = work / "compiled"
    variants: list[PreparedVariant] = []
    failures: list[tuple[str, str]] = []
    names = entry.variants or default_variants(entry, tflite is not None, source_format)
    check_variant_names(entry, names, source_format, tflite is not None)
    for item in names:
        name, params = (item, {}) if isinstance(item, str) else _variant_item(item, entry.name)
        if name.startswith("tflite") and source_format == "onnx":
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
        variants.append(
            PreparedVariant(name, cv.path, cv.format, cv.sha256, cv.cache_hit, tuple(cv.warnings))
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

    pm = PreparedModel(entry.name, source, source_format, source_sha, variants, failures=failures)
    if not variants:
        return pm  # nothing to measure; the failures say why
    if entry.inputs_npz is not None:
        if not entry.inputs_npz.exists():
            raise PlanError(f"model {entry.name!r}: inputs_npz {entry.inputs_npz} does not exist")
        pm.inputs_npz = (sha256_file(entry.inputs_npz), entry.inputs_npz)
    acc = entry.accuracy
    if acc.samples > 0 or acc.npz is not None:
        try:
            ref_in = accuracy.make_reference_inputs(
                source, n=acc.samples, seed=acc.seed, shapes=shapes, values=values, npz=acc.npz
            )
            pm.reference_outputs = accuracy.reference_outputs(source, ref_in)
        except RigbenchError as e:
            # The jobs may still run (and fail with their own, clearer error); accuracy is n/a.
            pm.notes.append(f"accuracy not measured: {e}")
        else:
            pm.reference_inputs = save_npz(
                _flatten(ref_in), work / "reference" / f"{entry.name}-{source_sha[:12]}.npz"
            )
    if acc.tolerance is not None:
        # The plan says `cosine_min`/`top1_min`; the accuracy check names the figure bounded.
        pm.tolerance = {
            _TOLERANCE_KEYS.get(k, k): v
            for k, v in acc.tolerance.model_dump().items()
            if v is not None
        }
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
