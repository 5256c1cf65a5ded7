"""OpenVINO IR variants: the ONNX source converted to OpenVINO's own format, optionally int8.

IR is two files, an ``.xml`` graph and a ``.bin`` of weights: the ``.xml`` is the artifact and
the ``.bin`` its companion, each addressed by its own digest through the compile cache, the
upload to agents and the store's lineage. The conversion reads the ONNX file with OpenVINO's
own frontend (``Core.read_model``) and writes IR with ``save_model``; ``compress_to_fp16``
stores float weights as fp16 (they are decompressed at load time). ``openvino-int8`` is NNCF's
post-training quantization (no training framework needed), calibrated like ``int8-static``.

``import openvino`` and NNCF send usage telemetry unless told not to; rigbench never sends
anything anywhere, so OpenVINO is imported through ``import_openvino``, which turns it off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rigbench.agent.runtimes.openvino import import_openvino
from rigbench.controller.variants import calibration
from rigbench.controller.variants.base import CompileJob, Param, Transform, first_line
from rigbench.controller.variants.formats import ONNX, OPENVINO_IR
from rigbench.controller.variants.signature import read_signature
from rigbench.errors import InputSpecError, VariantError

OPENVINO_TOOLS = ("openvino",)


def _openvino() -> Any:
    ov = import_openvino()  # with OpenVINO's and NNCF's usage telemetry off
    if ov is None:
        raise VariantError(
            'OpenVINO variants need the openvino package: pip install "rigbench[openvino]"'
        )
    return ov


def _read(job: CompileJob) -> Any:
    ov = _openvino()
    try:
        return ov, ov.Core().read_model(str(job.source))
    except RuntimeError as e:
        raise VariantError(
            f"{job.variant}: OpenVINO cannot read the source: {first_line(e)}"
        ) from e


def _save(job: CompileJob, ov: Any, model: Any, compress_to_fp16: bool) -> Path:
    out = job.artifact_path(OPENVINO_IR)
    ov.save_model(model, str(out), compress_to_fp16=compress_to_fp16)
    weights = out.with_suffix(".bin")
    if not weights.is_file():
        raise VariantError(f"{job.variant}: OpenVINO wrote {out.name} but no {weights.name}")
    job.companions.append(weights)
    job.extra["openvino_version"] = ov.get_version()
    return out


def _to_ir(job: CompileJob) -> Path:
    ov, model = _read(job)
    return _save(job, ov, model, job.params["compress_to_fp16"])


def _int8(job: CompileJob) -> Path:
    ov, model = _read(job)
    try:
        import nncf
    except ImportError as e:
        raise VariantError(
            'openvino-int8 quantizes with NNCF: pip install "rigbench[nncf]" (it needs no '
            "training framework)"
        ) from e
    try:
        samples = calibration.samples(job, read_signature(job.source))
    except InputSpecError as e:
        raise VariantError(f"{job.variant}: {e}") from e
    names = [p.get_any_name() for p in model.inputs]
    feeds = [{n: s[n] for n in names} for s in samples]
    preset = {
        "performance": nncf.QuantizationPreset.PERFORMANCE,
        "mixed": nncf.QuantizationPreset.MIXED,
    }
    try:
        quantized = nncf.quantize(
            model,
            nncf.Dataset(feeds),
            preset=preset[job.params["preset"]],
            subset_size=len(feeds),
        )
    except Exception as e:  # NNCF runs the model to calibrate: any OpenVINO error can surface
        raise VariantError(f"{job.variant}: NNCF quantization failed: {first_line(e)}") from e
    job.extra["nncf_version"] = getattr(nncf, "__version__", "unknown")
    return _save(job, ov, quantized, False)


OPENVINO_IR_VARIANT = Transform(
    name="openvino-ir",
    source_format=ONNX,
    summary="OpenVINO IR (.xml + .bin) converted from the ONNX source (fp16 weights optional)",
    run=_to_ir,
    transform="openvino.Core.read_model + openvino.save_model",
    tools=OPENVINO_TOOLS,
    params={
        "compress_to_fp16": Param(False, (bool,), "store float weights as fp16 in the .bin"),
    },
)

OPENVINO_INT8 = Transform(
    name="openvino-int8",
    source_format=ONNX,
    summary="OpenVINO IR quantized to int8 by NNCF post-training quantization (calibrated)",
    run=_int8,
    transform="nncf.quantize (OpenVINO backend) + openvino.save_model",
    tools=(*OPENVINO_TOOLS, "nncf"),
    params={
        **calibration.CALIBRATION_PARAMS,
        "preset": Param(
            "performance",
            (str,),
            "symmetric (performance) or mixed activations",
            ("performance", "mixed"),
        ),
    },
    fingerprint=calibration.fingerprint,
)
