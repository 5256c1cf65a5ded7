"""Generate a small CNN as ONNX and as TFLite, same network and same weights, no download.

The demo and the tests need real models that run on both onnxruntime and LiteRT, whose
outputs can be compared, and whose files are byte-identical for the same arguments (the
artifact store is content-addressed and nightly comparisons key on the digest).

Network: per block, 3x3 conv -> ReLU -> 3x3 depthwise conv -> ReLU -> 2x2 max/avg pool;
then global average pool -> fully connected -> logits ``[1, num_classes]`` (no softmax, so
accuracy comparisons see the raw values). Both files take NCHW float32 input named
``"input"``; the TFLite model transposes to NHWC internally. Output is named ``"logits"``.

Sizes (measured on the 2-core x86 dev VM with onnxruntime 1.32 CPU, ORT_ENABLE_ALL: p50 of a
bare ``session.run`` loop after 50 warm-up runs, 5 rounds):

- ``micro``: 3x8x8 input, one block of 8 channels, ~3 KB: for measuring the harness's own
  costs (the controller driving 200 agents) where the model must cost next to nothing.
- ``tiny``: 3x16x16 input, blocks of 64 and 128 channels; ~0.105 ms with one intra-op
  thread (LiteRT/XNNPACK ~0.065 ms). Used to measure the harness's own per-iteration overhead.
- ``small``: 3x64x64 input, blocks of 64/128/256 channels, ~1.5 MB; ~1.8 ms with default
  threads (~2.9 ms with one thread; LiteRT/XNNPACK 2 threads ~1.7 ms).

``slowdown=N`` adds N pairs of 1x1 convs ``Conv(h, W) + Conv(h, -W)`` to the first block's
output: real work that survives ORT's full graph optimization and XNNPACK, yet sums to exactly
zero (observed bit-identical outputs). Measured per step, interleaved A/B rounds, medians:
``small`` +8..12% on ORT (N=1,2,3: +12%, +21%, +29%), +5% on LiteRT/XNNPACK; ``tiny`` +11% on
both. Figures move with machine load; tests never assert on time.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rigbench import limits

from .weights import GENERATOR_VERSION, SPECS, ModelGenError, get_spec, make_weights

__all__ = ["SIZES", "GeneratedModel", "ModelGenError", "generate_cnn"]

SIZES: tuple[str, ...] = tuple(SPECS)
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


@dataclass(frozen=True)
class GeneratedModel:
    """Where the two files of one generated network are, and how to feed them."""

    onnx_path: Path
    tflite_path: Path
    input_name: str
    input_shape: tuple[int, ...]
    output_name: str
    num_classes: int


def _default_name(size: str, slowdown: int, dynamic_batch: bool) -> str:
    name = f"cnn-{size}"
    if slowdown:
        name += f"-slow{slowdown}"
    if dynamic_batch:
        name += "-dyn"
    return name


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file and rename, so a reader never sees a half-written model."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; models are meant to be shared and served
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generate_cnn(
    out_dir: Path,
    *,
    size: str = "small",
    seed: int = 0,
    slowdown: int = 0,
    dynamic_batch: bool = False,
    name: str | None = None,
) -> GeneratedModel:
    """Write ``<name>.onnx`` and ``<name>.tflite`` into ``out_dir`` and describe them.

    The same arguments always produce byte-identical files; ``seed`` picks the weights,
    which do not depend on ``slowdown`` or ``dynamic_batch``. ``dynamic_batch`` makes the
    batch dimension symbolic (``"batch"`` in ONNX, shape signature -1 in TFLite) so tests
    can exercise "dynamic dimension with no override". ``input_shape`` is always the
    concrete batch-1 shape.
    """
    spec = get_spec(size)
    for arg, value in (("seed", seed), ("slowdown", slowdown)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ModelGenError(f"{arg} must be a non-negative integer, got {value!r}")
    limits.SEED.check("seed", seed, ModelGenError)
    limits.SLOWDOWN.check("slowdown", slowdown, ModelGenError)
    stem = name if name is not None else _default_name(size, slowdown, dynamic_batch)
    if not stem or stem in (".", "..") or "/" in stem or "\\" in stem or "\0" in stem:
        raise ModelGenError(f"model name {stem!r} must be a plain file name without a folder")

    # onnx and the LiteRT schema take ~0.2 s to import; only pay for them when generating.
    from .onnx_cnn import build_onnx
    from .tflite_cnn import build_tflite

    weights = make_weights(spec, seed=seed, slowdown=slowdown)
    metadata = {
        "rigbench.modelgen.size": size,
        "rigbench.modelgen.seed": str(seed),
        "rigbench.modelgen.slowdown": str(slowdown),
        "rigbench.modelgen.version": GENERATOR_VERSION,
    }
    onnx_bytes = build_onnx(
        weights,
        input_name=INPUT_NAME,
        output_name=OUTPUT_NAME,
        dynamic_batch=dynamic_batch,
        metadata=metadata,
    )
    tflite_bytes = build_tflite(
        weights, input_name=INPUT_NAME, output_name=OUTPUT_NAME, dynamic_batch=dynamic_batch
    )

    out_dir = Path(out_dir)
    onnx_path = out_dir / f"{stem}.onnx"
    tflite_path = out_dir / f"{stem}.tflite"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(onnx_path, onnx_bytes)
        _write_atomic(tflite_path, tflite_bytes)
    except OSError as e:
        raise ModelGenError(f"cannot write the generated model into {out_dir}: {e}") from e
    return GeneratedModel(
        onnx_path=onnx_path,
        tflite_path=tflite_path,
        input_name=INPUT_NAME,
        input_shape=spec.input_shape,
        output_name=OUTPUT_NAME,
        num_classes=spec.num_classes,
    )
