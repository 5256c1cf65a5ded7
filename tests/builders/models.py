"""Model files built for a test: valid, yet hostile in one way."""

from __future__ import annotations

from pathlib import Path


def huge_input_onnx(path: Path) -> Path:
    """A valid ONNX model whose one input is float32 1024x1024x1024x2048: 8 TiB."""
    import onnx
    from onnx import TensorProto, helper

    shape = [1024, 1024, 1024, 2048]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
