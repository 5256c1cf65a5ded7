"""Open, migrate and write the DuckDB store.

DuckDB lets one process write a file at a time. Short commands open the file only for the
moment of each transaction; a run's writer keeps it between batches and hands it over when
another process waits for it (``handoff.py``), so ``rigbench results`` can read while a long
run is going. A run is never half-written: each batch of results lands in one transaction.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from rigbench import __version__
from rigbench.agent.profiling import OpProfile
from rigbench.context import RunContext
from rigbench.context import current as current_context
from rigbench.controller.store.handoff import Holder, holding, lock_holder, waiting_for
from rigbench.controller.store.load import LOAD_POINT_COLUMNS, LoadRecord
from rigbench.controller.store.migrations import MIGRATIONS
from rigbench.errors import StoreError

if TYPE_CHECKING:
    import numpy as np

LOCK_WAIT_S = 30.0
# Columns of an accuracy row, as the dicts in ResultRecord.accuracy name them.
ACCURACY_COLUMNS = (
    "output",
    "max_abs_err",
    "mean_abs_err",
    "cosine_similarity",
    "top1_agreement",
    "top5_agreement",
    "n_samples",
    "within_tolerance",
    "reasons",
    "max_rel_err",
    "snr_db",
    "kind",
    "kind_source",
    "unknown_reason",
    "tolerance_json",
    "kernel_family",
    "task_top1",
    "task_top5",
    "task_metric",
    "task_metric_name",
    "ref_task_top1",
    "ref_task_top5",
    "ref_task_metric",
    "n_labelled",
)
# A holder that is not rigbench never hands the file over; this much only, in case it is a
# one-off query about to end.
FOREIGN_WAIT_S = 2.0
WRITER_CONFIG = {"threads": 1}


def now() -> datetime:
    """UTC wall time, naive: columns are TIMESTAMP in UTC (no pytz needed to read them)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class ArtifactRecord:
    sha256: str
    format: str
    size_bytes: int
    model: str | None = None
    variant: str | None = None
    source_sha256: str | None = None
    transform: str | None = None
    params: dict[str, Any] | None = None
    tool_versions: dict[str, str] | None = None
    compile_ms: float | None = None
    path: str | None = None


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    run_id: str
    job_key: str
    device: str
    model: str
    variant: str
    artifact_sha256: str
    runtime_name: str
    runtime: str
    scenario: str
    spec_json: str


@dataclass(frozen=True)
class JobMark:
    """A change of a job's status (running, failed ...), applied in order.

    ``at`` is when it happened, not when its batch reaches the file: a job that starts and
    ends within one batch still has its real start and end times.
    """

    job_id: str
    status: str
    attempts: int | None = None
    error_kind: str | None = None
    error_message: str | None = None
    at: datetime = field(default_factory=now)


@dataclass(frozen=True)
class ResultRecord:
    """One job's result row with its per-iteration latencies, telemetry and accuracy."""

    row: dict[str, Any]
    latencies_ns: np.ndarray
    telemetry: Sequence[tuple[int, str, str, float]] = ()
    gaps: Sequence[tuple[int, str, str]] = ()
    accuracy: Sequence[dict[str, Any]] = ()
    op_profile: OpProfile | None = None  # per-operator rows (store/ops.py)
    load: LoadRecord | None = None  # offline and server jobs: every load point and request


@dataclass(frozen=True)
class DeviceRecord:
    """A device as its agent described itself for one run."""

    run_id: str
    device: str
    device_class: str
    tags: tuple[str, ...]
    transport: str
    description: dict[str, Any] | None
    cost: dict[str, Any] | None


def _emulated(description: dict[str, Any] | None) -> bool:
    """Whether the agent said it runs under user-mode emulation (Describe's ``emulation``)."""
    return bool((description or {}).get("emulation"))


