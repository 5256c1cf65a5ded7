"""Analysis while runs go on: `rigbench sql`, `rigbench snapshot`, and who holds the store.

Real processes throughout: a run's writer in this process, `rigbench` commands as
subprocesses, and a "notebook" that is a Python process holding its own DuckDB connection.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from rigbench.controller.cli import app
from rigbench.controller.store import Store
from rigbench.controller.store.db import JobMark, JobRecord
from rigbench.controller.store.handoff import holding, lock_holder
from rigbench.controller.store.writer import BatchWriter
from rigbench.errors import StoreError
from tests.builders.store import job, store_one

NOTEBOOK = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print(con.execute("SELECT count(*) FROM results").fetchone()[0], flush=True)
sys.stdin.read()  # keep the connection until the test closes stdin
con.close()
"""


def rigbench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rigbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "store.duckdb")
    s.begin_run("run-1", "run", "p", "{}", "d")
    s.record_jobs([job()])
    store_one(s)
    return s


class Notebook:
    """A Python process holding a DuckDB connection to the store, as a notebook does."""

    def __init__(self, path: Path, read_only: bool):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", NOTEBOOK, str(path), "ro" if read_only else "rw"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "1"
        self.comm = Path(f"/proc/{self.proc.pid}/comm").read_text().strip()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def notebook(store: Store) -> Iterator[type[Notebook]]:
    opened: list[Notebook] = []

    def open_(read_only: bool) -> Notebook:
        nb = Notebook(store.path, read_only)
        opened.append(nb)
        return nb

    yield open_  # type: ignore[misc]
    for nb in opened:
        nb.close()


# --- rigbench sql -----------------------------------------------------------------------------


def test_sql_prints_a_table_with_a_row_count(store: Store):
    res = CliRunner().invoke(
        app, ["sql", "SELECT job_id, p50_ns FROM results", "--store", str(store.path)]
    )
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].split() == ["job_id", "p50_ns"]
    assert "job-1" in res.output and res.output.rstrip().endswith("(1 row)")


def test_sql_json_and_csv_keep_every_column(store: Store):
    q = "SELECT job_id, 1 AS n, 2 AS n FROM results"
    as_json = CliRunner().invoke(app, ["sql", q, "-f", "json", "--store", str(store.path)])
    assert json.loads(as_json.output) == [{"job_id": "job-1", "n": 1, "n_2": 2}]
    as_csv = CliRunner().invoke(app, ["sql", q, "-f", "csv", "--store", str(store.path)])
    assert list(csv.reader(io.StringIO(as_csv.output))) == [
        ["job_id", "n", "n_2"],
        ["job-1", "1", "2"],
    ]


def test_sql_reads_the_query_from_stdin(store: Store):
    res = CliRunner().invoke(
        app, ["sql", "-", "-f", "json", "--store", str(store.path)], input="SELECT 41 + 1 AS x"
    )
    assert json.loads(res.output) == [{"x": 42}]


@pytest.mark.parametrize(
    "query, message",
    [
        ("DELETE FROM results", "read-only mode"),
        ("SELEC 1", "syntax error"),
        ("SELECT * FROM no_such_table", "no_such_table"),
        ("   ", "give a SQL statement"),
    ],
)
def test_sql_errors_are_one_line_and_write_nothing(store: Store, query: str, message: str):
    res = CliRunner().invoke(app, ["sql", query, "--store", str(store.path)])
    assert res.exit_code == 2
    assert message in res.output and len(res.output.strip().splitlines()) == 1
    assert store.query("SELECT count(*) AS n FROM results") == [{"n": 1}]


def test_sql_gets_in_while_a_run_holds_the_store(store: Store):
    """The run's writer keeps the file between batches and lets `sql` in when it asks."""
    store.record_jobs([JobRecord("j2", "run-1", "k", "d", "m", "v", "a", "o", "ort", "s", "{}")])
    writer = BatchWriter(store, max_delay_s=3600, release_every_s=3600, poll_s=0.1)

    async def run() -> tuple[int, bytes, bytes]:
        async with writer.running():
            writer.mark(JobMark("j2", "running", attempts=1))
            await writer.flush_async()  # the run holds the file and has nothing pending
            query = "SELECT status FROM jobs WHERE job_id = 'j2'"
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "rigbench", "sql", query, "-f", "json",
                "--store", str(store.path),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            return proc.returncode or 0, out, err

    code, out, err = asyncio.run(run())
    assert code == 0, err.decode()
    assert json.loads(out) == [{"status": "running"}]


# --- rigbench snapshot ------------------------------------------------------------------------


def test_snapshot_is_a_store_of_its_own_with_the_views(store: Store, tmp_path: Path):
    snap = tmp_path / "nb" / "analysis.duckdb"
    res = CliRunner().invoke(app, ["snapshot", str(snap), "--store", str(store.path)])
    assert res.exit_code == 0, res.output
    con = duckdb.connect(str(snap), read_only=True)
    try:
        assert con.execute("SELECT job_id, p50_ms FROM results_h").fetchall() == [
            ("job-1", 150.0 / 1e6)
        ]
    finally:
        con.close()
    again = CliRunner().invoke(app, ["results", "--store", str(snap), "-f", "json"])
    assert json.loads(again.output)[0]["job_id"] == "job-1"
    assert [p.name for p in snap.parent.iterdir()] == ["analysis.duckdb"]  # no temporary left


