"""Type-check the packages under their import names.

The folders agent/, controller/, reports/ and protos/rigbench/v1 are installed as
rigbench.agent, rigbench.controller, ... (see setup.py), a mapping mypy cannot follow. This
builds a throw-away tree of symlinks with the import layout in .typecheck/ and runs mypy there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TREE = REPO / ".typecheck"
LINKS = {
    "rigbench/agent": "agent",
    "rigbench/controller": "controller",
    "rigbench/reports": "reports",
    "rigbench/v1": "protos/rigbench/v1",
}


def build_tree() -> Path:
    shutil.rmtree(TREE, ignore_errors=True)
    pkg = TREE / "rigbench"
    pkg.mkdir(parents=True)
    for f in (REPO / "rigbench").glob("*.py"):
        (pkg / f.name).symlink_to(f)
    for link, target in LINKS.items():
        (TREE / link).symlink_to(REPO / target, target_is_directory=True)
    return TREE


def main() -> int:
    tree = build_tree()
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
           "-p", "rigbench"]
    return subprocess.call(cmd, cwd=tree)


if __name__ == "__main__":
    sys.exit(main())
