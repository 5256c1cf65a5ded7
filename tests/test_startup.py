"""Start-up: a command imports what it uses, and a local agent spawned early is adopted, or
killed when nobody adopts it. (How long start-up takes is measured in
benchmarks/bench_startup.py, never asserted here.)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rigbench.agent.lifetime import open_lock, try_lock
from rigbench.controller.cli import app
from rigbench.controller.local_agent import _early, prestart, start_local_agent
from rigbench.controller.modelgen import GeneratedModel

HEAVY = (
    "duckdb", "grpc", "numpy", "onnx", "onnxruntime", "paramiko", "yaml", "ai_edge_litert", "rich"
)  # fmt: skip


def modules_after(args: list[str], cwd: Path) -> set[str]:
    """The heavy modules a fresh process has imported after running ``rigbench ARGS``."""
    code = textwrap.dedent(
        f"""
        import json, sys
        from rigbench.cli import main
        try:
            main({args!r})
        except SystemExit:
            pass
        print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False
    )
    return set(json.loads(res.stderr.strip().splitlines()[-1]))


def test_help_and_version_import_nothing_heavy(tmp_path: Path):
    assert modules_after(["--help"], tmp_path) == set()
    assert modules_after(["--version"], tmp_path) == set()


def test_reading_results_needs_duckdb_only(tmp_path: Path):
    from rigbench.controller.store import Store

    Store(tmp_path / "s.duckdb")
    assert modules_after(["results", "--store", "s.duckdb"], tmp_path) == {"duckdb"}


def test_compile_list_needs_no_store_no_grpc_and_no_model_tooling(tmp_path: Path):
    loaded = modules_after(["compile", "--list"], tmp_path)
    assert not loaded & {"duckdb", "grpc", "onnx", "onnxruntime"}, loaded


# --- the local agent spawned early -----------------------------------------------------------


def test_a_prestarted_agent_is_the_one_a_run_then_starts(tmp_path: Path):
    home = tmp_path / "agent-home"
    prestart(home)
    spawned = _early[home.resolve()].process
    agent = asyncio.run(start_local_agent(home))
    try:
        assert agent.process is spawned and agent.alive
        assert not _early
    finally:
        agent.stop()


def test_a_prestart_with_other_options_is_not_adopted(tmp_path: Path):
    home = tmp_path / "agent-home"
    prestart(home)
    spawned = _early[home.resolve()].process
    agent = asyncio.run(start_local_agent(home, simulated=True))
    try:
        assert agent.process is not spawned and spawned.poll() is not None
    finally:
        agent.stop()


def test_prestart_leaves_a_home_another_run_holds_alone(tmp_path: Path):
    home = tmp_path / "agent-home"
    home.mkdir()
    fd = open_lock(home)
    assert try_lock(fd)  # another run's agent holds the home
    try:
        prestart(home)
        assert home.resolve() not in _early
    finally:
        os.close(fd)


def test_a_bench_refused_after_the_spawn_leaves_no_agent_behind(
    tmp_path: Path, tiny: GeneratedModel, monkeypatch: pytest.MonkeyPatch
):
    """In one process (a script calling rigbench, a test): the refusal ends the agent too."""
    monkeypatch.chdir(tmp_path)
    work = tmp_path / "work"
    args = ["bench", str(tiny.onnx_path), "--input", "x=1xthree", "--work", str(work)]
    res = CliRunner().invoke(app, [*args, "--store", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 2, res.output
    assert not _early
    fd = open_lock(work / "agents" / "local")  # the home the bench's agent was spawned for
    try:
        assert try_lock(fd)  # free: its agent is gone
    finally:
        os.close(fd)


EXITING = """
import sys
from pathlib import Path
from rigbench.controller.local_agent import _early, prestart
prestart(Path(sys.argv[1]))
print(_early[Path(sys.argv[1]).resolve()].process.pid, flush=True)
"""


@pytest.mark.e2e
def test_an_agent_nobody_adopted_dies_with_the_command(tmp_path: Path):
    home = tmp_path / "agent-home"
    res = subprocess.run(
        [sys.executable, "-c", EXITING, str(home)], capture_output=True, text=True, check=True
    )
    pid = int(res.stdout.strip())
    with pytest.raises(ProcessLookupError):  # reaped at exit: gone, not a zombie of ours
        os.kill(pid, 0)
    fd = open_lock(home)
    try:
        assert try_lock(fd)  # the home is free for the next run
    finally:
        os.close(fd)
