"""Compiled model variants: one source model, many compiled forms, each with its lineage.

``compile_variant(source, VariantSpec(name, params), cache_dir)`` turns an ONNX or TFLite file
into one variant (fp32 as given, onnxruntime-optimized, fp16, int8 dynamic/static, quantized
TFLite ...), stores it in a content-addressed cache with a lineage record, and reuses it when
the same thing is asked again. Transforms live one family per module; the registry below lists
them, so adding a variant is one module plus one ``_register`` line.

Errors: ``VariantError`` for anything about the variant (unknown name, bad parameter, wrong kind
of source, a tool that cannot do it), ``ModelLoadError`` when the source file is unreadable.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.controller.variants import (
    identity,
    onnx_fp16,
    onnx_optimize,
    onnx_quantize,
    openvino_ir,
)
from rigbench.controller.variants import tflite_quantize as tfq
from rigbench.controller.variants.base import (
    ANY,
    CompileJob,
    Transform,
    first_line,
    key_params,
    resolve_params,
)
from rigbench.controller.variants.cache import CompileCache, cache_key
from rigbench.controller.variants.formats import (
    FORMATS,
    ONNX,
    TFLITE,
    check_model,
    detect_format,
    load_onnx,
)
from rigbench.controller.variants.lineage import (
    LINEAGE_FILE,
    Lineage,
    now_utc,
    tool_versions,
)
from rigbench.controller.variants.onnx_common import check_no_external_data
from rigbench.controller.variants.sameness import same_compute
from rigbench.digest import sha256_file
from rigbench.errors import InputSpecError, ModelLoadError, VariantError

__all__ = [
    "CompiledVariant",
    "VariantSpec",
    "available_variants",
    "compile_variant",
    "describe_variants",
    "source_format_of",
]

log = logging.getLogger(__name__)

_REGISTRY: dict[str, Transform] = {}


def _register(t: Transform) -> None:
    if t.name in _REGISTRY:
        raise RuntimeError(f"variant {t.name!r} registered twice")
    _REGISTRY[t.name] = t


_register(identity.FP32)
_register(onnx_optimize.ORT_BASIC)
_register(onnx_optimize.ORT_EXTENDED)
_register(onnx_fp16.FP16)
_register(onnx_quantize.INT8_DYNAMIC)
_register(onnx_quantize.INT8_STATIC)
_register(identity.TFLITE_FP32)
_register(tfq.TFLITE_INT8_DYNAMIC)
_register(tfq.TFLITE_INT8_WEIGHT)
_register(tfq.TFLITE_INT4_WEIGHT)
_register(tfq.TFLITE_INT8_STATIC)
_register(openvino_ir.OPENVINO_IR_VARIANT)
_register(openvino_ir.OPENVINO_INT8)
_register(identity.EXTERNAL)


@dataclass(frozen=True)
class VariantSpec:
    """Which variant to compile, with its parameters, e.g. ``VariantSpec("int8-static", {...})``."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CompiledVariant:
    """One compiled artifact in the cache and where it came from."""

    variant: str
    path: Path
    format: str  # "onnx" | "tflite"
    sha256: str
    source_sha256: str
    transform: str
    params: dict[str, Any]
    tool_versions: dict[str, str]
    size_bytes: int
    compile_ms: float  # of the compile that made the artifact, also on a cache hit
    cache_hit: bool
    warnings: tuple[str, ...]
    # The transform changed nothing: same graph and weights as the source (sameness.py).
    same_as_source: bool = False
    # Files the artifact needs beside it: (name on the device, path here, sha256).
    companions: tuple[tuple[str, Path, str], ...] = ()

    @property
    def lineage_path(self) -> Path:
        """The lineage record beside the artifact."""
        return self.path.parent / LINEAGE_FILE


def available_variants(source_format: str) -> list[str]:
    """Names of the variants that can be compiled from a source of this format."""
    if source_format not in FORMATS:
        raise VariantError(f"unknown model format {source_format!r}; formats: {', '.join(FORMATS)}")
    return [n for n, t in _REGISTRY.items() if t.source_format in (source_format, ANY)]