def _device_row(d: DeviceRecord) -> dict[str, Any]:
    """A ``devices`` row: the one place its columns are written."""

    def js(v: Any) -> str | None:
        return json.dumps(v) if v is not None else None

    description = d.description or {}
    return {
        "run_id": d.run_id,
        "device": d.device,
        "device_class": d.device_class,
        "tags_json": json.dumps(list(d.tags)),
        "transport": d.transport,
        "description_json": js(d.description),
        "fingerprint_json": js(description.get("fingerprint")),
        "simulated": bool(description.get("simulated", False)),
        "cost_json": js(d.cost),
        "emulated": _emulated(d.description),
    }


_BOOL_COLUMNS = ("simulated", "emulated")


def _record_devices(con: duckdb.DuckDBPyConnection, devices: Sequence[DeviceRecord]) -> None:
    """Record (or replace) each run's device rows; the last description of a device wins.

    One row is one statement; many are two (one row at a time costs ~1.6 ms each).
    """
    import numpy as np  # only writers need it: readers start faster

    latest = {(d.run_id, d.device): d for d in devices}
    rows = [_device_row(d) for d in latest.values()]
    if not rows:
        return
    cols = ", ".join(rows[0])
    if len(rows) == 1:
        marks = ", ".join("?" for _ in rows[0])
        con.execute(
            f"INSERT OR REPLACE INTO devices ({cols}) VALUES ({marks})", list(rows[0].values())
        )
        return
    con.register(
        "_dev",
        {
            c: np.asarray([r[c] for r in rows], dtype=bool if c in _BOOL_COLUMNS else object)
            for c in rows[0]
        },
    )
    con.execute(
        "DELETE FROM devices USING _dev "
        "WHERE devices.run_id = _dev.run_id AND devices.device = _dev.device"
    )
    con.execute(f"INSERT INTO devices ({cols}) SELECT {cols} FROM _dev")
    con.unregister("_dev")


def _mark_job(con: duckdb.DuckDBPyConnection, m: JobMark) -> None:
    _mark_jobs(con, [m])


def _mark_jobs(con: duckdb.DuckDBPyConnection, marks: Sequence[JobMark]) -> None:
    """Fold the marks per job (last status wins) and apply them in one UPDATE."""
    import numpy as np  # only writers need it: readers start faster

    if not marks:
        return
    folded: dict[str, dict[str, Any]] = {}
    for m in marks:
        f = folded.setdefault(m.job_id, {"attempts": None, "started_at": None})
        f.update(status=m.status, error_kind=m.error_kind, error_message=m.error_message)
        if m.attempts is not None:
            f["attempts"] = m.attempts
        if m.status == "running":
            f["started_at"] = m.at
        f["finished_at"] = None if m.status == "running" else m.at
    ids = list(folded)
    con.register(
        "_marks",
        {
            "job_id": np.asarray(ids, dtype=object),
            "status": np.asarray([folded[i]["status"] for i in ids], dtype=object),
            "attempts": np.asarray([folded[i]["attempts"] for i in ids], dtype=object),
            "error_kind": np.asarray([folded[i]["error_kind"] for i in ids], dtype=object),
            "error_message": np.asarray([folded[i]["error_message"] for i in ids], dtype=object),
            "started_at": np.asarray([folded[i]["started_at"] for i in ids], dtype=object),
            "finished_at": np.asarray([folded[i]["finished_at"] for i in ids], dtype=object),
        },
    )
    con.execute(
        "UPDATE jobs SET status = m.status, "
        "attempts = coalesce(CAST(m.attempts AS INTEGER), jobs.attempts), "
        "error_kind = m.error_kind, error_message = m.error_message, "
        "started_at = coalesce(CAST(m.started_at AS TIMESTAMP), jobs.started_at), "
        "finished_at = CAST(m.finished_at AS TIMESTAMP) "
        "FROM _marks m WHERE jobs.job_id = m.job_id"
    )
    con.unregister("_marks")


