"""Architecture contracts: the agent stays lean and apart; every CLI command shows an example.

docs/design.md: the agent never imports the controller or reports, and its install pulls no
DuckDB, paramiko, plotting or ONNX tooling; sqlite-utils' habit: every command's help has an
example, and a test checks it.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib
from typer.testing import CliRunner

from rigbench.agent.runtimes import descriptors
from rigbench.controller.cli import app
from tests.builders.cli import command_paths
from tests.paths import REPO

AGENT = REPO / "agent"
FORBIDDEN_FOR_AGENT = ("rigbench.controller", "rigbench.reports")
# Controller-only packages (import names) that must not be needed on a board.
BLOCKED_IMPORTS = ("duckdb", "paramiko", "typer", "rich", "yaml", "pydantic", "onnx", "click")
# Distribution names that must not be pulled by an agent install.
HEAVY_DISTRIBUTIONS = {
    "duckdb",
    "paramiko",
    "typer",
    "rich",
    "pyyaml",
    "pydantic",
    "onnx",
    "matplotlib",
}
# Every runtime's extra (from its descriptor) is an agent extra, and so are these.
AGENT_EXTRAS = ("agent", "tflite", "nvml", *(d.extra for d in descriptors().values()))


# --- (a) the agent never imports the controller or reports ------------------------------------


def imported_modules(source: str, package: str) -> Iterator[str]:
    """Every module a source file imports, relative imports resolved against ``package``.

    Includes ``importlib.import_module("...")`` and ``__import__("...")`` with a literal name.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            yield mod
            yield from (f"{mod}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield arg.value


def forbidden_imports(source: str, package: str) -> list[str]:
    return sorted(
        {
            m
            for m in imported_modules(source, package)
            if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_FOR_AGENT)
        }
    )


def agent_files() -> list[Path]:
    return sorted(AGENT.rglob("*.py"))


def package_of(path: Path) -> str:
    """The package a file under agent/ belongs to, e.g. rigbench.agent.telemetry."""
    return ".".join(["rigbench", "agent", *path.parent.relative_to(AGENT).parts])


@pytest.mark.parametrize(
    "source",
    [
        "import rigbench.controller.cli",
        "from rigbench.reports import tables",
        "from rigbench import controller",
        "from ..controller import store",
        "from .. import reports",
        "import importlib\nimportlib.import_module('rigbench.controller.store')",
        "def f():\n    from rigbench.controller.inventory import Device",
    ],
)
def test_import_scan_finds_every_way_to_import_the_controller(source: str) -> None:
    assert forbidden_imports(source, "rigbench.agent")


@pytest.mark.parametrize(
    "source",
    [
        "from rigbench.agent.jobs import JobSpec",
        "from . import jobs",
        "from ..errors import AgentError",
        "import rigbench.controller_like",
    ],
)
def test_import_scan_allows_the_agents_own_imports(source: str) -> None:
    assert forbidden_imports(source, "rigbench.agent.telemetry") == []


def test_relative_imports_resolve_against_the_files_package() -> None:
    mods = set(imported_modules("from ..jobs import JobSpec", "rigbench.agent.telemetry"))
    assert "rigbench.agent.jobs" in mods


def test_agent_modules_do_not_import_controller_or_reports() -> None:
    files = agent_files()
    assert len(files) > 10  # the scan really looked at the agent
    offenders = {
        str(p.relative_to(REPO)): bad
        for p in files
        if (bad := forbidden_imports(p.read_text(), package_of(p)))
    }
    assert offenders == {}


# --- (b) the agent runs without the controller's dependencies ---------------------------------

BLOCKER = textwrap.dedent(
    """
    import sys

    BLOCKED = {blocked!r}


    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
            return None


    sys.meta_path.insert(0, Blocker())
    """
).format(blocked=BLOCKED_IMPORTS)


def run_blocked(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_blocker_really_blocks() -> None:
    r = run_blocked("import yaml\n")
    assert r.returncode != 0 and "blocked" in r.stderr
    r = run_blocked("import onnxruntime\nimport rigbench.controller.cli\n")
    assert "blocked" in r.stderr  # onnxruntime passes, the controller needs typer


def test_every_agent_module_imports_without_controller_dependencies() -> None:
    r = run_blocked(
        """
        import importlib, pkgutil
        import rigbench.agent
        names = [m.name for m in pkgutil.walk_packages(rigbench.agent.__path__, "rigbench.agent.")]
        for n in names:
            importlib.import_module(n)
        print(len(names), "modules")
        """
    )
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.split()[0]) > 10


def test_agent_serve_help_works_without_controller_dependencies() -> None:
    r = run_blocked(
        """
        import runpy
        sys.argv = ["rigbench", "agent", "serve", "--help"]
        runpy.run_module("rigbench", run_name="__main__")
        """
    )
    assert r.returncode == 0, r.stderr
    assert "usage: rigbench agent serve" in r.stdout


def test_controller_commands_explain_a_missing_controller_install() -> None:
    r = run_blocked(
        """
        from rigbench.cli import main
        sys.exit(main(["devices"]))
        """
    )
    assert r.returncode == 2
    assert 'pip install "rigbench[controller]"' in r.stderr


# --- (c) the agent's install pulls no controller dependency -----------------------------------


def _requirement(req: str) -> tuple[str, list[str]]:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", req)
    assert m, req
    name = re.sub(r"[-_.]+", "-", m.group(1)).lower()
    extras = [e.strip() for e in (m.group(2) or "").split(",") if e.strip()]
    return name, extras


def agent_install_requirements(project: dict[str, object]) -> set[str]:
    """Distributions of the base install and the agent-side extras, self-references expanded."""
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})  # type: ignore[assignment]
    names: set[str] = set()
    todo = list(project["dependencies"])  # type: ignore[call-overload]
    for extra in AGENT_EXTRAS:
        todo += optional[extra]
    seen: set[str] = set()
    while todo:
        name, extras = _requirement(todo.pop())
        if name == "rigbench":
            for e in extras:
                if e not in seen:
                    seen.add(e)
                    todo += optional[e]
        else:
            names.add(name)
    return names


def test_requirement_expansion_follows_self_references() -> None:
    project = {
        "dependencies": ["numpy>=1"],
        "optional-dependencies": {
            **{e: [] for e in AGENT_EXTRAS},
            "agent": ["rigbench[inner]"],
            "inner": ["DuckDB>=1; python_version >= '3.10'"],
        },
    }
    assert agent_install_requirements(project) == {"numpy", "duckdb"}


def test_agent_install_pulls_no_controller_dependency() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = agent_install_requirements(project)
    assert {"grpcio", "protobuf", "numpy", "onnxruntime"} <= names
    assert names & HEAVY_DISTRIBUTIONS == set()


# --- (d) every CLI command's help shows an example --------------------------------------------


def test_the_command_tree_is_walked() -> None:
    paths = command_paths()
    assert {("run",), ("bench",), ("results",), ("devices",), ("agent", "serve")} <= set(paths)


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_command_help_has_an_example(path: tuple[str, ...]) -> None:
    r = CliRunner().invoke(app, [*path, "--help"])
    assert r.exit_code == 0, r.output
    assert re.search(r"^\s*Example:\s+rigbench ", r.output, re.M), r.output


# --- (e) test modules share setup through tests/builders, never through each other ---------------


def test_no_test_module_imports_another() -> None:
    tests = REPO / "tests"
    offenders = {
        p.name: sorted(m for m in imported_modules(p.read_text(), "tests") if ".test_" in m)
        for p in sorted(tests.rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}
