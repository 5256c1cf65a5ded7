"""Compile every variant of the generated CNN twice: compile time, size, cache hit, accuracy.

Run: ``python benchmarks/bench_variants.py [--size small] [--cache-dir DIR] [--samples 16]``

Why: it shows what each compiled form costs to make and how big it is, that asking for the
same variant again is a cache hit (and how long the lookup takes), and how far each variant's
outputs are from the fp32 source on the same seeded reference inputs. With no ``--cache-dir``
a fresh temporary cache is used, so the first compile is always a real one.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from pathlib import Path

from rigbench.controller.accuracy import compare, make_reference_inputs, reference_outputs
from rigbench.controller.modelgen import generate_cnn
from rigbench.controller.variants import VariantSpec, available_variants, compile_variant

SKIP = {"external"}  # needs a user-supplied file


def main() -> None:
    """Print one row per variant."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="small", help="generated CNN size (tiny, small, ...)")
    ap.add_argument("--cache-dir", type=Path, help="compile cache (default: a fresh temp dir)")
    ap.add_argument("--samples", type=int, default=16, help="reference inputs for accuracy")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")

    with tempfile.TemporaryDirectory(prefix="bench-variants-") as tmp:
        cache = args.cache_dir or Path(tmp) / "cache"
        cnn = generate_cnn(Path(tmp) / "model", size=args.size)
        inputs = make_reference_inputs(cnn.onnx_path, n=args.samples, seed=0)
        reference = reference_outputs(cnn.onnx_path, inputs)
        print(
            f"source: generated CNN size={args.size}, input {list(cnn.input_shape)}; "
            f"ONNX {cnn.onnx_path.stat().st_size} B, TFLite {cnn.tflite_path.stat().st_size} B"
        )
        print(f"cache:  {cache}")
        print(f"accuracy vs fp32 ONNX on {args.samples} seeded inputs (N(0,1))\n")
        head = (
            f"{'variant':<20} {'fmt':<6} {'size_B':>8} {'compile_ms':>10} {'2nd':>4} "
            f"{'lookup_ms':>9} {'max_abs_err':>11} {'cosine':>9} {'top1':>5}"
        )
        print(head)
        print("-" * len(head))
        for fmt, source in (("onnx", cnn.onnx_path), ("tflite", cnn.tflite_path)):
            for name in available_variants(fmt):
                if name in SKIP:
                    continue
                first = compile_variant(source, VariantSpec(name), cache)
                t0 = time.perf_counter()
                second = compile_variant(source, VariantSpec(name), cache)
                lookup_ms = (time.perf_counter() - t0) * 1000
                hit = "hit" if second.cache_hit and second.path == first.path else "MISS"
                rep = compare(reference, reference_outputs(first.path, inputs))
                top1 = "-" if rep.top1_agreement is None else f"{rep.top1_agreement:.2f}"
                print(
                    f"{name:<20} {fmt:<6} {first.size_bytes:>8} {first.compile_ms:>10.1f} "
                    f"{hit:>4} {lookup_ms:>9.1f} {rep.max_abs_err:>11.3g} "
                    f"{rep.cosine_similarity:>9.6f} {top1:>5}"
                    + (
                        " (synthetic calibration)"
                        if any("SYNTHETIC" in w for w in first.warnings)
                        else ""
                    )
                )


if __name__ == "__main__":
    main()
