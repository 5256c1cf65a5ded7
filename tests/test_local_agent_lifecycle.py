"""The local agent's life: one per agent home, gone with its controller, restarted mid-run.

Real controller processes (``python -m rigbench run``), their real local agents, real SIGKILL,
one real DuckDB store. Before: a killed controller's agent measured on while ``run --resume``
started a second one on the same folder (one result left failed for good); two runs measured
the machine at the same time; an agent that died mid-run burned every remaining job's retries
and got the device quarantined.
"""

from __future__ import annotations

import os
import re
import select
import signal
from pathlib import Path

import pytest

from tests.builders.processes import controller, query, wait_for_line, write_plan

pytestmark = pytest.mark.e2e


def local_inventory(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "agent-home"
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        f"devices:\n  - {{name: local, class: local, local: {{home: '{home}'}}, "
        "connect_timeout_s: 10}\n"
    )
    return inv, home


def agent_pid(home: Path) -> int:
    """The pid of the agent serving ``home``, as its lock file says."""
    return int((home / "agent.lock").read_text())


def wait_gone(pid: int, timeout_s: float = 60) -> bool:
    """Wait for process ``pid`` to exit (on its pidfd, not by polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout_s)
        return bool(ready)
    finally:
        os.close(fd)


def three_jobs(tmp_path: Path) -> Path:
    return write_plan(
        tmp_path / "plan.yaml", ["fp32", "ort-basic", "ort-extended"], min_duration_s=1.5
    )


def test_a_killed_controller_takes_its_agent_along_and_resume_stores_each_result_once(tmp_path):
    inv, home = local_inventory(tmp_path)
    proc = controller(tmp_path, "run", str(three_jobs(tmp_path)), "--inventory", str(inv))
    seen = wait_for_line(proc, r"loading|warmup|measuring")  # the job runs (progress may skip)
    run_id = re.search(r"run (\S+): plan", "".join(seen)).group(1)  # type: ignore[union-attr]
    pid = agent_pid(home)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert wait_gone(pid)  # the agent did not outlive its controller
    resumed = controller(tmp_path, "run", "--resume", run_id, "--inventory", str(inv))
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    rows = query(tmp_path, "SELECT variant, count(*) FROM results GROUP BY 1 ORDER BY 1")
    assert rows == [("fp32", 1), ("ort-basic", 1), ("ort-extended", 1)]  # each exactly once
    assert query(tmp_path, "SELECT count(*) FROM jobs WHERE status <> 'done'") == [(0,)]
    assert query(tmp_path, f"SELECT status FROM runs WHERE run_id = '{run_id}'") == [("finished",)]


def test_two_runs_at_once_queue_on_the_one_local_agent_instead_of_measuring_together(tmp_path):
    inv, _ = local_inventory(tmp_path)
    plan = write_plan(tmp_path / "plan.yaml", ["fp32", "ort-basic"], min_duration_s=2.0)
    # Started together: whichever takes the agent home first measures (4 s or more); the
    # other must wait for it, not start a second agent on the same home.
    runs = [controller(tmp_path, "run", str(plan), "--inventory", str(inv)) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outs
    waited = [o for o in outs if "waiting for another run's local agent" in o]
    assert len(waited) == 1, outs
    windows = query(
        tmp_path,
        "SELECT run_id, min(measure_start_ns), max(measure_end_ns) FROM results "
        "GROUP BY run_id ORDER BY 2",
    )
    assert len(windows) == 2
    (_, _, first_end), (_, second_start, _) = windows
    assert first_end < second_start  # one device, one run at a time: never measured together
    assert query(tmp_path, "SELECT count(*) FROM results") == [(4,)]


def test_a_local_agent_that_dies_mid_run_is_restarted_and_its_job_retried(tmp_path):
    inv, home = local_inventory(tmp_path)
    proc = controller(tmp_path, "run", str(three_jobs(tmp_path)), "--inventory", str(inv))
    wait_for_line(proc, r"loading|warmup|measuring")  # the job runs (progress may skip)
    os.kill(agent_pid(home), signal.SIGKILL)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert "the local agent died; starting it again" in out
    assert "quarantined" not in out
    assert query(tmp_path, "SELECT count(*) FROM results") == [(3,)]
    attempts = sorted(a for (a,) in query(tmp_path, "SELECT attempts FROM jobs"))
    assert attempts == [1, 1, 2]  # only the job that was running is measured again
