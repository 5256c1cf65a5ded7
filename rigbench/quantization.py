"""Per-tensor affine quantization, one formula for the agent and the controller.

The agent casts inputs of an int8 model and dequantizes its outputs with these; the controller
computes reference outputs of the same model with the same ones, so accuracy compares like
with like.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class QuantizedTensor(Protocol):
    """Anything that names an integer dtype with a per-tensor (scale, zero point)."""

    @property
    def dtype(self) -> str: ...

    @property
    def quantization(self) -> tuple[float, int] | None: ...


def quantize(x: np.ndarray, spec: QuantizedTensor) -> np.ndarray:
    """Float array to the tensor's quantized dtype with its scale and zero point."""
    assert spec.quantization is not None
    scale, zero = spec.quantization
    info = np.iinfo(np.dtype(spec.dtype))
    q = np.round(x.astype(np.float64) / scale) + zero
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def dequantize(x: np.ndarray, spec: QuantizedTensor) -> np.ndarray:
    assert spec.quantization is not None
    scale, zero = spec.quantization
    return ((x.astype(np.float64) - zero) * scale).astype(np.float32)
