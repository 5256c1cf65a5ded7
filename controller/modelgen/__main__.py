"""``python -m rigbench.controller.modelgen OUT_DIR``: write a generated model pair.

A command line so the demo, CI and people can make models without writing Python; it prints
the two paths and their sha256 so a digest can be pinned in a baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from . import SIZES, generate_cnn
from .weights import ModelGenError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, generate, print ``<sha256>  <path>`` per file; 2 on bad arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m rigbench.controller.modelgen",
        description="Generate a small CNN as ONNX and TFLite (same weights, deterministic).",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the .onnx and .tflite into")
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slowdown", type=int, default=0, help="extra cancelling conv steps")
    parser.add_argument("--dynamic-batch", action="store_true", help="symbolic batch dimension")
    parser.add_argument("--name", default=None, help="file stem (default cnn-<size>[...])")
    args = parser.parse_args(argv)
    try:
        model = generate_cnn(
            args.out_dir,
            size=args.size,
            seed=args.seed,
            slowdown=args.slowdown,
            dynamic_batch=args.dynamic_batch,
            name=args.name,
        )
    except ModelGenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in (model.onnx_path, model.tflite_path):
        print(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
