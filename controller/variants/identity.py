"""Variants that are a file as given: the source itself, or one the user compiled elsewhere.

``fp32`` / ``tflite-fp32`` put the unchanged source in the cache with a lineage record, so the
baseline is addressed and tracked like every other variant. ``external`` registers a file the
user produced with a tool rigbench does not run (ONNX->TFLite needs TensorFlow, vendor
compilers): it becomes a variant *of this source*, with both digests in its lineage.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from rigbench.controller.variants.base import ANY, CompileJob, Param, Transform
from rigbench.controller.variants.formats import ONNX, TFLITE, check_model
from rigbench.digest import sha256_file
from rigbench.errors import ModelLoadError, VariantError


def _copy_source(job: CompileJob) -> Path:
    out = job.artifact_path(job.source_format)
    shutil.copyfile(job.source, out)
    return out


def _external_file(job: CompileJob) -> Path:
    raw = job.params["artifact"]
    if not raw:
        raise VariantError(
            "variant 'external' needs params {'artifact': 'path/to/model.tflite'}: the file "
            "you compiled from this source with another tool"
        )
    path = Path(raw)
    if not path.is_file():
        raise VariantError(f"external artifact {path} does not exist")
    return path


def _external_fingerprint(job: CompileJob) -> dict[str, Any]:
    return {"artifact_sha256": sha256_file(_external_file(job))}


def _register_external(job: CompileJob) -> Path:
    path = _external_file(job)
    try:
        fmt = check_model(path)
    except ModelLoadError as e:
        raise VariantError(f"external artifact is not a usable model: {e}") from e
    out = job.artifact_path(fmt)
    shutil.copyfile(path, out)
    digest = sha256_file(out)
    if digest == sha256_file(job.source):
        job.warn("the external artifact is byte-identical to its source")
    job.extra["external"] = {"path": str(path), "label": job.params["label"], "sha256": digest}
    return out


FP32 = Transform(
    name="fp32",
    source_format=ONNX,
    summary="the ONNX source as given (the accuracy baseline)",
    run=_copy_source,
    transform="copy",
)

TFLITE_FP32 = Transform(
    name="tflite-fp32",
    source_format=TFLITE,
    summary="the float TFLite source as given",
    run=_copy_source,
    transform="copy",
)

# The variant that is a source of each format as given: the baseline its variants are compared
# with, and what `rigbench bench` measures.
AS_GIVEN: dict[str, str] = {ONNX: FP32.name, TFLITE: TFLITE_FP32.name}

EXTERNAL = Transform(
    name="external",
    source_format=ANY,
    summary="a file compiled outside rigbench (e.g. a .tflite converted with TensorFlow), "
    "registered as a variant of this source",
    run=_register_external,
    transform="external",
    params={
        "artifact": Param(
            None, (str, type(None)), "path of the user-compiled model file", keyed=False
        ),
        "label": Param("", (str,), "free text saying how the file was made"),
    },
    fingerprint=_external_fingerprint,
)