def source_format_of(name: str) -> str:
    """The source format a variant is compiled from ('any' for one that takes either)."""
    return _transform(name).source_format


def variant_listing() -> list[dict[str, str]]:
    """Every registered variant: its name, the source format it takes, and what it is."""
    return [
        {"variant": n, "source_format": t.source_format, "summary": t.summary}
        for n, t in _REGISTRY.items()
    ]


def describe_variants() -> dict[str, str]:
    """Name -> one-line summary with the source format it takes, for help texts."""
    return {n: f"[{t.source_format}] {t.summary}" for n, t in _REGISTRY.items()}


def _transform(name: str) -> Transform:
    t = _REGISTRY.get(name)
    if t is None:
        listing = "; ".join(f"{fmt}: {', '.join(available_variants(fmt))}" for fmt in FORMATS)
        raise VariantError(f"unknown variant {name!r}; variants by source format — {listing}")
    return t


_EVIDENCE = {TFLITE: "TFL3 flatbuffer identifier", ONNX: "ONNX protobuf"}


def _check_source_format(t: Transform, fmt: str, source: Path) -> None:
    if t.source_format in (ANY, fmt):
        return
    if t.source_format == TFLITE and fmt == ONNX:
        raise VariantError(
            f"variant {t.name!r} needs a TFLite source, and {source.name} is ONNX (by content). "
            "Converting ONNX to TFLite needs TensorFlow (e.g. onnx2tf), which rigbench does not "
            "install. Convert it yourself and register the .tflite as a variant of this source: "
            "VariantSpec('external', {'artifact': 'model.tflite'}); compile TFLite variants from "
            "that .tflite as their own source"
        )
    raise VariantError(
        f"variant {t.name!r} needs an {t.source_format.upper()} source, but {source.name} is "
        f"{fmt.upper()} (by content: {_EVIDENCE[fmt]}); "
        f"variants for a {fmt.upper()} source: {', '.join(available_variants(fmt))}"
    )


# Variants that are the source by definition: comparing them with it says nothing.
_AS_GIVEN = (identity.FP32.name, identity.TFLITE_FP32.name)


def _same_as_source(source: Path, artifact: Path, variant: str) -> bool:
    if variant in _AS_GIVEN or artifact.suffix != source.suffix:
        return False  # the source itself, or another format: not comparable graph to graph
    try:
        return same_compute(source, artifact)
    except Exception as e:  # a model the digest cannot read: treat as changed, and say so
        log.warning("variant %s: could not compare it with its source: %s", variant, e)
        return False


def device_name(artifact: Path, companion: Path) -> str:
    """A companion's file name beside the artifact on a device (where it is ``model<ext>``)."""
    if companion.name.startswith(artifact.stem + "."):
        return "model" + companion.name[len(artifact.stem) :]
    return companion.name


def _result(path: Path, lin: Lineage, hit: bool) -> CompiledVariant:
    return CompiledVariant(
        variant=lin.variant,
        path=path,
        format=lin.format,
        sha256=lin.sha256,
        source_sha256=lin.source_sha256,
        transform=lin.transform,
        params=dict(lin.params),
        tool_versions=dict(lin.tool_versions),
        size_bytes=lin.size_bytes,
        compile_ms=lin.compile_ms,
        cache_hit=hit,
        warnings=lin.warnings,
        same_as_source=bool(lin.extra.get("same_as_source", False)),
        companions=tuple(
            (name, path.parent / c["file"], c["sha256"])
            for name, c in sorted(lin.extra.get("companions", {}).items())
        ),
    )