def test_snapshot_replaces_an_older_one_a_notebook_still_reads(store: Store, tmp_path: Path):
    snap = tmp_path / "analysis.duckdb"
    assert (
        CliRunner().invoke(app, ["snapshot", str(snap), "--store", str(store.path)]).exit_code == 0
    )
    reader = duckdb.connect(str(snap), read_only=True)
    try:
        res = CliRunner().invoke(app, ["snapshot", str(snap), "--store", str(store.path)])
        assert res.exit_code == 0, res.output
        assert reader.execute("SELECT count(*) FROM results").fetchone() == (1,)
    finally:
        reader.close()


def test_snapshot_onto_the_store_itself_is_refused(store: Store):
    res = CliRunner().invoke(app, ["snapshot", str(store.path), "--store", str(store.path)])
    assert res.exit_code == 2 and "is the store itself" in res.output


# --- a notebook holding the store -------------------------------------------------------------


def test_a_read_only_notebook_does_not_stop_read_commands(store: Store, notebook):
    notebook(read_only=True)
    res = rigbench("results", "-f", "json", "--store", str(store.path))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[0]["job_id"] == "job-1"
    res = rigbench("sql", "SELECT count(*) AS n FROM results_h", "-f", "csv",
                   "--store", str(store.path))  # fmt: skip
    assert res.returncode == 0 and res.stdout.splitlines() == ["n", "1"], res.stderr


def test_a_write_under_a_read_only_notebook_names_the_notebook_at_once(store: Store, notebook):
    nb = notebook(read_only=True)
    waiting = Store(store.path, lock_wait_s=600)  # a rigbench holder would be waited for
    with pytest.raises(StoreError) as err:
        waiting.mark_job("job-1", "failed")
    msg = str(err.value)
    assert f"process {nb.proc.pid} ({nb.comm}) holds the store {store.path}" in msg
    assert "cannot write it" in msg and "rigbench snapshot" in msg
    assert "another rigbench process" not in msg


def test_a_read_write_notebook_is_named_when_a_read_command_cannot_open(store: Store, notebook):
    nb = notebook(read_only=False)
    res = rigbench("results", "--store", str(store.path))
    assert res.returncode == 2
    assert f"process {nb.proc.pid} ({nb.comm}) holds the store" in res.stderr
    assert "cannot read it" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


# --- who holds the lock -----------------------------------------------------------------------

LOCK_ERROR = (
    'IO Error: Could not set lock on file "{db}": Conflicting lock is held in '
    "/usr/bin/python3.11 (PID {pid}). However, you would be able to open this database in "
    "read-only mode"
)


def test_a_holder_that_left_its_open_file_is_rigbench(tmp_path: Path):
    db = tmp_path / "s.duckdb"
    with holding(db):
        holder = lock_holder(db, LOCK_ERROR.format(db=db, pid=os.getpid()))
    assert holder is not None and holder.rigbench and holder.pid == os.getpid()
    assert holder.name == Path("/proc/self/comm").read_text().strip()
    assert not list(tmp_path.iterdir())  # the open file goes with the last connection


def test_an_open_file_left_by_a_dead_process_does_not_vouch_for_a_reused_pid(tmp_path: Path):
    db = tmp_path / "s.duckdb"
    stale = tmp_path / f"s.duckdb.open-{os.getpid()}"
    stale.write_text("1")  # started at another time: the pid was someone else's then
    holder = lock_holder(db, LOCK_ERROR.format(db=db, pid=os.getpid()))
    assert holder is not None and not holder.rigbench
    assert not stale.exists()


def test_a_lock_error_naming_no_holder_gives_none(tmp_path: Path):
    assert lock_holder(tmp_path / "s.duckdb", "IO Error: Could not set lock on file") is None


def test_the_program_named_by_duckdb_stands_in_when_proc_is_unreadable(tmp_path: Path):
    holder = lock_holder(tmp_path / "s.duckdb", LOCK_ERROR.format(db="x", pid=2**22 + 12345))
    assert holder is not None and holder.name == "python3.11" and not holder.rigbench


# --- read commands never create a store -------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["results"],
        ["runs"],
        ["timeline", "abc"],
        ["rank"],
        ["sql", "SELECT 1"],
        ["snapshot", "x.duckdb"],
        ["export", "--parquet", "lake"],
    ],
)
def test_read_commands_never_create_a_store_or_its_folder(tmp_path: Path, args: list[str]):
    missing = tmp_path / "typo" / "x.duckdb"
    res = CliRunner().invoke(app, [*args, "--store", str(missing)])
    assert res.exit_code == 2
    assert f"no store at {missing}" in res.output
    assert not missing.parent.exists()


def test_sql_json_keeps_numbers_dates_and_json_values_typed(store: Store):
    q = (
        "SELECT 1.5 AS d, DATE '2026-03-02' AS day, INTERVAL 3 SECOND AS i, "
        "'[1, 2]'::JSON AS j, 'nan'::DOUBLE AS n"
    )
    res = CliRunner().invoke(app, ["sql", q, "-f", "json", "--store", str(store.path)])
    assert json.loads(res.output) == [
        {"d": 1.5, "day": "2026-03-02", "i": 3.0, "j": [1, 2], "n": None}
    ]
