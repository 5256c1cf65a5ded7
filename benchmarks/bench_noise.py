"""Measurement truth under a busy neighbour: interval coverage, compare, and the old nightly.

For each background load level, which this benchmark starts and stops itself (``none``; ``one
core``: one process spinning; ``both half``: two processes, each busy 50 ms of every 100 ms):

1. **Coverage of the stated 95 % interval of the median.** A long reference run (two runs of
   ``--ref-s`` seconds, before and after, pooled) gives the reference median of the small CNN
   under that load; then ``--short`` runs stop early as a plan asks them to
   (``ci_target_rel_width: 0.02``, the demo plan's settings). The coverage is the share of
   short runs whose stored interval (``rigbench.stats.median_interval``) contains the
   reference median; beside it, the interval and early stop the agent used before (order
   statistics, no minimum time, no halves check), replayed on the same latencies. Target:
   >= 90 %.
2. **compare.** ``--compares`` real ``rigbench compare`` runs (a local agent, a fresh worker
   per job, default settings) of the small CNN against itself with ``--slowdown 1`` and against
   itself: how often "slower" is the verdict, and how long each verdict took. Targets: slower
   found in >= 95 % of A/B compares, "slower" in <= 1 % of A/A compares. So few real runs
   cannot show 1 %, so the rates are also estimated by drawing 10-round sets (2000 draws)
   from every round measured at that level.
3. **The old, unpaired nightly** on the same jobs: each job of a compare is a "night"; the
   history comparison (``compare_latency``, the nightly's rule before pairs) judges tonight's
   job against the seven jobs of A before it, for B tonight (detection) and for A tonight
   (false alarms).

The machine is shared with other work, whose load this benchmark does not control: it prints
``/proc/loadavg`` at the start and end of each level and the other processes' CPU share the
jobs saw. Nothing here is asserted; figures are printed (and written to ``--json``).

Run: ``.venv/bin/python benchmarks/bench_noise.py [--levels none,one-core,both-half]
[--short 20] [--compares 6] [--ref-s 15]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.agent.jobs import (
    JobResult,
    JobSpec,
    MeasurementConfig,
    RuntimeConfig,
    TelemetryConfig,
)
from rigbench.controller.client import AgentClient, ChannelConfig
from rigbench.controller.compare.paired import paired_verdict
from rigbench.controller.compare.runner import CompareSettings, run_compare
from rigbench.controller.compare.subjects import RuntimeOptions, resolve_subjects
from rigbench.controller.inventory import Device, Inventory
from rigbench.controller.local_agent import start_local_agent
from rigbench.controller.modelgen import generate_cnn
from rigbench.controller.nightly.verdicts import Outcome, Policy, compare_latency
from rigbench.controller.progress import ProgressPrinter
from rigbench.controller.store import Store
from rigbench.digest import sha256_file
from rigbench.stats import median_interval, z_value

SPIN = r"""
import sys, time
busy, period, end = float(sys.argv[1]), float(sys.argv[2]), time.monotonic() + float(sys.argv[3])
time.sleep(float(sys.argv[4]))  # a random phase, so two spinners do not beat in step
while time.monotonic() < end:
    t = time.monotonic()
    while time.monotonic() - t < busy * period:
        pass
    if busy < 1:
        time.sleep((1 - busy) * period)
"""

LEVELS: dict[str, list[float]] = {  # each process's busy share of a 100 ms period
    "none": [],
    "one-core": [1.0],
    "both-half": [0.5, 0.5],
}
# The demo plan's measurement, which early-stops.
PLAN_MEASUREMENT = MeasurementConfig(
    warmup_iterations=20,
    min_iterations=100,
    max_iterations=100_000,
    min_duration_s=1.0,
    max_duration_s=10.0,
    ci_target_rel_width=0.02,
)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


@contextmanager
def background(level: str, max_s: float) -> Iterator[None]:
    """The level's spinners, each ending itself after ``max_s`` and killed on the way out."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SPIN, str(busy), "0.1", str(max_s), str(random.random() / 10)],
            start_new_session=True,
        )
        for busy in LEVELS[level]
    ]
    try:
        time.sleep(1.0 if procs else 0.0)
        yield
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


