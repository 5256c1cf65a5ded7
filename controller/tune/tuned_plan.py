"""``tuned.yaml``: a plan with exactly the recommended configurations, for ``run`` and ``nightly``.

The model entry is the tuned one with only the recommended variants; the runtime entries
are those of the recommended configurations (one per distinct configuration across the
devices); the devices are those that got a recommendation. The plan is validated as any plan
is before it is written, so ``rigbench run tuned.yaml`` accepts it unchanged. When devices
got different recommendations, ``run`` measures every recommended configuration on each of
them (a plan applies its runtimes to all its devices); the header says which device each
entry was recommended for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rigbench.controller.plan import Plan
from rigbench.controller.tune.driver import TuneResult, runtime_entry
from rigbench.controller.yamlfile import validate
from rigbench.errors import PlanError, UsageError


def tuned_plan(result: TuneResult) -> tuple[dict[str, Any], list[str]] | None:
    """The plan (as plain data) and its header lines; None when nothing was recommended."""
    chosen = [
        (t.device.name, t.outcome.recommended)
        for t in result.devices
        if t.outcome is not None and t.outcome.recommended is not None
    ]
    if not chosen:
        return None
    base = result.plan
    entry = base.models[0].model_dump(mode="json", exclude_defaults=True)
    variants: list[str] = []
    runtimes: list[dict[str, Any]] = []
    header = [f"Tuned by rigbench tune, run {result.run_id} (docs/tune.md)."]
    for device, rec in chosen:
        c = rec.config
        if c.variant not in variants:
            variants.append(c.variant)
        if all(r["name"] != c.name for r in runtimes):
            runtimes.append(runtime_entry(c))
        iv = rec.interval
        figure = f"{iv.point:.4g} [{iv.lo:.4g}, {iv.hi:.4g}]" if iv is not None else "n/a"
        header.append(
            f"{device}: {c.variant} on {c.name} ({result.request.objective.value} {figure})"
        )
    entry["variants"] = _variant_items(base, variants)
    plan: dict[str, Any] = {
        "name": f"{base.models[0].name}-tuned",
        "models": [entry],
        "runtimes": runtimes,
        "measurement": base.measurement.model_dump(mode="json"),
        "telemetry": base.telemetry.model_dump(mode="json"),
        "devices": {"names": [d for d, _ in chosen]},
        "retries": base.retries,
    }
    validate(Plan, plan, {}, Path("tuned.yaml"), PlanError)  # run accepts what we write
    return plan, header


def _variant_items(base: Plan, names: list[str]) -> list[Any]:
    """The plan's own variant items for ``names`` (keeping parameters such as calibration)."""
    items = []
    for item in base.models[0].variants:
        name = item if isinstance(item, str) else next(iter(item))
        if name in names:
            items.append(item)
    known = {i if isinstance(i, str) else next(iter(i)) for i in items}
    items += [n for n in names if n not in known]
    return sorted(items, key=lambda i: names.index(i if isinstance(i, str) else next(iter(i))))


def write_tuned_plan(result: TuneResult, path: Path) -> bool:
    """Write ``tuned.yaml``; False when no device got a recommendation (nothing written)."""
    got = tuned_plan(result)
    if got is None:
        return False
    plan, header = got
    text = "".join(f"# {line}\n" for line in header) + yaml.safe_dump(
        plan, sort_keys=False, default_flow_style=None
    )
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--out {path}: cannot write the tuned plan: {e.strerror or e}") from e
    return True
