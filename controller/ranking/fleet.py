"""How many devices or instances serve a target load within the latency target, and at what cost.

**Measured**, where a server scenario ran for the deployment (``capacity.server_capacity``):
each device serves at most the highest rate at which its measured latency percentile,
queueing included, met the target: ``devices = ceil(qps / that rate)``. No headroom is
applied and no queueing model is needed: the wait is in the measured percentile.

**Estimated** otherwise, and stated wherever the answer is shown:

* Each device serves one request at a time (the single-stream measurement), so its capacity
  is its measured throughput. Devices are sized to run at most ``headroom`` (default 70%) of
  that capacity: ``devices = ceil(qps / (throughput x headroom))``.
* The latency checked against the target is the measured service-time percentile; it does
  not include queueing. With Poisson arrivals split evenly over the devices, each behaves as
  an M/G/1 queue whose mean wait (Pollaczek-Khinchine, from the measured latency's mean and
  spread) is shown as an estimate so the reader sees what the headroom buys. Lower
  ``--headroom`` to keep that wait small.
* Monthly cost: instances billed 730.5 h a month, or owned devices amortized over their
  lifetime drawing their measured serving power around the clock (an upper bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rigbench.controller.cost import MonthlyCost, Power, PowerBasis, monthly_cost
from rigbench.controller.ranking.capacity import Capacity, by_deployment, server_capacity
from rigbench.controller.ranking.rank import Choice, Ranking, RankRequest, rank
from rigbench.controller.store import Store
from rigbench.errors import ReportError

DEFAULT_HEADROOM = 0.7


def devices_needed(qps: float, capacity_ips: float, headroom: float) -> int:
    """Fewest devices that serve ``qps`` while each runs at most ``headroom`` of capacity."""
    if qps <= 0 or capacity_ips <= 0 or not 0 < headroom <= 1:
        raise ValueError("qps and capacity must be positive and headroom in (0, 1]")
    # A tiny tolerance keeps float noise (e.g. 0.7 * 100 = 70.00000000000001) from adding one.
    return max(1, math.ceil(qps / (capacity_ips * headroom) - 1e-9))


def mg1_mean_wait_s(arrival_ips: float, capacity_ips: float, cv2: float = 0.0) -> float | None:
    """Mean time in queue of an M/G/1 server (Pollaczek-Khinchine).

    ``rho = arrival / capacity``, mean service ``1 / capacity``, and ``cv2`` the squared
    coefficient of variation of the service time: ``Wq = rho (1 + cv2) / (2 mu (1 - rho))``.
    cv2 = 0 is M/D/1. Latency tails matter here: a p99 far above p50 makes cv2 large and the
    wait long, which a deterministic-service model would hide.
    """
    rho = arrival_ips / capacity_ips
    if rho >= 1:
        return None  # unstable: the queue grows without bound
    return rho * (1.0 + cv2) / (2.0 * capacity_ips * (1.0 - rho))


@dataclass(frozen=True)
class FleetOption:
    """One viable choice sized for the load: from its measured server capacity, or estimated
    from single-stream (``measured`` None).
    """

    choice: Choice
    capacity_ips: float
    devices: int
    utilization: float  # of the capacity (measured: of the measured peak; no headroom)
    queue_wait_ms: float | None  # estimated M/G/1 wait; None when measured (it is in latency)
    monthly: MonthlyCost
    power_w: float | None
    power_basis: PowerBasis
    measured: Capacity | None = None

    @property
    def latency_ms(self) -> float | None:
        """The percentile the option promises: measured under load, else single-stream."""
        if self.measured is not None and self.measured.percentile is not None:
            return self.measured.point.latency_ms_at(self.measured.percentile)
        return self.choice.latency_ms.point if self.choice.latency_ms else None


@dataclass
class FleetPlan:
    """Every viable choice sized for ``qps``, cheapest known monthly cost first."""

    ranking: Ranking
    qps: float
    headroom: float
    options: list[FleetOption]
    unsized: list[tuple[Choice, str]] = field(default_factory=list)

    def assumptions(self) -> list[str]:
        pct = self.ranking.percentile
        out = []
        if any(o.measured for o in self.options):
            out.append(
                "measured: capacity per device = the highest rate a server scenario served "
                f"with its p{pct} (from each request's scheduled arrival, queueing included) "
                f"within the target: devices = ceil(qps / that rate); no headroom (the queueing "
                "is in the measured percentile)"
            )
        if any(o.measured is None for o in self.options) or not self.options:
            out += [
                "estimated (no server scenario measured this choice under the target): capacity "
                "per device = measured single-stream throughput (one request at a time); "
                f"devices run at <= {self.headroom:.0%} of it: devices = ceil(qps / "
                f"(throughput x {self.headroom:g}))",
                f"estimated: p{pct} is the measured service time and excludes queueing; "
                "'queue wait' is the M/G/1 mean wait (Pollaczek-Khinchine, from the measured "
                "latency's mean and spread) with Poisson arrivals split evenly over the "
                "devices: an estimate, not measured",
            ]
        out.append(
            "monthly: instances billed 730.5 h/month; owned devices amortized over their "
            "lifetime, drawing their serving power around the clock (an upper bound)"
        )
        return out


def size_fleet(
    store: Store, req: RankRequest, qps: float, headroom: float = DEFAULT_HEADROOM
) -> FleetPlan:
    """Rank under ``req``'s constraints, then size every qualifying choice for ``qps``."""
    if req.constraints.latency_ms is None:
        raise ReportError("fleet sizing needs a latency target: give --latency-ms")
    if qps <= 0:
        raise ReportError(f"--qps must be positive, got {qps:g}")
    if not 0 < headroom <= 1:
        raise ReportError(f"--headroom must be in (0, 1], got {headroom:g}")
    return plan_fleet(rank(store, req), qps, headroom)


