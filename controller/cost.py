"""What a deployment choice costs, and which of its inputs were measured and which assumed.

Procurement reads these figures to spend money, so the module never guesses silently:

* A device is priced either by the hour (cloud: energy is in the price) or by its purchase
  price amortized over its lifetime and utilization, plus energy at an electricity price
  (owned hardware).
* Energy comes from measured power. Where the device has no power sensor, the inventory's
  ``nameplate_w`` may stand in: every figure derived from it is *estimated*. Power replayed by
  a recorded (simulated) device is *simulated*, never *measured*.
* Missing price or power data gives an *unknown* cost with the reason, never 0: an unknown
  cost must not rank as free.

Everything here is pure arithmetic on plain values, so it is tested without a store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from rigbench.controller.inventory import Cost

HOURS_PER_YEAR = 8766.0  # 365.25 days: lifetimes are quoted in calendar years
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0
MJ_PER_KWH = 3.6e9  # millijoules in one kilowatt-hour


class PowerBasis(str, Enum):
    """Where a power figure came from; decides the label of everything derived from it."""

    measured = "measured"
    simulated = "simulated"  # a recorded device replaying captured telemetry
    nameplate = "estimated"  # the inventory's nameplate_w stood in for a missing sensor
    unknown = "unknown"


@dataclass(frozen=True)
class Measurement:
    """The figures of one stored result that the cost model needs (None: not measured)."""

    throughput_ips: float | None  # inferences per second of one device
    avg_power_mw: float | None = None
    energy_per_inference_mj: float | None = None
    energy_source: str | None = None  # e.g. "rpi:total", "rapl:total+nvml:total"
    energy_coverage: float | None = None  # share of the window the energy figure covers
    simulated: bool = False


@dataclass(frozen=True)
class Power:
    """The power a device draws while serving, and the energy one inference takes."""

    watts: float | None
    energy_per_inference_mj: float | None
    basis: PowerBasis
    source: str | None = None

    @property
    def label(self) -> str:
        """Short text for a table cell's qualifier, e.g. ``estimated (nameplate)``."""
        if self.basis is PowerBasis.nameplate:
            return "estimated (nameplate)"
        if self.basis is PowerBasis.simulated:
            return "simulated"
        return self.basis.value


