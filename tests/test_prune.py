"""`rigbench prune`: old runs go with every sample, the file shrinks, and what nightly still
needs (its history, pinned baselines, runs going on) stays.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from rigbench.agent.profiling import OpProfile, OpRow
from rigbench.controller.cli import app
from rigbench.controller.nightly.evaluate import evaluate_night, record_checks
from rigbench.controller.store import Store
from rigbench.controller.store.db import ArtifactRecord, JobMark, JobRecord
from rigbench.controller.store.ops import insert_profiles
from rigbench.controller.store.prune import _BY_JOB, _BY_RUN, plan_prune, prune
from rigbench.controller.store.writer import BatchWriter
from tests.builders.nightly import History, Series

AT = datetime(2026, 4, 1)  # "now" for the plans: every History night is in March 2026
PI = Series(device="pi5-01", iterations=20_000)


def count(store: Store, table: str, where: str = "true") -> int:
    return int(store.query(f"SELECT count(*) AS n FROM {table} WHERE {where}")[0]["n"])


@pytest.fixture
def mixed(tmp_path: Path) -> tuple[History, list[str], list[str]]:
    """Six nightly runs of plan `nightly`, then four plain runs, one night apart."""
    h = History(Store(tmp_path / "store.duckdb"))
    nightly = [h.night([PI]) for _ in range(6)]
    plain = [h.night([PI], kind="run") for _ in range(4)]
    return h, nightly, plain


def test_old_runs_go_with_every_row_measured_in_them(mixed):
    h, nightly, plain = mixed
    plan = plan_prune(h.store, keep_days=25, keep_runs=None, nightly_history=2, at=AT)
    gone = [r.run_id for r in plan.delete]
    assert gone == nightly[:4][::-1]  # older than 25 days, beyond the last 2 nights
    result = prune(h.store, gone)
    assert result.deleted_runs == 4 and result.rows["latency_samples"] == 4 * 20_000
    for table in ("runs", "jobs", "results", "devices"):
        assert count(h.store, table, f"run_id IN {tuple(gone)}") == 0, table
    for table in ("latency_samples", "accuracy"):
        assert count(h.store, table, f"split_part(job_id, '.', 1) IN {tuple(gone)}") == 0
    assert count(h.store, "runs") == 6 and count(h.store, "latency_samples") == 6 * 20_000


def test_the_file_shrinks_and_stays_a_working_store(mixed):
    h, nightly, plain = mixed
    result = prune(h.store, nightly[:4] + plain[:1])
    assert result.bytes_after < result.bytes_before * 0.8, result
    assert h.store.path.stat().st_size == result.bytes_after
    again = Store(h.store.path)  # opens, migrations recorded, views there
    assert again.query("SELECT count(*) AS n FROM results_h") == [{"n": 5}]
    assert not [p for p in h.store.path.parent.iterdir() if p.name.startswith(".")]


def test_keep_runs_keeps_the_newest(mixed):
    h, nightly, plain = mixed
    plan = plan_prune(h.store, keep_days=None, keep_runs=3, nightly_history=0, at=AT)
    assert sorted(r.run_id for r in plan.delete) == sorted(nightly + plain[:1])


def test_the_nightly_history_is_kept_and_said_why(mixed):
    h, nightly, plain = mixed
    plan = plan_prune(h.store, keep_days=0, keep_runs=None, nightly_history=3, at=AT)
    assert sorted(r.run_id for r in plan.delete) == sorted(nightly[:3] + plain)
    assert plan.kept == {"in a nightly plan's last 3 nights": nightly[3:][::-1]}


def test_a_pinned_baseline_of_a_kept_nightly_is_kept(mixed):
    h, nightly, plain = mixed
    record_checks(h.store, evaluate_night(h.store, nightly[-1], pin=nightly[0]))
    plan = plan_prune(h.store, keep_days=0, keep_runs=None, nightly_history=1, at=AT)
    assert nightly[0] not in {r.run_id for r in plan.delete}
    assert plan.kept["a kept nightly's baseline or canary"] == [nightly[0]]


def test_a_run_going_on_is_never_deleted(tmp_path: Path):
    h = History(Store(tmp_path / "s.duckdb"))
    going = h.night([PI], kind="run", status="running")
    plan = plan_prune(h.store, keep_days=0, keep_runs=0, nightly_history=0, at=AT)
    assert plan.delete == [] and plan.kept == {"still running": [going]}


def test_cli_dry_run_deletes_nothing_and_a_real_one_reports_the_space(mixed):
    h, nightly, plain = mixed
    store = ["--store", str(h.store.path)]
    dry = CliRunner().invoke(app, ["prune", "--keep-runs", "2", "--dry-run", "-f", "json", *store])
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.output)
    assert [r["run_id"] for r in planned["delete"]] == plain[:2][::-1]
    assert planned["kept"] == {"in a nightly plan's last 60 nights": nightly[::-1]}
    assert count(h.store, "runs") == 10
    real = CliRunner().invoke(app, ["prune", "--keep-runs", "2", *store])
    assert real.exit_code == 0, real.output
    assert "deleted 2 run(s)" in real.output and " MB -> " in real.output
    assert "kept 6 old run(s): in a nightly plan's last 60 nights" in real.output
    assert count(h.store, "runs") == 8


def test_cli_without_anything_to_keep_is_refused(mixed):
    h, _, _ = mixed
    res = CliRunner().invoke(app, ["prune", "--store", str(h.store.path)])  # keep what?
    assert res.exit_code == 2 and "say what to keep" in res.output


def test_a_run_writing_meanwhile_lets_prune_in_and_goes_on_in_the_compact_file(mixed):
    h, nightly, plain = mixed
    h.store.record_jobs(
        [JobRecord("live", plain[-1], "k", "d", "m", "v", "a", "o", "ort", "s", "{}")]
    )
    writer = BatchWriter(h.store, max_delay_s=3600, release_every_s=3600, poll_s=0.1)

    async def run() -> subprocess.CompletedProcess[bytes]:
        async with writer.running():
            writer.mark(JobMark("live", "running", attempts=1))
            await writer.flush_async()  # the run holds the file
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "rigbench", "prune", "--keep-runs", "3",
                "--store", str(h.store.path),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            writer.mark(JobMark("live", "done"))  # written after prune, to the new file
            return subprocess.CompletedProcess([], proc.returncode or 0, out, err)

    done = asyncio.run(run())
    assert done.returncode == 0, done.stderr.decode()
    con = duckdb.connect(str(h.store.path), read_only=True)
    try:
        assert con.execute("SELECT status FROM jobs WHERE job_id = 'live'").fetchall() == [
            ("done",)
        ]
        runs = {r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()}
        assert plain[0] not in runs and len(runs) == 9  # 6 nightly history + the 3 newest
    finally:
        con.close()


def test_operator_profiles_go_with_their_runs_and_an_ir_keeps_its_weights(mixed):
    h, nightly, plain = mixed
    jobs = h.store.query("SELECT job_id, run_id FROM jobs ORDER BY run_id")
    row = OpRow("conv0", "Conv", "CPUExecutionProvider", "", 3, 900)
    with h.store.transaction() as con:
        insert_profiles(con, [(j["job_id"], OpProfile("CPU", 3, 1000, [row])) for j in jobs])
    for name, run_id in (("old", nightly[0]), ("new", plain[-1])):
        xml, weights = f"{name}-xml".ljust(64, "0"), f"{name}-bin".ljust(64, "0")
        h.store.record_artifact(ArtifactRecord(xml, "openvino-ir", 10, "m", "openvino-ir"))
        h.store.record_artifact(
            ArtifactRecord(weights, "openvino-ir companion", 99, "m", "openvino-ir",
                           source_sha256=xml, transform="companion")
        )  # fmt: skip
        with h.store.transaction() as con:
            con.execute("UPDATE jobs SET artifact_sha256 = ? WHERE run_id = ?", [xml, run_id])
    gone = nightly[:4]
    result = prune(h.store, gone)
    assert result.rows["op_rows"] == result.rows["op_profiles"] == 4
    for table in ("op_rows", "op_profiles"):
        assert count(h.store, table, f"split_part(job_id, '.', 1) IN {tuple(gone)}") == 0
        assert count(h.store, table) == len(jobs) - 4
    kept = {r["sha256"][:7] for r in h.store.query("SELECT sha256 FROM artifacts")}
    assert {"new-xml", "new-bin"} <= kept and not {"old-xml", "old-bin"} & kept


def test_every_table_of_a_run_is_pruned(tmp_path: Path):
    """A table keyed by job or run (load points and samples too) goes with its run: nothing is
    left behind pointing at a run that is gone.
    """
    store = Store(tmp_path / "store.duckdb")
    keyed = store.query(
        "SELECT DISTINCT table_name FROM information_schema.columns WHERE column_name IN "
        "('job_id', 'run_id') AND table_name IN (SELECT table_name FROM "
        "information_schema.tables WHERE table_type = 'BASE TABLE')"
    )
    assert {r["table_name"] for r in keyed} == {*_BY_JOB, *_BY_RUN, "runs"}