def _first_per_job(
    results: Sequence[ResultRecord], stored: frozenset[str] = frozenset()
) -> list[ResultRecord]:
    seen = set(stored)
    out = []
    for r in results:
        if r.row["job_id"] not in seen:
            seen.add(r.row["job_id"])
            out.append(r)
    return out


def _without_stored(
    con: duckdb.DuckDBPyConnection, results: Sequence[ResultRecord]
) -> list[ResultRecord]:
    ids = [r.row["job_id"] for r in results]
    if not ids:
        return []
    stored = con.execute(
        "SELECT job_id FROM results WHERE job_id IN (SELECT unnest(?::VARCHAR[]))", [ids]
    ).fetchall()
    return _first_per_job(results, frozenset(r[0] for r in stored))


def _write_batch(
    con: duckdb.DuckDBPyConnection,
    marks: Sequence[JobMark],
    fresh: Sequence[ResultRecord],
    devices: Sequence[DeviceRecord],
) -> int:
    with _transaction(con):
        _record_devices(con, devices)
        done = [
            JobMark(r.row["job_id"], "done", at=r.row.get("created_at") or now()) for r in fresh
        ]
        _mark_jobs(con, [*marks, *done])  # one UPDATE for every status change
        if fresh:
            _insert_results(con, fresh)
    return len(fresh)


@contextlib.contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Commit the block's writes, or roll all of them back if it raises."""
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()


def _insert_results(con: duckdb.DuckDBPyConnection, results: Sequence[ResultRecord]) -> None:
    """Insert rows and samples of many results with one statement per table."""
    import numpy as np  # only writers need it: readers start faster

    cols = list(results[0].row)
    if len(results) == 1:
        con.execute(
            f"INSERT INTO results ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            [results[0].row.get(c) for c in cols],
        )
    else:  # one vectorized insert: executemany prepares a statement per row
        con.register(
            "_res", {c: np.asarray([r.row.get(c) for r in results], dtype=object) for c in cols}
        )
        con.execute(f"INSERT INTO results ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _res")
        con.unregister("_res")
    lat = [np.asarray(r.latencies_ns, dtype=np.int64) for r in results]
    if sum(len(x) for x in lat):
        con.register(
            "_lat",
            {
                "job_id": np.concatenate(
                    [np.full(len(x), r.row["job_id"], dtype=object) for r, x in zip(results, lat)]
                ),
                "iteration": np.concatenate([np.arange(len(x), dtype=np.int32) for x in lat]),
                "latency_ns": np.concatenate(lat),
            },
        )
        con.execute("INSERT INTO latency_samples SELECT * FROM _lat")
        con.unregister("_lat")
    tel = [(r.row["job_id"], *t) for r in results for t in r.telemetry]
    if tel:
        con.register(
            "_tel",
            {
                "job_id": np.asarray([t[0] for t in tel], dtype=object),
                "t_ns": np.asarray([t[1] for t in tel], dtype=np.int64),
                "sensor": np.asarray([t[2] for t in tel], dtype=object),
                "metric": np.asarray([t[3] for t in tel], dtype=object),
                "value": np.asarray([t[4] for t in tel], dtype=np.float64),
            },
        )
        con.execute("INSERT INTO telemetry_samples SELECT * FROM _tel")
        con.unregister("_tel")
    gaps = [[r.row["job_id"], *g] for r in results for g in r.gaps]
    if gaps:
        con.executemany("INSERT INTO telemetry_gaps VALUES (?, ?, ?, ?)", gaps)
    acc = [
        [r.row["job_id"], a["output"], *(a.get(c) for c in ACCURACY_COLUMNS[1:])]
        for r in results
        for a in r.accuracy
    ]
    if acc:
        names = ", ".join(("job_id", *ACCURACY_COLUMNS))
        marks = ", ".join("?" * (len(ACCURACY_COLUMNS) + 1))
        con.executemany(f"INSERT INTO accuracy ({names}) VALUES ({marks})", acc)
    profiles = [(r.row["job_id"], r.op_profile) for r in results if r.op_profile is not None]
    if profiles:
        from rigbench.controller.store.ops import insert_profiles

        insert_profiles(con, profiles)
    _insert_load(con, results)


