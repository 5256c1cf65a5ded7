"""Checks shared by the ONNX transforms: ops onnxruntime knows, and that an output loads.

The ONNX tools are permissive: a quantizer happily writes a model that no runtime can load (a
custom op it did not know, a type an op does not take). So every ONNX transform checks its
source's ops before and loads its result in onnxruntime after, and says which node is at fault.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from rigbench.controller.variants.base import first_line
from rigbench.errors import VariantError

STANDARD_DOMAINS = ("", "ai.onnx")


def iter_nodes(graph: Any) -> Iterator[Any]:
    """Every node of a graph, including those inside If/Loop/Scan bodies."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from iter_nodes(attr.g)
            for g in attr.graphs:
                yield from iter_nodes(g)


@lru_cache(maxsize=1)
def _ort_ops() -> frozenset[tuple[str, str]]:
    """(domain, op_type) of every operator schema this onnxruntime build knows."""
    from onnxruntime.capi import onnxruntime_pybind11_state as c

    ops = set()
    for s in c.get_all_operator_schema():
        ops.add((s.domain, s.name))
        if s.domain == "":
            ops.add(("ai.onnx", s.name))
    return frozenset(ops)


def check_known_ops(model: Any, variant: str) -> None:
    """Raise naming the first node whose op onnxruntime does not know (custom op, typo)."""
    functions = {(f.domain, f.name) for f in model.functions}
    known = _ort_ops()
    for node in iter_nodes(model.graph):
        key = (node.domain, node.op_type)
        if key not in known and key not in functions:
            op = f"{node.domain}:{node.op_type}" if node.domain else node.op_type
            raise VariantError(
                f"{variant}: node {node.name!r} uses op {op}, which onnxruntime does not know "
                "(a custom op?); the model cannot be compiled to this variant here. Compile it "
                "with the tool that knows the op and register the file as variant 'external'"
            )


def check_no_external_data(model: Any, variant: str) -> None:
    """Refuse weights stored beside the .onnx: digest, copy and upload would all miss them."""
    from onnx import TensorProto

    for t in model.graph.initializer:
        if t.data_location == TensorProto.EXTERNAL:
            raise VariantError(
                f"{variant}: initializer {t.name!r} keeps its data in an external file; rigbench "
                "handles single-file models only: save the model with its weights inside "
                "(onnx.save(model, path, save_as_external_data=False), under 2 GB)"
            )


def session_options(level: str = "disable") -> Any:
    """Quiet CPU session options at a given graph optimization level."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    }[level]
    return so


def check_loads(path: Path, variant: str, hint: str = "") -> None:
    """Load the result in onnxruntime (CPU); its refusal names the node and op at fault."""
    import onnxruntime as ort

    try:
        ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own pybind exception types
        msg = first_line(e)
        raise VariantError(
            f"{variant}: the compiled model does not load in onnxruntime: {msg}"
            + (f". {hint}" if hint else "")
        ) from e


def ops_of(model: Any) -> set[str]:
    """Op types used anywhere in the model (subgraphs included)."""
    return {n.op_type for n in iter_nodes(model.graph)}
