"""CLI habits every command shares: --version, completion, -q/-v, tables that fit, short ids,
JSON and CSV, the real outcome of a run, and warnings printed once in our own form.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import logging
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer._click.core import Context
from typer.testing import CliRunner

from rigbench import __version__
from rigbench.controller.cli import COMMANDS, app, load_all, output
from rigbench.controller.nightly.evaluate import evaluate_night, record_checks
from rigbench.controller.progress import DeviceProgress, ProgressPrinter
from rigbench.controller.store import Store
from tests.builders.cli import command_paths
from tests.builders.nightly import History, Series


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rigbench", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


# --- --version, completion, the command list --------------------------------------------------


def test_version_prints_the_version():
    res = cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"rigbench {__version__}"


def test_shell_completion_completes_command_names_and_options():
    env = {**os.environ, "_RIGBENCH_COMPLETE": "complete_bash", "COMP_WORDS": "rigbench re",
           "COMP_CWORD": "1"}  # fmt: skip
    words = subprocess.run(
        [sys.executable, "-m", "rigbench"], env=env, capture_output=True, text=True, check=False
    ).stdout.split()
    assert words == ["report", "results"]
    env.update(COMP_WORDS="rigbench results --wi", COMP_CWORD="2")
    words = subprocess.run(
        [sys.executable, "-m", "rigbench"], env=env, capture_output=True, text=True, check=False
    ).stdout.split()
    assert words == ["--wide"]


def test_the_command_list_says_what_each_command_docstring_says():
    load_all()
    for path in command_paths():
        if len(path) == 1 and path[0] in COMMANDS:
            callback = next(
                c.callback
                for c in app.registered_commands
                if c.name == path[0] and c.callback is not None
            )
            first = inspect.getdoc(callback).split("\n\n")[0].replace("\n", " ")
            assert COMMANDS[path[0]][1] == first, path


# --- -q and -v ---------------------------------------------------------------------------------


def command(path: tuple[str, ...]) -> Any:
    cmd = typer.main.get_command(app)
    ctx = Context(cmd, info_name="rigbench")
    for name in path:
        cmd = cmd.get_command(ctx, name)
        ctx = Context(cmd, parent=ctx, info_name=name)
    return cmd


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_command_takes_q_and_v_with_one_meaning(path: tuple[str, ...]):
    if path == ("agent", "serve"):
        pytest.skip("agent serve passes its arguments to the agent's own CLI")
    opts = {tuple(sorted(p.opts)): p.help for p in command(path).params}
    assert opts[("--quiet", "-q")] == "only the answer: no progress lines or notes"
    assert opts[("--verbose", "-v")] == "also what rigbench does: debug logs, every event"
    assert [o for o in opts if "-v" in o or "-q" in o] == [("--quiet", "-q"), ("--verbose", "-v")]


def test_q_and_v_together_are_refused_in_one_line(tmp_path: Path):
    res = invoke("runs", "-q", "-v", "--store", str(tmp_path / "s.duckdb"))
    assert res.exit_code == 2 and "contradict" in res.output


def test_a_library_warning_is_printed_once_in_our_form(capsys: pytest.CaptureFixture[str]):
    logging.basicConfig()  # what a library may do: raw "WARNING:name:message" lines
    output.configure()
    try:
        for _ in range(3):
            logging.getLogger("onnxruntime.quantization").warning("calibration set is small")
        logging.getLogger("rigbench.controller").warning("results kept in memory for now")
    finally:
        output.configure()
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "warning: calibration set is small",
        "warning: results kept in memory for now",
    ]


def test_a_compile_warning_is_printed_once(tmp_path: Path, tiny):  # type: ignore[no-untyped-def]
    res = cli("compile", str(tiny.onnx_path), "--variant", "ort-extended",
              "--work", str(tmp_path / "work"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("contrib ops") == 1, res.stderr
    assert "WARNING:" not in res.stderr and res.stderr.startswith("warning: ")


# --- progress ----------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_eta_is_the_mean_job_times_the_jobs_left():
    d = DeviceProgress(total=4, done=2, durations=[10.0, 20.0])
    assert d.eta_s(now=100.0) == 30.0
    d.current, d.job_started = "job", 95.0  # 5 s into the third job
    assert d.eta_s(now=100.0) == 25.0
    assert DeviceProgress(total=2).eta_s(0.0) is None  # nothing finished yet: unknown


def events(p: ProgressPrinter) -> None:
    p.planned({"pi5-01": 2, "orin-01": 1})
    p.job_started("pi5-01", "cnn/fp32 on ort", 1)
    p.job_progress("pi5-01", "cnn/fp32 on ort", "measuring", 500, 1_000_000_000)
    p.job_done("pi5-01", "cnn/fp32 on ort", "p50 2 ms")
    p.job_started("pi5-01", "cnn/int8 on ort", 1)
    p.job_failed("orin-01", "cnn/fp32 on ort", "model", "bad op", retrying=False)


def test_plain_lines_when_not_a_terminal_carry_the_counts():
    out = io.StringIO()
    with ProgressPrinter(stream=out) as p:
        events(p)
    lines = out.getvalue().splitlines()
    assert "[pi5-01] cnn/fp32 on ort: done (1/2, about " in lines[2]
    assert lines[-1] == "[orin-01] cnn/fp32 on ort: FAILED (model): bad op (1/1)"
    assert "\x1b[" not in out.getvalue()


def test_a_terminal_gets_a_live_table_per_device():
    term = Terminal()
    with ProgressPrinter(stream=term) as p:
        assert p.live
        events(p)
    screen = term.getvalue()
    assert "\x1b[" in screen  # redrawn in place
    last = screen.rsplit("device", 1)[1]  # the final frame
    assert "pi5-01" in last and "1/2" in last and "cnn/int8 on ort" in last
    assert "orin-01" in last and "1/1 (1 failed)" in last


def test_quiet_prints_nothing_even_on_a_terminal():
    term = Terminal()
    with ProgressPrinter(stream=term, quiet=True) as p:
        events(p)
    assert term.getvalue() == ""


# --- tables, short ids, formats ----------------------------------------------------------------


@pytest.fixture
def history(tmp_path: Path) -> History:
    """Two nights of two devices with long names and two scenarios."""
    h = History(Store(tmp_path / "store.duckdb"))
    series = [
        Series(device="raspberry-pi-5-lab-bench-07", variant="tflite-int8-dynamic", iterations=50),
        Series(device="jetson-orin-nano-super-02", scenario="soak", iterations=50),
    ]
    h.night(series)
    h.night(series)
    return h


def test_the_results_table_fits_100_columns_and_wide_shows_all(history: History):
    store = str(history.store.path)
    table = invoke("results", "--store", store).output
    assert max(len(line) for line in table.splitlines()) <= 100, table
    wide = invoke("results", "--wide", "--store", store).output
    assert max(len(line) for line in wide.splitlines()) > 100
    assert "mean ms" in wide and "first ms" in wide


def test_constant_columns_move_to_the_title(tmp_path: Path):
    h = History(Store(tmp_path / "s.duckdb"))
    h.night([Series(iterations=50), Series(variant="fp16", iterations=50)])
    out = invoke("results", "--store", str(h.store.path)).output.splitlines()
    assert out[0].endswith("on pi5-01, cnn, single-stream")
    assert out[1].split()[:3] == ["job", "variant", "runtime"]


def test_a_job_is_named_by_the_short_id_the_results_table_shows(history: History):
    store = str(history.store.path)
    body = invoke("results", "--store", store).output.splitlines()[3]
    short = body.split()[0]
    assert len(short) == 13 and "." in short
    res = invoke("timeline", short[:9], "--format", "json", "--store", store)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)[0]["iterations"] == 50


def test_an_ambiguous_job_prefix_lists_the_candidates_in_one_line(history: History):
    store = str(history.store.path)
    key = invoke("results", "--store", store).output.splitlines()[3].split()[0].split(".")[1]
    res = invoke("timeline", key, "--store", store)  # the same series in both nights
    assert res.exit_code == 2
    assert "is ambiguous: it matches" in res.output and res.output.count(key) == 3
    assert len(res.output.strip().splitlines()) == 1


def test_a_run_is_named_by_a_unique_prefix(history: History):
    run = history.store.query("SELECT max(run_id) AS r FROM runs")[0]["r"]
    res = invoke("results", run[:13], "-f", "json", "--store", str(history.store.path))
    assert res.exit_code == 0, res.output
    assert {r["run_id"] for r in json.loads(res.output)} == {run}


def test_compile_lists_its_variants_without_a_model_as_json():
    rows = json.loads(invoke("compile", "--list", "--format", "json").output)
    assert {"variant": "fp16", "source_format": "onnx"}.items() <= next(
        r for r in rows if r["variant"] == "fp16"
    ).items()


def test_compile_no_longer_takes_v_for_a_variant(tmp_path: Path, tiny):  # type: ignore[no-untyped-def]
    res = invoke("compile", str(tiny.onnx_path), "-v", "fp16", "--work", str(tmp_path))
    assert res.exit_code == 2


def test_rank_and_fleet_give_csv(history: History):
    store = str(history.store.path)
    rank = list(csv.DictReader(io.StringIO(invoke("rank", "-f", "csv", "--store", store).output)))
    assert {r["status"] for r in rank} <= {"ranked", "excluded"} and len(rank) == 2
    assert {"device", "variant", "p99_ms", "usd_per_million"} <= set(rank[0])
    fleet = invoke("fleet", "--qps", "10", "--latency-ms", "1000", "-f", "csv", "--store", store)
    rows = list(csv.DictReader(io.StringIO(fleet.output)))
    assert rows and {"devices", "monthly_usd", "qps"} <= set(rows[0])


def test_runs_shows_a_farm_failure_night_as_such(tmp_path: Path):
    h = History(Store(tmp_path / "s.duckdb"))
    pi, orin = Series(device="pi5-01", iterations=50), Series(device="orin-01", iterations=50)
    good = h.night([pi, orin])
    bad = h.night([pi, Series(device="orin-01", failed="unreachable", iterations=50)])
    for run in (good, bad):
        record_checks(h.store, evaluate_night(h.store, run))
    rows = json.loads(invoke("runs", "-f", "json", "--store", str(h.store.path)).output)
    outcome = {r["run_id"]: (r["status"], r["outcome"]) for r in rows}
    assert outcome[bad] == ("finished", "farm failed")
    assert outcome[good] == ("finished", "no regression")


TINY_PLAN = """
name: tiny-tty
models:
  - {name: cnn, generate: {size: micro, seed: 0}, variants: [fp32, fp16]}
