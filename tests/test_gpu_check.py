"""tools/gpu_check.py runs on a bare GPU machine with a plain python3 and a folder of wheels.

The check itself needs a GPU; these tests keep what it stands on true everywhere: the package
layout it builds by hand is the one setup.py installs, rigbench imports from that layout when
run outside the source tree, and every module it insists on is one rigbench really imports.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO
from tools import gpu_check


def _setup_roots() -> dict[str, str]:
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ROOTS":
            value = ast.literal_eval(node.value)
            assert isinstance(value, dict)
            return value
    raise AssertionError("setup.py has no ROOTS")


def test_the_hand_made_layout_is_the_one_setup_py_installs() -> None:
    roots = {name.replace(".", "/"): folder for name, folder in _setup_roots().items()}
    assert gpu_check.LAYOUT == roots


def test_rigbench_imports_from_the_layout_outside_the_source_tree(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    gpu_check.lay_out_package(pkg)
    code = (
        "import rigbench, rigbench.agent.server, rigbench.controller.cli.ops, "
        "rigbench.reports.html, rigbench.v1.agent_pb2; print(rigbench.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(pkg)}
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith(str(pkg))


def test_it_insists_only_on_modules_rigbench_imports() -> None:
    sources = [
        p
        for folder in ("agent", "controller", "rigbench", "protos/rigbench")
        for p in (REPO / folder).rglob("*.py")
    ]
    imported: set[str] = set()
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
    for module in gpu_check.NEEDED:
        assert any(m == module or m.startswith(module + ".") for m in imported), module
    assert "rich" not in gpu_check.NEEDED  # typer works without it; the GPU kit lacks it


def test_a_missing_module_is_named_by_what_to_install() -> None:
    missing = gpu_check.missing_modules({"json": "stdlib", "no_such_module_xyz": "xyz-dist"})
    assert missing == ["xyz-dist (import no_such_module_xyz)"]