def _insert_load(con: duckdb.DuckDBPyConnection, results: Sequence[ResultRecord]) -> None:
    """Every load point of offline and server jobs, and every served request of each."""
    import numpy as np  # only writers need it: readers start faster

    loads = [(r.row["job_id"], r.load) for r in results if r.load is not None]
    points = [p for _, rec in loads for p in rec.points]
    if not points:
        return
    con.register(
        "_lp",
        {c: np.asarray([p.get(c) for p in points], dtype=object) for c in LOAD_POINT_COLUMNS},
    )
    cols = ", ".join(LOAD_POINT_COLUMNS)
    con.execute(f"INSERT INTO load_points ({cols}) SELECT {cols} FROM _lp")
    con.unregister("_lp")
    per = [(job, i, lat) for job, rec in loads for i, lat in enumerate(rec.samples) if lat.size]
    if per:
        con.register(
            "_ls",
            {
                "job_id": np.concatenate([np.full(x.size, j, dtype=object) for j, _, x in per]),
                "point": np.concatenate([np.full(x.size, i, dtype=np.int32) for _, i, x in per]),
                "request": np.concatenate([np.arange(x.size, dtype=np.int32) for *_, x in per]),
                "latency_ns": np.concatenate([x for *_, x in per]),
            },
        )
        con.execute("INSERT INTO load_samples SELECT * FROM _ls")
        con.unregister("_ls")


# A bug in rigbench's SQL (or a constraint it relies on) stays what it is; anything else from
# DuckDB while a connection is in use is the file's doing (truncated, damaged, disk gone).
_OUR_OWN_ERRORS = (duckdb.ProgrammingError, duckdb.IntegrityError, duckdb.DataError)


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


