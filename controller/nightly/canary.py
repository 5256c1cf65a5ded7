"""The canary: a known model with a known answer, run on every device before the plan.

A device whose runtime has started to answer wrongly (a broken driver, a bad delegate, a
half-upgraded runtime) produces latencies that mean nothing. So each night begins with the
built-in tiny CNN (deterministic weights, fixed seeded reference inputs) on each of the plan's
runtime entries; the controller computes the fp32 answers itself, and a device passes only if
every canary job finished and its outputs agree: same top-1 class on every reference input
and cosine similarity of at least ``COSINE_MIN``. That holds across fp32, TF32 and fp16
execution providers, while a wrong kernel or garbage outputs fail it.

The canary also checks its own **speed** against its history (``canary_speed``): the same
tiny network on the same device fingerprint should take the same time every night. Much
slower than its recent nights (a busy neighbour, throttling, a governor stuck low), or the
hypervisor stealing time from its jobs, and the device is *noisy* tonight: its latency gets
"not enough evidence", never a regression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rigbench.controller.dispatch import RunOutcome
from rigbench.controller.nightly.evaluate import DeviceHealth
from rigbench.controller.plan import (
    Accuracy,
    Generate,
    Measurement,
    ModelEntry,
    Plan,
    Scenario,
    Telemetry,
)
from rigbench.controller.store.db import Store

CANARY_MODEL = "canary"
COSINE_MIN = 0.999
REFERENCE_SAMPLES = 4


def canary_plan(plan: Plan) -> Plan:
    """The canary run for a plan: same devices and runtime entries, the tiny CNN, briefly."""
    variants: list[str | dict[str, object]] = []
    for r in plan.runtimes:
        if r.descriptor.canary_variant not in variants:
            variants.append(r.descriptor.canary_variant)
    return Plan(
        name=f"{plan.name}.canary",
        models=[
            ModelEntry(
                name=CANARY_MODEL,
                generate=Generate(size="tiny", seed=0),
                variants=variants,
                accuracy=Accuracy(samples=REFERENCE_SAMPLES, seed=1234),
            )
        ],
        runtimes=plan.runtimes,
        # One second of measuring: long enough for a median to compare night to night.
        measurement=Measurement(
            warmup_iterations=20,
            min_iterations=30,
            max_iterations=100_000,
            min_duration_s=1.0,
            max_duration_s=10.0,
        ),  # fmt: skip
        telemetry=Telemetry(enabled=False),
        scenarios=[Scenario()],
        devices=plan.devices,
        retries=plan.retries,
    )


def _problem(row: dict[str, object]) -> str | None:
    """Why one canary result does not show a correct answer, or None."""
    label = f"{row['variant']} on {row['runtime_name']}"
    cos, top1, err = row["cosine_similarity"], row["top1_agreement"], row["max_abs_err"]
    if cos is None and err is None:
        return f"{label}: no outputs to check"
    if isinstance(err, float) and not math.isfinite(err):
        return f"{label}: non-finite outputs"
    if top1 is not None and float(top1) < 1.0:  # type: ignore[arg-type]
        return f"{label}: top-1 class differs on {1 - float(top1):.0%} of the reference inputs"  # type: ignore[arg-type]
    if cos is not None and float(cos) < COSINE_MIN:  # type: ignore[arg-type]
        return f"{label}: cosine similarity {float(cos):.6f} < {COSINE_MIN}"  # type: ignore[arg-type]
    return None


def canary_health(
    store: Store, outcome: RunOutcome, devices: Sequence[str]
) -> dict[str, DeviceHealth]:
    """Each device's verdict from the canary run's stored results and failures."""
    run_id = outcome.run_id
    rows = store.query(
        "SELECT r.device, r.variant, r.runtime_name, a.max_abs_err, a.cosine_similarity, "
        "a.top1_agreement FROM results r "
        "LEFT JOIN accuracy a ON a.job_id = r.job_id AND a.output = '*' WHERE r.run_id = ?",
        [run_id],
    )
    failed = store.query(
        "SELECT device, variant, runtime_name, error_kind, error_message FROM jobs "
        "WHERE run_id = ? AND status <> 'done'",
        [run_id],
    )
    unreachable = dict(outcome.unreachable)
    health: dict[str, DeviceHealth] = {}
    for device in devices:
        if device in unreachable:
            health[device] = DeviceHealth(
                device, False, unreachable[device], run_id, state="unreachable"
            )
            continue
        if device in outcome.quarantined:
            health[device] = DeviceHealth(
                device, False, "quarantined during the canary", run_id, state="quarantined"
            )
            continue
        problems = [
            f"{f['variant']} on {f['runtime_name']}: {f['error_kind']}: {f['error_message']}"
            for f in failed
            if f["device"] == device
        ]
        mine = [r for r in rows if r["device"] == device]
        problems += [p for p in map(_problem, mine) if p]
        if not mine and not problems:
            problems.append("no canary result")
        if problems:
            health[device] = DeviceHealth(device, False, "; ".join(problems), run_id)
        else:
            health[device] = DeviceHealth(
                device, True, f"canary passed on {len(mine)} runtime(s)", run_id
            )
    return health


@dataclass(frozen=True)
class SpeedPolicy:
    """When a device counts as noisy tonight."""

    slack: float = 0.5  # canary slower than the median of its recent nights by more than this
    nights: int = 7  # recent canary nights compared with
    min_nights: int = 3  # fewer than this: the speed is not judged
    max_steal: float = 0.10  # the hypervisor took more than this share of the CPUs


def canary_speed(
    store: Store, canary_run_id: str, devices: Sequence[str], policy: SpeedPolicy | None = None
) -> dict[str, str]:
    """Why each device is noisy tonight, for the devices that are (empty: none is).

    Tonight's canary median on each device and runtime entry is compared with the median of
    the same canary's recent nights on the same device with the same fingerprint.
    """
    policy = policy or SpeedPolicy()
    info = store.query("SELECT plan_name, started_at FROM runs WHERE run_id = ?", [canary_run_id])
    if not info:
        return {}
    tonight = store.query(
        "SELECT r.device, r.variant, r.runtime_name, r.p50_ns, r.steal_share, "
        "d.fingerprint_json FROM results r "
        "LEFT JOIN devices d ON d.run_id = r.run_id AND d.device = r.device WHERE r.run_id = ?",
        [canary_run_id],
    )
    noisy: dict[str, str] = {}
    for row in tonight:
        device = row["device"]
        if device not in devices:
            continue
        if row["steal_share"] is not None and row["steal_share"] > policy.max_steal:
            noisy[device] = (
                f"the hypervisor stole {row['steal_share']:.0%} of the CPUs during the canary "
                f"(more than {policy.max_steal:.0%})"
            )
            continue
        past = store.query(
            "SELECT r.p50_ns FROM results r JOIN runs ru ON ru.run_id = r.run_id "
            "LEFT JOIN devices d ON d.run_id = r.run_id AND d.device = r.device "
            "WHERE ru.kind = 'canary' AND ru.plan_name = ? AND ru.started_at < ? "
            "AND ru.status LIKE 'finished%' AND r.device = ? AND r.variant = ? "
            "AND r.runtime_name = ? AND d.fingerprint_json IS NOT DISTINCT FROM ? "
            "ORDER BY ru.started_at DESC LIMIT ?",
            [
                info[0]["plan_name"], info[0]["started_at"], device, row["variant"],
                row["runtime_name"], row["fingerprint_json"], policy.nights,
            ],
        )  # fmt: skip
        medians = sorted(float(p["p50_ns"]) for p in past if p["p50_ns"])
        if len(medians) < policy.min_nights or not row["p50_ns"]:
            continue
        usual = medians[len(medians) // 2]
        ratio = float(row["p50_ns"]) / usual
        if ratio > 1.0 + policy.slack:
            noisy[device] = (
                f"the canary ({row['variant']} on {row['runtime_name']}) ran {ratio - 1:.0%} "
                f"slower than the median of its last {len(medians)} nights "
                f"({usual / 1e6:.4g} -> {float(row['p50_ns']) / 1e6:.4g} ms; more than "
                f"{policy.slack:.0%})"
            )
    return noisy
