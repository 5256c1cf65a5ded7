"""Half-precision ONNX (``fp16``) with onnxruntime's own converter.

``onnxruntime.transformers.float16`` ships in the onnxruntime wheel, so no extra package is
needed. By default inputs and outputs stay float32 (``keep_io_types``), so the same inputs feed
both fp32 and fp16 variants. Some ops take no float16 (e.g. ``DynamicQuantizeLinear``); the
converter does not know all of them, and the resulting model fails to load. That failure is
reported naming the node and op, with the fix: ``op_block_list`` / ``node_block_list`` keep
those in float32 (added to the converter's own default block list).
"""

from __future__ import annotations

import re
from pathlib import Path

from rigbench.controller.variants.base import ONNX_TOOLS, CompileJob, Param, Transform, first_line
from rigbench.controller.variants.formats import ONNX, load_onnx
from rigbench.controller.variants.onnx_common import check_known_ops, check_loads
from rigbench.errors import VariantError

_TYPE_ERROR = re.compile(r"of operator \((?P<op>[^)]*)\) in node \((?P<node>[^)]*)\)")


def _convert(job: CompileJob) -> Path:
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = load_onnx(job.source)
    check_known_ops(model, job.variant)
    p = job.params
    block_ops = list(dict.fromkeys([*DEFAULT_OP_BLOCK_LIST, *p["op_block_list"]]))
    try:
        converted = convert_float_to_float16(
            model,
            keep_io_types=p["keep_io_types"],
            op_block_list=block_ops,
            node_block_list=list(p["node_block_list"]) or None,
        )
    except Exception as e:  # the converter raises bare ValueError/AssertionError/KeyError
        raise VariantError(f"fp16: onnxruntime's float16 converter failed: {first_line(e)}") from e
    out = job.artifact_path(ONNX)
    onnx.save_model(converted, str(out))
    try:
        check_loads(out, job.variant)
    except VariantError as e:
        m = _TYPE_ERROR.search(str(e))
        if m is None:
            raise
        op, node = m.group("op"), m.group("node")
        raise VariantError(
            f"fp16: op {op} (node {node!r}) cannot take float16 here; keep it in float32 with "
            f"params {{'op_block_list': [{op!r}]}} or {{'node_block_list': [{node!r}]}}. {e}"
        ) from e
    return out


FP16 = Transform(
    name="fp16",
    source_format=ONNX,
    summary="float16 weights and compute (onnxruntime's float16 converter), float32 I/O by default",
    run=_convert,
    transform="onnxruntime.transformers.float16.convert_float_to_float16",
    tools=ONNX_TOOLS,
    params={
        "keep_io_types": Param(True, (bool,), "keep model inputs/outputs float32"),
        "op_block_list": Param([], (list,), "op types to keep in float32 (added to the defaults)"),
        "node_block_list": Param([], (list,), "node names to keep in float32"),
    },
)