# --- 1. coverage ---------------------------------------------------------------------------------
async def measure(client: AgentClient, digest: str, cfg: MeasurementConfig, tag: str) -> JobResult:
    spec = JobSpec(
        job_id=f"noise-{tag}-{time.monotonic_ns()}",
        artifact_sha256=digest,
        model_format="onnx",
        runtime=RuntimeConfig("onnxruntime", ("cpu",), intra_op_threads=1),
        measurement=cfg,
        telemetry=TelemetryConfig(enabled=False),
    )
    result = None
    async for e in client.run(spec, timeout_s=900):
        if isinstance(e.body, JobResult):
            result = e.body
    if result is None:
        raise RuntimeError(f"job {tag} failed")
    return result


def old_early_stop(lat: np.ndarray, cfg: MeasurementConfig) -> tuple[float, float] | None:
    """The interval the agent reported before: its stopping rule replayed on the same stream.

    Checks at 64, 128, 256 ... iterations once min_iterations and min_duration passed (time
    from the running sum of latencies), stopping when the order-statistic interval of the
    median (independence assumed) is narrower than the target; else the whole run.
    """
    elapsed = np.cumsum(lat)
    n_check = max(cfg.min_iterations, 64)
    stop = lat.size
    n = n_check
    while n <= lat.size:
        if elapsed[n - 1] >= cfg.min_duration_s * 1e9:
            s = np.sort(lat[:n])
            half = z_value(0.95) * math.sqrt(n) / 2
            hi = int(math.ceil(n / 2 + half))
            lo = n - 1 - hi
            med = s[n // 2]
            if lo >= 0 and hi < n and (s[hi] - s[lo]) / med <= cfg.ci_target_rel_width:
                stop = n
                break
        n *= 2
    s = np.sort(lat[:stop])
    half = z_value(0.95) * math.sqrt(stop) / 2
    hi = min(stop - 1, int(math.ceil(stop / 2 + half)))
    lo = max(0, stop - 1 - hi)
    return float(s[lo]), float(s[hi])


async def coverage(model: Path, home: Path, shorts: int, ref_s: float) -> dict[str, Any]:
    agent = await start_local_agent(home)
    digest = sha256_file(model)
    ref = MeasurementConfig(
        warmup_iterations=20,
        min_iterations=100,
        max_iterations=10_000_000,
        min_duration_s=ref_s,
        max_duration_s=ref_s,
    )
    try:
        async with AgentClient(ChannelConfig(agent.address)) as c:
            await c.ensure_artifacts({digest: model})
            before = await measure(c, digest, ref, "ref1")
            runs = [await measure(c, digest, PLAN_MEASUREMENT, f"s{i}") for i in range(shorts)]
            after = await measure(c, digest, ref, "ref2")
    finally:
        agent.stop()
    pooled = np.concatenate([before.latencies_ns, after.latencies_ns])
    truth = float(np.median(pooled))
    new_hits = old_hits = 0
    stops: list[str] = []
    widths: list[float] = []
    iters: list[int] = []
    for r in runs:
        lat = np.asarray(r.latencies_ns, dtype=np.int64)
        iv = median_interval(lat, 0.95)
        new_hits += iv is not None and iv.low <= truth <= iv.high
        if iv is not None and iv.rel_width is not None:
            widths.append(iv.rel_width)
        old = old_early_stop(lat, PLAN_MEASUREMENT)
        old_hits += old is not None and old[0] <= truth <= old[1]
        stops.append(r.stop_reason)
        iters.append(lat.size)
    return {
        "reference_median_ms": truth / 1e6,
        "reference_halves_ms": [
            float(np.median(before.latencies_ns)) / 1e6,
            float(np.median(after.latencies_ns)) / 1e6,
        ],
        "short_runs": shorts,
        "coverage_new": new_hits / shorts,
        "coverage_old": old_hits / shorts,
        "median_rel_width_new": float(np.median(widths)) if widths else None,
        "median_iterations": float(np.median(iters)),
        "early_stops": stops.count("ci_target"),
        "other_cpu_share": [
            x.host_load.other_cpu_share for x in (before, *runs, after) if x.host_load.measured
        ],
    }


# --- 2. compare and 3. the old nightly ---------------------------------------------------------
async def compares(
    a: Path, b: Path, work: Path, store: Store, n: int, settings: CompareSettings
) -> tuple[list[dict[str, Any]], list[str]]:
    inventory = Inventory(devices=[Device(name="local", device_class="local", local={})])
    out: list[dict[str, Any]] = []
    runs: list[str] = []
    for _ in range(n):
        sa, sb = resolve_subjects(str(a), str(b), store, RuntimeOptions(threads=1))
        t0 = time.monotonic()
        r = await run_compare(sa, sb, inventory, store, work, settings, ProgressPrinter(quiet=True))
        out.append(
            {
                "verdict": r.verdict.change.value if r.verdict else "no verdict",
                "ratio": r.verdict.ratio if r.verdict else None,
                "rounds": len(r.rounds),
                "seconds": time.monotonic() - t0,
                "exit": r.exit_code,
            }
        )
        runs.append(r.run_id)
        print(
            f"    {a.name} vs {b.name}: {out[-1]['verdict']} "
            f"(ratio {out[-1]['ratio'] or float('nan'):.3f}, {out[-1]['rounds']} rounds, "
            f"{out[-1]['seconds']:.0f} s), load {loadavg()}",
            flush=True,
        )
    return out, runs


def rounds_of(store: Store, runs: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every round of the runs as (A's latencies, B's latencies), in the order they ran."""
    jobs = store.query(
        "SELECT j.job_id, j.model, j.scenario, j.run_id, j.started_at FROM jobs j "
        "JOIN results r USING (job_id) WHERE j.run_id IN (SELECT unnest(?::VARCHAR[])) "
        "ORDER BY j.started_at",
        [runs],
    )
    lat = store.query(
        "SELECT job_id, list(latency_ns ORDER BY iteration) AS l FROM latency_samples "
        "WHERE job_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY job_id",
        [[j["job_id"] for j in jobs]],
    )
    by_job = {r["job_id"]: np.asarray(r["l"], dtype=np.int64) for r in lat}
    by_round: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for j in jobs:
        side = j["model"].split(":", 1)[0]
        by_round.setdefault((j["run_id"], j["scenario"]), {})[side] = by_job[j["job_id"]]
    return [(r["A"], r["B"]) for r in by_round.values() if "A" in r and "B" in r]


def resampled(rounds: list[tuple[np.ndarray, np.ndarray]], draws: int = 2000) -> dict[str, float]:
    """Verdict shares over 10-round sets drawn from the measured rounds."""
    ratios = [float(np.median(b) / np.median(a)) for a, b in rounds]
    rng = np.random.default_rng(0)
    counts: dict[str, int] = {}
    for _ in range(draws):
        pick = rng.choice(len(ratios), size=min(10, len(ratios)), replace=False)
        if pick.size < 9:
            return {"too few rounds": 1.0}
        v = paired_verdict([ratios[i] for i in pick], alpha=0.01 / 3)
        counts[v.change.value] = counts.get(v.change.value, 0) + 1
    return {k: v / draws for k, v in counts.items()}


def old_nightly(
    ab: list[tuple[np.ndarray, np.ndarray]], aa: list[tuple[np.ndarray, np.ndarray]], k: int = 7
) -> dict[str, float]:
    """The history rule: tonight's job against the k A-jobs before it, as nights."""
    policy = Policy()
    history = [a for a, _ in aa] + [a for a, _ in ab]  # every A job, in order within each set

    def judge(tonight: np.ndarray, before: list[np.ndarray]) -> Outcome:
        return compare_latency(
            tonight, before, [float(np.median(x)) for x in before], policy
        ).outcome

    detect = [judge(b, [a for a, _ in ab[max(0, i - k) : i]]) for i, (_, b) in enumerate(ab) if i]
    false = [judge(history[i], history[max(0, i - k) : i]) for i in range(1, len(history))]
    return {
        "detected": sum(o is Outcome.REGRESSION for o in detect) / max(1, len(detect)),
        "detect_trials": len(detect),
        "false_alarms": sum(o is Outcome.REGRESSION for o in false) / max(1, len(false)),
        "false_trials": len(false),
    }


async def level(name: str, models: dict[str, Path], tmp: Path, args: argparse.Namespace):
    budget = 2 * args.ref_s + args.short * 15 + 2 * args.compares * 200 + 120
    print(f"\n--- load level: {name} (loadavg {loadavg()} at start) ---", flush=True)
    with background(name, budget):
        t0 = time.monotonic()
        cov = await coverage(models["a"], tmp / f"agent-{name}", args.short, args.ref_s)
        print(
            f"  coverage of the stated 95% interval: new {cov['coverage_new']:.0%}, old "
            f"{cov['coverage_old']:.0%} of {cov['short_runs']} short runs (reference median "
            f"{cov['reference_median_ms']:.4f} ms; before/after "
            f"{cov['reference_halves_ms'][0]:.4f}/{cov['reference_halves_ms'][1]:.4f} ms), "
            f"{time.monotonic() - t0:.0f} s, loadavg {loadavg()}",
            flush=True,
        )
        store = Store(tmp / f"{name}.duckdb", create=True)
        work = tmp / "work"
        settings = CompareSettings(rounds=args.rounds, round_s=args.round_s)
        ab, ab_runs = await compares(models["a"], models["b"], work, store, args.compares, settings)
        aa, aa_runs = await compares(models["a"], models["a"], work, store, args.compares, settings)
    end_load = loadavg()
    ab_rounds, aa_rounds = rounds_of(store, ab_runs), rounds_of(store, aa_runs)
    others = store.query(
        "SELECT median(other_cpu_share) AS m FROM results WHERE other_cpu_share IS NOT NULL"
    )[0]["m"]
    return {
        "level": name,
        "loadavg_end": end_load,
        "coverage": cov,
        "compare_ab": ab,
        "compare_aa": aa,
        "resampled_ab": resampled(ab_rounds),
        "resampled_aa": resampled(aa_rounds),
        "old_nightly": old_nightly(ab_rounds, aa_rounds),
        "jobs_other_cpu_share_median": others,
        "round_ratio_ab_median": float(
            np.median([np.median(b) / np.median(a) for a, b in ab_rounds])
        ),
    }


def share(rows: list[dict[str, Any]], verdict: str) -> str:
    n = sum(r["verdict"] == verdict for r in rows)
    return f"{n}/{len(rows)}"


def report(results: list[dict[str, Any]]) -> None:
    print("\n=== summary (2-core shared VM; load levels started by this benchmark) ===")
    print(
        "level      | loadavg end      | others' CPU | coverage new / old | A/B slower "
        "(real, resampled) | A/A slower (real, resampled) | s per verdict (A/B, A/A) | "
        "old nightly: detected / false alarms"
    )
    for r in results:
        cov = r["coverage"]
        ab_s = np.median([x["seconds"] for x in r["compare_ab"]])
        aa_s = np.median([x["seconds"] for x in r["compare_aa"]])
        old = r["old_nightly"]
        print(
            f"{r['level']:<10} | {r['loadavg_end']:<16} | "
            f"{(r['jobs_other_cpu_share_median'] or 0):.0%}         | "
            f"{cov['coverage_new']:.0%} / {cov['coverage_old']:.0%}          | "
            f"{share(r['compare_ab'], 'slower')}, {r['resampled_ab'].get('slower', 0):.1%}"
            f"          | {share(r['compare_aa'], 'slower')}, "
            f"{r['resampled_aa'].get('slower', 0):.1%}              | "
            f"{ab_s:.0f}, {aa_s:.0f}                  | "
            f"{old['detected']:.0%} of {old['detect_trials']} / {old['false_alarms']:.1%} of "
            f"{old['false_trials']}"
        )
        print(
            f"           | A/B verdicts: {[x['verdict'] for x in r['compare_ab']]}; "
            f"A/A verdicts: {[x['verdict'] for x in r['compare_aa']]}; "
            f"median round ratio A/B {r['round_ratio_ab_median']:.3f}; resampled A/B "
            f"{r['resampled_ab']}, A/A {r['resampled_aa']}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="none,one-core,both-half")
    ap.add_argument("--short", type=int, default=20, help="early-stopped runs per level")
    ap.add_argument("--compares", type=int, default=6, help="compares of each kind per level")
    ap.add_argument("--ref-s", type=float, default=15.0, help="seconds of each reference run")
    ap.add_argument("--rounds", type=int, default=10, help="compare's rounds per stage")
    ap.add_argument("--round-s", type=float, default=1.0, help="compare's seconds per side")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        models = {
            "a": generate_cnn(tmp / "a", size="small").onnx_path,
            "b": generate_cnn(tmp / "b", size="small", slowdown=1).onnx_path,
        }
        for name in args.levels.split(","):
            results.append(asyncio.run(level(name, models, tmp, args)))
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
