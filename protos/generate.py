"""Regenerate the committed Python stubs from protos/rigbench/v1/*.proto.

Run with the pinned grpcio-tools (see pyproject's dev extra): ``python protos/generate.py``.
``--check`` regenerates into a temporary folder and fails if the committed stubs differ, so
CI catches a .proto edited without regenerating, or a generator upgrade that was not applied.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

PROTOS = Path(__file__).resolve().parent
PACKAGE = PROTOS / "rigbench" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out_dir: Path, root: Path = PROTOS) -> list[Path]:
    """Run protoc (from grpcio-tools) on every v1 .proto under root, writing stubs under out_dir."""
    from grpc_tools import protoc  # dev-only dependency

    protos = sorted((root / "rigbench" / "v1").glob("*.proto"))
    args = [
        "protoc",
        f"-I{root}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p.relative_to(root)) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(
        p for p in (out_dir / "rigbench" / "v1").iterdir() if p.name.endswith(GENERATED_SUFFIXES)
    )


def stale_files(root: Path = PROTOS) -> list[str]:
    """Names of committed stubs that differ from a fresh generation (or are missing/extra)."""
    package = root / "rigbench" / "v1"
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: p for p in generate(Path(tmp), root)}
        committed = {p.name: p for p in package.iterdir() if p.name.endswith(GENERATED_SUFFIXES)}
        stale = sorted(set(fresh) ^ set(committed))
        stale += [
            n
            for n in sorted(set(fresh) & set(committed))
            if not filecmp.cmp(fresh[n], committed[n], shallow=False)
        ]
        return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed stubs are stale")
    parser.add_argument(
        "--protos",
        type=Path,
        default=PROTOS,
        help="folder holding rigbench/v1/*.proto and the stubs (default: this script's folder)",
    )
    args = parser.parse_args(argv)
    root = args.protos.resolve()
    if args.check:
        stale = stale_files(root)
        if stale:
            print("stale generated stubs: " + ", ".join(stale) + " (run python protos/generate.py)")
            return 1
        print("generated stubs are current")
        return 0
    generate(root, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
