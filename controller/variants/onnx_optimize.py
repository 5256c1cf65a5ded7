"""onnxruntime's graph optimizations, applied offline and saved: ``ort-basic``, ``ort-extended``.

Offline optimization moves the optimizer's cost out of session start-up on the device, and lets
a benchmark tell "optimized at load" from "optimized ahead". Basic passes (constant folding,
redundant-node removal) keep standard ONNX ops; extended passes fuse into ``com.microsoft``
contrib ops that only onnxruntime runs, which the artifact's warnings say. The "all" level is
not offered: its layout passes are specific to the machine that optimizes (ORT warns so).
"""

from __future__ import annotations

from pathlib import Path

from rigbench.controller.variants.base import ONNX_TOOLS, CompileJob, Transform, first_line
from rigbench.controller.variants.formats import ONNX, load_onnx
from rigbench.controller.variants.onnx_common import (
    check_known_ops,
    check_loads,
    iter_nodes,
    session_options,
)
from rigbench.errors import VariantError


def _optimize(job: CompileJob, level: str) -> Path:
    import onnxruntime as ort

    check_known_ops(load_onnx(job.source), job.variant)
    out = job.artifact_path(ONNX)
    so = session_options(level)
    so.optimized_model_filepath = str(out)
    try:
        ort.InferenceSession(str(job.source), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's pybind exceptions have no common base
        raise VariantError(
            f"{job.variant}: onnxruntime could not optimize the model: {first_line(e)}"
        ) from e
    check_loads(out, job.variant)
    contrib = sorted(
        {
            f"{n.domain}:{n.op_type}"
            for n in iter_nodes(load_onnx(out).graph)
            if n.domain not in ("", "ai.onnx")
        }
    )
    if contrib:
        job.warn(
            "uses onnxruntime contrib ops (" + ", ".join(contrib) + "): runs on onnxruntime "
            "only, and some execution providers may not take them"
        )
    return out


ORT_BASIC = Transform(
    name="ort-basic",
    source_format=ONNX,
    summary="onnxruntime basic graph optimizations (constant folding, redundant nodes), saved",
    run=lambda job: _optimize(job, "basic"),
    transform="onnxruntime.SessionOptions.optimized_model_filepath@ORT_ENABLE_BASIC",
    tools=ONNX_TOOLS,
)

ORT_EXTENDED = Transform(
    name="ort-extended",
    source_format=ONNX,
    summary="onnxruntime extended optimizations (fusions into contrib ops), saved",
    run=lambda job: _optimize(job, "extended"),
    transform="onnxruntime.SessionOptions.optimized_model_filepath@ORT_ENABLE_EXTENDED",
    tools=ONNX_TOOLS,
)
