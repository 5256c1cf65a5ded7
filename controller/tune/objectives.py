"""What ``rigbench tune --objective`` minimises on one device: latency, cost or energy.

Cost and energy come from the same arithmetic as ``rank`` (``controller/cost.py``): cost per
million inferences from the device's inventory price and the measured time one inference
takes; energy per inference from measured power, or the inventory's nameplate figure where
the device has no power sensor (then the figure is *estimated*, and the label says so). A
figure that cannot be computed (no price, no power) is unknown for that configuration, never
zero: the race cannot rank it, and the output says why.
"""

from __future__ import annotations

from enum import Enum

from rigbench.controller.cost import Measurement, estimate_cost, resolve_power
from rigbench.controller.inventory import Cost
from rigbench.controller.tune.evidence import Evidence, Objective, latency_objective


class ObjectiveName(str, Enum):
    cost = "cost"
    latency = "latency"
    energy = "energy"


def _measurement(ev: Evidence, simulated: bool) -> Measurement:
    ips = 1.0 / ev.per_inference_s if ev.per_inference_s > 0 else None
    power_mw = ev.power_w * 1000.0 if ev.power_w is not None else None
    return Measurement(throughput_ips=ips, avg_power_mw=power_mw, simulated=simulated)


def objective_for(name: ObjectiveName, cost: Cost | None, simulated: bool = False) -> Objective:
    """The objective ``name`` on a device priced by ``cost`` (its inventory entry)."""
    if name is ObjectiveName.latency:
        return latency_objective()
    if name is ObjectiveName.cost:

        def usd_per_million(ev: Evidence) -> float | None:
            return estimate_cost(cost, _measurement(ev, simulated)).usd_per_million

        return Objective("cost", "$/M inferences", usd_per_million)

    def joules(ev: Evidence) -> float | None:
        mj = resolve_power(_measurement(ev, simulated), cost).energy_per_inference_mj
        return mj / 1000.0 if mj is not None else None

    return Objective("energy", "J/inference", joules)


def unknown_reason(name: ObjectiveName, cost: Cost | None, ev: Evidence, simulated: bool) -> str:
    """Why ``name`` is unknown for ``ev`` (empty when it is known)."""
    m = _measurement(ev, simulated)
    if name is ObjectiveName.cost:
        return estimate_cost(cost, m).unknown_reason or ""
    if name is ObjectiveName.energy and resolve_power(m, cost).watts is None:
        return "no power measured and no nameplate_w in the inventory"
    return ""


def figure_label(name: ObjectiveName, cost: Cost | None, ev: Evidence, simulated: bool) -> str:
    """``estimated (nameplate)``, ``simulated``, ``assumed price``...: what the figure rests on."""
    if name is ObjectiveName.latency:
        return "simulated" if simulated else "measured"
    m = _measurement(ev, simulated)
    if name is ObjectiveName.energy:
        return resolve_power(m, cost).label
    est = estimate_cost(cost, m)
    return est.basis.describe() if est.known else f"unknown: {est.unknown_reason}"