class Store:
    def __init__(self, path: Path, lock_wait_s: float = LOCK_WAIT_S, create: bool = True):
        """Open (and migrate) the store; ``create=False`` refuses to make a missing one."""
        self.path = path
        self.lock_wait_s = lock_wait_s  # how long to wait while another process has the file
        self._held: duckdb.DuckDBPyConnection | None = None  # while ``reading``
        try:
            if path.is_dir():
                raise StoreError(f"the store {path} is a folder, not a DuckDB file")
            if not create and not path.is_file():
                raise StoreError(
                    f"no store at {path}: run `rigbench run plans/demo.yaml` (or `make demo`) "
                    "first, or point --store (or RIGBENCH_STORE) at one"
                )
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot use {path} as the store: {e.strerror or e}") from e
        self.migrate()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Store]:
        """Keep one read-only connection for a block of reads (a command's report).

        Each open costs milliseconds of CPU; a command that asks several questions asks them
        on one connection. A writer waits for the block as it waits for any reader.
        """
        if self._held is not None:
            yield self
            return
        with self._open(read_only=True) as con:
            self._held = con
            try:
                yield self
            finally:
                self._held = None

    @contextlib.contextmanager
    def connect(
        self, read_only: bool = False, config: dict[str, Any] | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection (or the one ``reading`` holds); waits for a writer."""
        if self._held is not None:
            yield self._held
            return
        with self._open(read_only, config) as con:
            yield con

    @contextlib.contextmanager
    def _open(
        self, read_only: bool, config: dict[str, Any] | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        with holding(self.path), self._connect(read_only, config) as con:
            yield con

    @contextlib.contextmanager
    def _connect(
        self, read_only: bool, config: dict[str, Any] | None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Connect, waiting while a rigbench process holds the file (and asking it to let go).

        A holder that is not rigbench (a notebook, the DuckDB shell) never lets go: after
        ``FOREIGN_WAIT_S`` the error names it.
        """
        start = time.monotonic()
        with contextlib.ExitStack() as waiting:  # closed once served: we no longer wait
            asked = False
            while True:
                try:
                    con = duckdb.connect(str(self.path), read_only=read_only, config=config or {})
                    break
                except duckdb.IOException as e:
                    if "lock" not in str(e).lower():
                        raise StoreError(
                            f"cannot open the store {self.path}: {_first_line(e)} "
                            "(is it a rigbench store? a damaged or truncated file?)"
                        ) from e
                    holder = lock_holder(self.path, str(e))
                    waited = time.monotonic() - start
                    if holder is not None and not holder.rigbench:
                        if waited > min(FOREIGN_WAIT_S, self.lock_wait_s):
                            raise StoreError(self._foreign(holder, read_only)) from e
                    elif waited > self.lock_wait_s:
                        raise StoreError(self._kept(holder, e)) from e
                    if not asked:  # ask a run's writer to let go (see handoff.py)
                        waiting.enter_context(waiting_for(self.path))
                        asked = True
                    time.sleep(0.1)
                except duckdb.Error as e:
                    raise StoreError(f"cannot open the store {self.path}: {_first_line(e)}") from e
        try:
            yield con
        except duckdb.Error as e:
            if isinstance(e, _OUR_OWN_ERRORS):
                raise
            raise StoreError(
                f"the store {self.path} cannot be read or written: {_first_line(e)} "
                "(a damaged or truncated file?)"
            ) from e
        finally:
            con.close()

    def _foreign(self, holder: Holder, read_only: bool) -> str:
        return (
            f"{holder} holds the store {self.path} and, not being rigbench, never hands it "
            f"over: rigbench cannot {'read' if read_only else 'write'} it until that process "
            "closes its connection (from a notebook, read a copy instead: `rigbench snapshot "
            "FILE`, `rigbench sql`, or the Parquet export; see docs/schema.md)"
        )

    def _kept(self, holder: Holder | None, e: Exception) -> str:
        who = f"rigbench {holder}" if holder is not None else "another process"
        return (
            f"cannot open the store {self.path}: {who} kept it for over "
            f"{self.lock_wait_s:.0f} s; wait for it to finish and try again ({e})"
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction. Writes are small: one DuckDB thread does them fastest."""
        with self.connect(config=WRITER_CONFIG) as con, _transaction(con):
            yield con

    def _up_to_date(self) -> bool:
        """True when the file has every migration: checked read-only, so that a reader open
        elsewhere (a notebook) does not stop read commands.
        """
        if not self.path.is_file():
            return False
        with self.connect(read_only=True) as con:
            found = con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations' "
                "AND schema_name = 'main'"
            ).fetchone()
            if not found or not found[0]:
                return False
            done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
        self._refuse_newer(done)
        return done >= set(range(1, len(MIGRATIONS) + 1))

    def _refuse_newer(self, done: set[int]) -> None:
        newer = [v for v in done if v > len(MIGRATIONS)]
        if newer:
            raise StoreError(
                f"{self.path} has schema version {max(newer)}, newer than this "
                f"rigbench ({len(MIGRATIONS)}); upgrade rigbench"
            )

    def migrate(self) -> list[str]:
        """Apply migrations not yet recorded; returns the names applied."""
        if self._up_to_date():
            return []
        applied: list[str] = []
        with self.connect() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMP NOT NULL)"
            )
            done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
            for version, (name, sql) in enumerate(MIGRATIONS, start=1):
                if version in done:
                    continue
                con.begin()
                try:
                    con.execute(sql)
                    con.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, now()]
                    )
                except duckdb.Error as e:
                    con.rollback()
                    raise StoreError(f"migration {name} failed on {self.path}: {e}") from e
                con.commit()
                applied.append(name)
            self._refuse_newer(done)
        return applied

    def schema_version(self) -> int:
        with self.connect(read_only=True) as con:
            row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
            return int(row[0]) if row and row[0] is not None else 0

    # --- writes -------------------------------------------------------------------------------
    def begin_run(
        self,
        run_id: str,
        kind: str,
        plan_name: str | None,
        plan_json: str | None,
        plan_digest: str | None,
        context: RunContext | None = None,
    ) -> None:
        """Record a run as running, with the code it measures (default: CI's or the flags')."""
        ctx = context if context is not None else current_context()
        with self.transaction() as con:
            con.execute(
                "INSERT INTO runs (run_id, kind, plan_name, plan_json, plan_digest, status, "
                "started_at, controller_version, git_sha, git_branch, pull_request, ci) "
                "VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                [
                    run_id, kind, plan_name, plan_json, plan_digest, now(), __version__,
                    ctx.git_sha, ctx.git_branch, ctx.pull_request, ctx.ci,
                ],
            )  # fmt: skip

    def finish_run(self, run_id: str, status: str, note: str | None = None) -> None:
        with self.transaction() as con:
            con.execute(
                "UPDATE runs SET status = ?, finished_at = ?, note = ? WHERE run_id = ?",
                [status, now(), note, run_id],
            )

    def record_artifact(self, a: ArtifactRecord) -> None:
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM artifacts WHERE sha256 = ?", [a.sha256]).fetchone():
                return
            con.execute(
                "INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    a.sha256,
                    a.format,
                    a.size_bytes,
                    a.model,
                    a.variant,
                    a.source_sha256,
                    a.transform,
                    json.dumps(a.params) if a.params is not None else None,
                    json.dumps(a.tool_versions) if a.tool_versions is not None else None,
                    a.compile_ms,
                    a.path,
                    now(),
                ],
            )

    def record_jobs(self, jobs: Sequence[JobRecord]) -> None:
        with self.transaction() as con:
            for j in jobs:
                if con.execute("SELECT 1 FROM jobs WHERE job_id = ?", [j.job_id]).fetchone():
                    continue
                con.execute(
                    "INSERT INTO jobs (job_id, run_id, job_key, device, model, variant, "
                    "artifact_sha256, runtime_name, runtime, scenario, spec_json, status) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                    [
                        j.job_id,
                        j.run_id,
                        j.job_key,
                        j.device,
                        j.model,
                        j.variant,
                        j.artifact_sha256,
                        j.runtime_name,
                        j.runtime,
                        j.scenario,
                        j.spec_json,
                    ],
                )

    def mark_job(
        self,
        job_id: str,
        status: str,
        attempts: int | None = None,
        error_kind: str | None = None,
        error_message: str | None = None,
    ) -> None:
        with self.transaction() as con:
            _mark_job(con, JobMark(job_id, status, attempts, error_kind, error_message))

    def write_batch(
        self,
        marks: Sequence[JobMark],
        results: Sequence[ResultRecord],
        devices: Sequence[DeviceRecord] = (),
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> int:
        """Record devices, apply job marks, store results, in one transaction.

        Returns the number of results stored: a result whose job already has one is skipped,
        so re-attaching and storing again after a resume stores each result exactly once.
        Results are first inserted as they come (``results.job_id`` is the primary key, so a
        duplicate cannot slip in); only when that fails is the batch written again without
        the stored ones, which saves a query per batch on the common path.
        ``con`` is a connection the caller keeps open (see ``open_writer``).
        """
        with contextlib.ExitStack() as stack:
            if con is None:
                con = stack.enter_context(self.connect(config=WRITER_CONFIG))
            try:
                return _write_batch(con, marks, _first_per_job(results), devices)
            except duckdb.ConstraintException:  # some job has a result already
                return _write_batch(con, marks, _without_stored(con, results), devices)

    def open_writer(self) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A write connection the caller keeps across transactions (opening one costs ~20 ms)."""
        return self._open(read_only=False, config=WRITER_CONFIG)

    # --- reads --------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.connect(read_only=True) as con:
            cur = con.execute(sql, list(params))
            names = [d[0] for d in cur.description or []]
            return [dict(zip(names, r)) for r in cur.fetchall()]
