"""Tell an ONNX model from a TFLite model by its bytes, and refuse files that are neither.

File names lie (a ``model.onnx`` that is really a flatbuffer, a download cut short), and the
error a runtime gives for the wrong kind of file is rarely helpful. A TFLite flatbuffer carries
the file identifier ``TFL3`` at bytes 4..8; an ONNX file is a protobuf ``ModelProto`` with an IR
version and a graph. Everything here reads bytes only; the runtimes are imported on demand.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rigbench.agent.runtimes.descriptor import MODEL_SUFFIXES
from rigbench.errors import ModelLoadError

if TYPE_CHECKING:
    from onnx import ModelProto

ONNX = "onnx"
TFLITE = "tflite"
OPENVINO_IR = "openvino-ir"  # an .xml graph beside its .bin weights (a compiled form only)
FORMATS: tuple[str, ...] = (ONNX, TFLITE)  # formats a source may have
EXTENSIONS = dict(MODEL_SUFFIXES)
TFLITE_IDENTIFIER = b"TFL3"


def is_openvino_ir_bytes(data: bytes) -> bool:
    """An XML document whose root element is OpenVINO IR's ``<net>``."""
    head = data[:4096].lstrip()
    return head.startswith((b"<?xml", b"<net")) and b"<net" in head


def is_tflite_bytes(data: bytes) -> bool:
    """True when the flatbuffer file identifier of a TFLite model sits at bytes 4..8."""
    return len(data) >= 8 and data[4:8] == TFLITE_IDENTIFIER


def _parse_onnx(data: bytes, path: Path) -> ModelProto:
    """The ModelProto, or ModelLoadError saying why these bytes are not a usable ONNX model."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ModelLoadError(
            f"{path} is neither a TFLite flatbuffer (no 'TFL3' identifier at bytes 4..8) nor a "
            f"readable ONNX protobuf ({e}); is the file corrupt or truncated?"
        ) from e
    if model.ir_version <= 0 or not model.HasField("graph") or not model.graph.node:
        raise ModelLoadError(
            f"{path} parses as protobuf but is not an ONNX model (no IR version or empty graph); "
            "is the file corrupt, truncated or of another kind?"
        )
    return model


def detect_format(path: Path) -> str:
    """``"onnx"`` or ``"tflite"`` from the file's content, never from its name."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelLoadError(f"cannot read model file {path}: {e}") from e
    if not data:
        raise ModelLoadError(f"model file {path} is empty")
    if is_tflite_bytes(data):
        return TFLITE
    if is_openvino_ir_bytes(data):
        return OPENVINO_IR
    _parse_onnx(data, path)
    return ONNX


def load_onnx(path: Path) -> ModelProto:
    """Parse an ONNX file (external data is not loaded) with a clear error when it is not one."""
    path = Path(path)
    data = path.read_bytes()
    if is_tflite_bytes(data):
        raise ModelLoadError(f"{path} is a TFLite flatbuffer ('TFL3' identifier), not ONNX")
    return _parse_onnx(data, path)


def check_tflite(path: Path) -> None:
    """Load the flatbuffer with LiteRT, so a truncated or corrupt file fails here, clearly."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        Interpreter(model_path=str(path))
    except (ValueError, RuntimeError) as e:
        raise ModelLoadError(
            f"{path} has the TFLite identifier but LiteRT cannot load it ({e}); "
            "is the file corrupt or truncated?"
        ) from e


def check_model(path: Path) -> str:
    """Detect the format and prove the file is whole; return the format."""
    fmt = detect_format(path)
    if fmt == TFLITE:
        check_tflite(path)
    if fmt == OPENVINO_IR:
        raise ModelLoadError(
            f"{path} is OpenVINO IR; rigbench compiles IR from an ONNX source (variant "
            "openvino-ir) rather than taking it as a source: give the ONNX model"
        )
    return fmt
