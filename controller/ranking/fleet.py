"""How many devices or instances serve a target load within the latency target, and at what cost.

The queueing assumption, stated wherever the answer is shown:

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

from rigbench.controller.cost import MonthlyCost, PowerBasis, monthly_cost
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
    """One viable choice sized for the load."""

    choice: Choice
    capacity_ips: float
    devices: int
    utilization: float
    queue_wait_ms: float | None
    monthly: MonthlyCost
    power_w: float | None
    power_basis: PowerBasis


@dataclass
class FleetPlan:
    """Every viable choice sized for ``qps``, cheapest known monthly cost first."""

    ranking: Ranking
    qps: float
    headroom: float
    options: list[FleetOption]
    unsized: list[tuple[Choice, str]] = field(default_factory=list)

    def assumptions(self) -> list[str]:
        return [
            f"capacity per device = measured single-stream throughput (one request at a time); "
            f"devices run at <= {self.headroom:.0%} of it: devices = ceil(qps / "
            f"(throughput x {self.headroom:g}))",
            f"p{self.ranking.percentile} is the measured service time and excludes queueing; "
            "'queue wait' is the M/G/1 mean wait (Pollaczek-Khinchine, from the measured "
            "latency's mean and spread) with Poisson arrivals split evenly over the devices: "
            "an estimate, not measured",
            "monthly: instances billed 730.5 h/month; owned devices amortized over their "
            "lifetime, drawing their serving power around the clock (an upper bound)",
        ]


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
    """Size the ranking's qualifying choices (pure: no store access)."""
    options: list[FleetOption] = []
    unsized: list[tuple[Choice, str]] = []
    for c in ranking.ranked:
        ips = c.throughput_ips
        if not ips or ips <= 0:
            unsized.append((c, "no throughput measured"))
            continue
        n = devices_needed(qps, ips, headroom)
        per_device = qps / n
        wait = mg1_mean_wait_s(per_device, ips, _cv2(c))
        watts = c.cost.power.watts
        options.append(
            FleetOption(
                choice=c,
                capacity_ips=ips,
                devices=n,
                utilization=per_device / ips,
                queue_wait_ms=wait * 1e3 if wait is not None else None,
                monthly=monthly_cost(c.cost_input, c.cost.power, n),
                power_w=watts * n if watts is not None else None,
                power_basis=c.cost.power.basis,
            )
        )
    options.sort(
        key=lambda o: (
            o.monthly.usd is None,
            o.monthly.usd if o.monthly.usd is not None else 0.0,
            o.devices,
        )
    )
    return FleetPlan(ranking, qps, headroom, options, unsized)


def _cv2(c: Choice) -> float:
    """Squared coefficient of variation of the measured latency (0 when unknown)."""
    mean = c.mean_ms.point if c.mean_ms is not None else None
    if not mean or c.std_ms is None:
        return 0.0
    return (c.std_ms / mean) ** 2