def plan_fleet(ranking: Ranking, qps: float, headroom: float) -> FleetPlan:
    """Size each deployment for ``qps`` (pure: no store access).

    One option per deployment (device x variant x runtime entry): measured from its server
    points where one met the latency target, else estimated from its single-stream (or soak)
    result as before. Offline and server results are a deployment's capacity, not options of
    their own.
    """
    c = ranking.constraints
    assert c.latency_ms is not None
    points = by_deployment(ranking.load_points)
    everyone = ranking.ranked + ranking.excluded
    options: list[FleetOption] = []
    unsized: list[tuple[Choice, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for choice in everyone:
        key = choice.deployment
        if key in seen:
            continue
        seen.add(key)
        mine = [x for x in everyone if x.deployment == key]
        shown = _shown(mine)
        measured = server_capacity(points.get(key, []), c.latency_ms, c.percentile)
        if measured is not None:
            # Latency is measured under load here; every other constraint still applies.
            if any(e.constraint != "latency" for e in shown.exclusions):
                continue
            source = next((x for x in mine if x.job_id == measured.point.job_id), shown)
            options.append(_measured_option(shown, source, measured, qps))
            continue
        if shown.exclusions or shown.scenario_kind in ("offline", "server"):
            if shown.scenario_kind == "server" and not shown.exclusions:
                unsized.append((shown, _no_measured_rate(c.latency_ms, c.percentile)))
            continue
        option = _estimated_option(shown, qps, headroom)
        if option is None:
            unsized.append((shown, "no throughput measured"))
            continue
        if points.get(key) and any(p.kind == "server" for p in points[key]):
            unsized_note = _no_measured_rate(c.latency_ms, c.percentile)
            option.choice.notes.append(f"{unsized_note}; sized from the single-stream estimate")
        options.append(option)
    options.sort(
        key=lambda o: (
            o.monthly.usd is None,
            o.monthly.usd if o.monthly.usd is not None else 0.0,
            o.devices,
        )
    )
    return FleetPlan(ranking, qps, headroom, options, unsized)


def _no_measured_rate(latency_ms: float, percentile: int) -> str:
    return (
        f"its server scenario served no rate with p{percentile} <= {latency_ms:g} ms "
        "(queueing included)"
    )


def _shown(choices: list[Choice]) -> Choice:
    """The choice that stands for a deployment: single-stream, else soak, else its first."""
    for kind in ("single-stream", "soak"):
        for c in choices:
            if c.scenario_kind == kind:
                return c
    return choices[0]


def _measured_option(shown: Choice, source: Choice, cap: Capacity, qps: float) -> FleetOption:
    n = max(1, math.ceil(qps / cap.ips - 1e-9))
    # Power as measured under load where the server job measured it, else the shown choice's.
    power: Power = (
        source.cost.power if source.cost.power.watts is not None else shown.cost.power
    )
    watts = power.watts
    return FleetOption(
        choice=shown,
        capacity_ips=cap.ips,
        devices=n,
        utilization=qps / n / cap.ips,
        queue_wait_ms=None,
        monthly=monthly_cost(shown.cost_input, power, n),
        power_w=watts * n if watts is not None else None,
        power_basis=power.basis,
        measured=cap,
    )


def _estimated_option(c: Choice, qps: float, headroom: float) -> FleetOption | None:
    ips = c.throughput_ips
    if not ips or ips <= 0:
        return None
    n = devices_needed(qps, ips, headroom)
    per_device = qps / n
    wait = mg1_mean_wait_s(per_device, ips, _cv2(c))
    watts = c.cost.power.watts
    return FleetOption(
        choice=c,
        capacity_ips=ips,
        devices=n,
        utilization=per_device / ips,
        queue_wait_ms=wait * 1e3 if wait is not None else None,
        monthly=monthly_cost(c.cost_input, c.cost.power, n),
        power_w=watts * n if watts is not None else None,
        power_basis=c.cost.power.basis,
    )


def _cv2(c: Choice) -> float:
    """Squared coefficient of variation of the measured latency (0 when unknown)."""
    mean = c.mean_ms.point if c.mean_ms is not None else None
    if not mean or c.std_ms is None:
        return 0.0
    return (c.std_ms / mean) ** 2