@dataclass(frozen=True)
class Basis:
    """Which inputs of a derived figure were measured, estimated, simulated or assumed."""

    measured: tuple[str, ...] = ()
    estimated: tuple[str, ...] = ()
    simulated: tuple[str, ...] = ()
    assumed: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line, e.g. ``measured: throughput, power (rpi:total); assumed: ...``."""
        parts = [
            f"{name}: {', '.join(items)}"
            for name, items in (
                ("measured", self.measured),
                ("estimated", self.estimated),
                ("simulated", self.simulated),
                ("assumed", self.assumed),
            )
            if items
        ]
        return "; ".join(parts) or "nothing measured"

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "measured": list(self.measured),
            "estimated": list(self.estimated),
            "simulated": list(self.simulated),
            "assumed": list(self.assumed),
        }


@dataclass(frozen=True)
class CostEstimate:
    """Cost per hour of serving and per million inferences; None with a reason if unknown."""

    pricing: str  # "hourly" | "owned" | "unknown"
    power: Power
    usd_per_hour: float | None
    usd_per_million: float | None
    basis: Basis
    unknown_reason: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def known(self) -> bool:
        return self.usd_per_million is not None

    @property
    def estimated(self) -> bool:
        return bool(self.basis.estimated)

    @property
    def simulated(self) -> bool:
        return bool(self.basis.simulated)


def parse_cost(data: Any) -> Cost | None:
    """A `Cost` from a stored ``cost_json`` dict (or None); invalid data counts as missing."""
    if data is None:
        return None
    if isinstance(data, Cost):
        return data
    try:
        return Cost.model_validate(data)
    except ValueError:
        return None


def resolve_power(m: Measurement, cost: Cost | None) -> Power:
    """Measured (or simulated) power first; the nameplate figure only where none was read."""
    ips = m.throughput_ips if m.throughput_ips and m.throughput_ips > 0 else None
    energy = m.energy_per_inference_mj
    watts = m.avg_power_mw / 1000.0 if m.avg_power_mw is not None else None
    if watts is None and energy is not None and ips is not None:
        watts = energy * ips / 1000.0  # mJ per inference x inferences per s = mW
    if watts is not None:
        if energy is None and ips is not None:
            energy = watts * 1000.0 / ips
        basis = PowerBasis.simulated if m.simulated else PowerBasis.measured
        return Power(watts, energy, basis, m.energy_source)
    if cost is not None and cost.nameplate_w is not None:
        energy = cost.nameplate_w * 1000.0 / ips if ips is not None else None
        return Power(cost.nameplate_w, energy, PowerBasis.nameplate, "nameplate_w")
    return Power(None, None, PowerBasis.unknown)


def _power_input(power: Power) -> str:
    if power.basis is PowerBasis.nameplate:
        return f"power (nameplate {power.watts:g} W)"
    return f"power ({power.source})" if power.source else "power"


def _basis(power: Power, assumed: list[str], uses_power: bool, throughput: bool = True) -> Basis:
    """The label of a figure derived from throughput (optionally), power and assumptions."""
    measured = ["throughput"] if throughput else []
    estimated: list[str] = []
    simulated: list[str] = []
    if uses_power and power.watts is not None:
        {
            PowerBasis.measured: measured,
            PowerBasis.simulated: simulated,
            PowerBasis.nameplate: estimated,
        }[power.basis].append(_power_input(power))
    return Basis(tuple(measured), tuple(estimated), tuple(simulated), tuple(assumed))


def _unknown(power: Power, reason: str, assumed: list[str] | None = None) -> CostEstimate:
    return CostEstimate(
        "unknown", power, None, None, _basis(power, assumed or [], False), unknown_reason=reason
    )


def estimate_cost(cost: Cost | None, m: Measurement) -> CostEstimate:
    """Cost of serving with one device at its measured throughput.

    Hourly price: ``hourly_usd / utilization`` per serving hour; energy is in the price.
    Owned: ``purchase_usd / (lifetime_years x 8766 h x utilization)`` per serving hour, plus
    energy per inference x electricity price. Per million inferences follows from measured
    throughput. Any missing input makes the cost unknown, with the reason.
    """
    power = resolve_power(m, cost)
    if cost is None:
        return _unknown(power, "no cost in the inventory for this device")
    ips = m.throughput_ips
    if ips is None or not ips > 0 or math.isnan(ips):
        return _unknown(power, "no throughput measured")
    serving_hours = ips * 3600.0 / 1e6  # hours to serve one million inferences
    util = f"utilization {cost.utilization:.0%}"
    if cost.hourly_usd is not None:
        per_hour = cost.hourly_usd / cost.utilization
        assumed = [f"hourly ${cost.hourly_usd:g}", util]
        return CostEstimate(
            "hourly",
            power,
            per_hour,
            per_hour / serving_hours,
            _basis(power, assumed, False),
            notes=("energy is included in the hourly price",),
        )
    if cost.purchase_usd is None:
        return _unknown(power, "the inventory gives neither hourly_usd nor purchase_usd")
    assumed = [f"purchase ${cost.purchase_usd:g} over {cost.lifetime_years:g} y", util]
    if cost.electricity_usd_per_kwh is None:
        return _unknown(power, "no electricity_usd_per_kwh for the energy cost", assumed)
    assumed.append(f"electricity ${cost.electricity_usd_per_kwh:g}/kWh")
    if power.watts is None or power.energy_per_inference_mj is None:
        return _unknown(power, "no power measured and no nameplate_w in the inventory", assumed)
    device_per_hour = cost.purchase_usd / (cost.lifetime_years * HOURS_PER_YEAR * cost.utilization)
    energy_per_million = (
        power.energy_per_inference_mj * 1e6 / MJ_PER_KWH * cost.electricity_usd_per_kwh
    )
    per_million = device_per_hour / serving_hours + energy_per_million
    return CostEstimate(
        "owned",
        power,
        per_million * serving_hours,
        per_million,
        _basis(power, assumed, True),
    )


@dataclass(frozen=True)
class MonthlyCost:
    """What ``devices`` devices cost per month, with the label of its inputs."""

    usd: float | None
    basis: Basis
    unknown_reason: str | None = None


def monthly_cost(cost: Cost | None, power: Power, devices: int) -> MonthlyCost:
    """Monthly cost of a dedicated fleet: instances billed every hour, or devices owned.

    Owned devices are amortized over their lifetime in months (the inventory's utilization
    does not apply: fleet devices are dedicated) and assumed to draw their serving power
    around the clock, an upper bound on the energy bill.
    """
    if cost is None:
        return MonthlyCost(None, Basis(), "no cost in the inventory for this device")
    if cost.hourly_usd is not None:
        basis = Basis(assumed=(f"hourly ${cost.hourly_usd:g}", "730.5 h per month"))
        return MonthlyCost(devices * cost.hourly_usd * HOURS_PER_MONTH, basis)
    if cost.purchase_usd is None:
        return MonthlyCost(None, Basis(), "the inventory gives neither hourly_usd nor purchase_usd")
    assumed: tuple[str, ...] = (f"purchase ${cost.purchase_usd:g} over {cost.lifetime_years:g} y",)
    if cost.electricity_usd_per_kwh is None:
        return MonthlyCost(None, Basis(assumed=assumed), "no electricity_usd_per_kwh")
    assumed += (f"electricity ${cost.electricity_usd_per_kwh:g}/kWh",)
    if power.watts is None:
        return MonthlyCost(
            None, Basis(assumed=assumed), "no power measured and no nameplate_w in the inventory"
        )
    basis = _basis(power, list(assumed), True, throughput=False)
    amortized = cost.purchase_usd / (cost.lifetime_years * 12.0)
    energy = power.watts / 1000.0 * HOURS_PER_MONTH * cost.electricity_usd_per_kwh
    return MonthlyCost(devices * (amortized + energy), basis)