def compile_variant(
    source: Path,
    spec: VariantSpec,
    cache_dir: Path,
    *,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    calibration: Mapping[str, np.ndarray] | None = None,
) -> CompiledVariant:
    """Compile ``source`` to ``spec`` in ``cache_dir``, or reuse the identical earlier compile.

    ``input_shapes`` resolves dynamic dimensions where a transform needs concrete inputs
    (synthetic calibration); ``calibration`` gives calibration samples as arrays (one per input,
    samples on axis 0) instead of ``params['calibration']`` naming an .npz.
    """
    source = Path(source)
    t = _transform(spec.name)
    fmt = check_model(source)
    _check_source_format(t, fmt, source)
    if fmt == ONNX:
        check_no_external_data(load_onnx(source), t.name)
    params = resolve_params(t, spec.params)
    cache = CompileCache(cache_dir)
    versions = tool_versions(t.tools)
    source_sha = sha256_file(source)

    with cache.staging() as staged:
        work = staged / "work"
        work.mkdir()
        job = CompileJob(
            variant=t.name,
            source=source,
            source_format=fmt,
            out_dir=staged,
            work_dir=work,
            params=params,
            input_shapes=input_shapes,
            calibration=calibration,
        )
        key_parts = {
            "source_sha256": source_sha,
            "variant": t.name,
            "revision": t.revision,
            "params": key_params(t, params),
            "tools": versions,
            "inputs": dict(t.fingerprint(job)) if t.fingerprint else {},
        }
        key = cache_key(key_parts)
        found = cache.lookup(key)
        if found is not None:
            path, lin = found
            log.info("variant %s of %s: reusing cached artifact %s", t.name, source.name, path)
            if "same_as_source" not in lin.extra:  # cached before rigbench compared them
                lin.extra["same_as_source"] = _same_as_source(source, path, t.name)
            return _result(path, lin, hit=True)

        t0 = time.perf_counter()
        try:
            artifact = t.run(job)
        except (VariantError, ModelLoadError):
            raise
        except InputSpecError as e:
            raise VariantError(f"{t.name}: {e}") from e
        except Exception as e:  # a vendor tool failed in a way the transform did not foresee
            raise VariantError(
                f"{t.name}: compiling failed: {type(e).__name__}: {first_line(e)}"
            ) from e
        compile_ms = (time.perf_counter() - t0) * 1000.0

        if artifact.parent != staged or not artifact.is_file():
            raise VariantError(f"{t.name}: the transform wrote no artifact")
        companions = {
            # On a device the artifact is laid out as model<ext>; a companion sharing its
            # stem (IR's .bin) keeps sharing it there, since runtimes find it by that name.
            device_name(artifact, c): {"file": c.name, "sha256": sha256_file(c)}
            for c in job.companions
            if c.parent == staged and c.is_file()
        }
        if len(companions) != len(job.companions):
            raise VariantError(f"{t.name}: a companion file of the artifact is missing")
        lin = Lineage(
            variant=t.name,
            format=detect_format(artifact),
            artifact=artifact.name,
            sha256=sha256_file(artifact),
            source_sha256=source_sha,
            transform=t.transform or t.name,
            transform_revision=t.revision,
            params=params,
            tool_versions=versions,
            size_bytes=artifact.stat().st_size + sum(c.stat().st_size for c in job.companions),
            compile_ms=round(compile_ms, 3),
            warnings=tuple(job.warnings),
            cache_key=key,
            created_utc=now_utc(),
            extra={
                **job.extra,
                "key_inputs": key_parts["inputs"],
                "source_name": source.name,
                "same_as_source": _same_as_source(source, artifact, t.name),
                **({"companions": companions} if companions else {}),
            },
        )
        shutil.rmtree(work, ignore_errors=True)  # scratch files stay out of the cache
        (staged / LINEAGE_FILE).write_text(lin.to_json())
        final = cache.publish(staged, key)
    found = cache.lookup(key)
    if found is None:
        raise VariantError(f"{t.name}: the compile cache lost entry {final} right after writing it")
    path, stored = found
    log.info("variant %s of %s: compiled in %.0f ms -> %s", t.name, source.name, compile_ms, path)
    return _result(path, stored, hit=False)