runtimes:
  - {name: ort-cpu, runtime: onnxruntime, providers: [cpu], threads: 1}
measurement: {warmup_iterations: 2, min_iterations: 20, min_duration_s: 0.2, max_duration_s: 1}
"""


def run_in_terminal(args: list[str], cwd: Path) -> str:
    """Run a command with a real pseudo-terminal as its stdout and stderr; what it drew."""
    main, follower = pty.openpty()
    proc = subprocess.Popen(
        args, stdin=follower, stdout=follower, stderr=follower, cwd=cwd, close_fds=True
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert proc.wait(timeout=300) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.e2e
def test_a_run_on_a_terminal_shows_the_live_table_and_in_a_pipe_plain_lines(tmp_path: Path):
    (tmp_path / "plan.yaml").write_text(TINY_PLAN)
    args = [sys.executable, "-m", "rigbench", "run", "plan.yaml", "--store", "s.duckdb"]
    screen = run_in_terminal(args, tmp_path)
    assert "\x1b[" in screen and "jobs" in screen and "left" in screen
    assert "2/2" in screen.rsplit("jobs", 1)[1]  # the last frame: both jobs done
    piped = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "\x1b[" not in piped.stderr
    assert "done (1/2" in piped.stderr and "done (2/2)" in piped.stderr
