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


# --- (f) the layers of docs/design.md, every arrow -----------------------------------------------
#
# Lowest first. A module imports from its own layer or a lower one, never a higher one.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("shared", ("rigbench", "rigbench.v1")),
    ("agent", ("rigbench.agent",)),
    ("store", ("rigbench.controller.store",)),
    ("controller", ("rigbench.controller",)),
    ("reports", ("rigbench.reports",)),
    ("cli", ("rigbench.controller.cli", "rigbench.cli", "rigbench.__main__")),
)
FOLDERS = {
    "rigbench": REPO / "rigbench",
    "rigbench.agent": REPO / "agent",
    "rigbench.controller": REPO / "controller",
    "rigbench.reports": REPO / "reports",
    "rigbench.v1": REPO / "protos" / "rigbench" / "v1",
}
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.S)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the most specific prefix naming ``module``; None if not ours."""
    best: tuple[int, int] | None = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if _within(module, p) and (best is None or len(p) > best[1]):
                best = (i, len(p))
    return best[0] if best else None


def our_modules() -> dict[str, Path]:
    """Every module of the installed package, by import name (setup.py maps the folders)."""
    out: dict[str, Path] = {}
    for name, folder in FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("").parts
            parts = rel[:-1] if rel[-1] == "__init__" else rel
            if name == "rigbench" and parts and parts[0] in ("agent", "controller", "reports"):
                continue
            out[".".join([name, *parts])] = path
    return out


def package_for(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def upward_imports() -> set[tuple[str, str]]:
    """(module, module it imports) pairs that point from a layer to a higher one."""
    modules = our_modules()
    bad = set()
    for module, path in modules.items():
        mine = layer_of(module)
        for target in imported_modules(path.read_text(), package_for(module, path)):
            theirs = layer_of(target)
            if target in modules and mine is not None and theirs is not None and theirs > mine:
                bad.add((module, target))
    return bad


# Arrows that still point the wrong way, with the work that removes them. The tests below fail
# on any arrow not listed here; remove an entry when its arrow goes (docs/design.md lists them).
PENDING_UPWARD: dict[tuple[str, str], str] = {
    # The nightly writes its report files itself; the writing moves to the command.
    ("rigbench.controller.nightly.runner", "rigbench.reports.junit"): "nightly's files",
    ("rigbench.controller.nightly.runner", "rigbench.reports.nightly_markdown"): "nightly's files",
    ("rigbench.controller.nightly.runner", "rigbench.reports.trends"): "nightly's files",
}
# The nightly's decisions and compare's rounds still read and write the store themselves.
COMPARE_AND_NIGHTLY_SQL = "their queries move behind the store (controller/store/nightly.py)"
PENDING_SQL = {
    "rigbench.controller.compare.runner": COMPARE_AND_NIGHTLY_SQL,
    "rigbench.controller.compare.subjects": COMPARE_AND_NIGHTLY_SQL,
    "rigbench.controller.nightly.accept": COMPARE_AND_NIGHTLY_SQL,
    "rigbench.controller.nightly.canary": COMPARE_AND_NIGHTLY_SQL,
    "rigbench.controller.nightly.evaluate": COMPARE_AND_NIGHTLY_SQL,
    "rigbench.controller.nightly.pairs": COMPARE_AND_NIGHTLY_SQL,
    "rigbench.controller.nightly.runner": COMPARE_AND_NIGHTLY_SQL,
}
PENDING_REPORTS_ON_STORE: dict[str, str] = {}


def test_the_layer_table_places_modules_by_their_most_specific_prefix() -> None:
    assert LAYERS[layer_of("rigbench.errors") or 0][0] == "shared"
    assert LAYERS[layer_of("rigbench.controller.store.db") or 0][0] == "store"
    assert LAYERS[layer_of("rigbench.controller.client") or 0][0] == "controller"
    assert LAYERS[layer_of("rigbench.controller.cli.run") or 0][0] == "cli"
    assert layer_of("duckdb") is None


def test_no_module_imports_from_a_higher_layer() -> None:
    assert len(our_modules()) > 150  # the scan really walked the tree
    assert upward_imports() - set(PENDING_UPWARD) == set(), (
        "import from this layer or a lower one (docs/design.md); an arrow that cannot be fixed "
        "yet goes in PENDING_UPWARD with the work that removes it"
    )


def test_an_import_of_a_higher_layer_is_seen() -> None:
    here = layer_of("rigbench.controller.dispatch") or 0
    targets = imported_modules("from ..reports import html\n", "rigbench.controller")
    assert any((layer_of(t) or 0) > here for t in targets)


def test_reports_never_touch_the_store() -> None:
    offenders = {
        module: sorted(
            m
            for m in imported_modules(path.read_text(), package_for(module, path))
            if _within(m, "rigbench.controller.store") or _within(m, "duckdb")
        )
        for module, path in our_modules().items()
        if _within(module, "rigbench.reports") and module not in PENDING_REPORTS_ON_STORE
    }
    assert {k: v for k, v in offenders.items() if v} == {}, (
        "reports render typed objects the controller hands them; the store stays behind it"
    )


def test_sql_is_written_only_behind_the_store() -> None:
    """Every SELECT/INSERT/UPDATE/DELETE of ours is in controller/store/ (docs/design.md)."""
    offenders = sorted(
        module
        for module, path in our_modules().items()
        if not _within(module, "rigbench.controller.store")
        and module != "rigbench.controller.cli.sql"  # hands the user's own query to the store
        and module not in PENDING_SQL
        and module not in PENDING_REPORTS_ON_STORE
        and SQL.search(path.read_text())
    )
    assert offenders == [], (
        "SQL goes in controller/store/ (a module by use); a module that cannot move its SQL "
        "yet goes in PENDING_SQL with the reason"
    )


def test_the_sql_scan_finds_sql() -> None:
    assert SQL.search('store.query("SELECT a FROM results WHERE x = ?")')
    assert SQL.search('"INSERT INTO runs VALUES (?)"') and not SQL.search("select a model")
