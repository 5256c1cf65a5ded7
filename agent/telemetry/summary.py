"""Turn a sampler's timeline into the figures a result carries: power, energy, heat, throttling.

Rules, each for a reason:

* Energy prefers a hardware counter (RAPL, NVML) over integrating polled power: a counter
  integrates between polls, polled power aliases with bursty inference.
* Energy is reported only when the window spans at least `MIN_UPDATES` sensor updates; a
  window shorter than the sensor's refresh period would report one stale reading as energy.
* One device, one energy figure without double counting: each source says how its total
  counts (`TelemetrySource.energy_role`). Of the whole-device sources present the highest
  `energy_rank` wins alone (an external meter, else a Jetson's module input, else a Pi's PMIC);
  else the disjoint parts (RAPL's CPU, NVML's GPU) are added. `energy_source` names every part
  and `notes` say what the figure covers (`TelemetrySource.covers`).
* Every figure is None when it was not measured; `notes` say why.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from rigbench.agent.telemetry import SOURCES
from rigbench.agent.telemetry.base import EnergyRole, TelemetrySource, total_sensor
from rigbench.agent.telemetry.sampler import Gap, Sample

MIN_UPDATES = 3
MIN_COVERAGE = 0.5  # below this share of the window, energy is not extrapolated

Window = tuple[int, int]
Sources = Sequence[type[TelemetrySource]]


@dataclass
class TelemetrySummary:
    """Per-result telemetry figures; None means "not available", never 0."""

    avg_power_mw: float | None = None
    idle_power_mw: float | None = None
    energy_mj: float | None = None
    dynamic_energy_mj: float | None = None
    energy_per_inference_mj: float | None = None
    dynamic_energy_per_inference_mj: float | None = None
    energy_source: str | None = None
    energy_coverage: float | None = None
    peak_temp_mc: float | None = None
    min_clock_khz: float | None = None
    max_clock_khz: float | None = None
    throttled: bool | None = None  # None: no throttle flag or counter here to tell
    throttle_reasons: list[str] = field(default_factory=list)
    first_throttle_ns: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TelemetrySummary:
        """Inverse of `to_dict`; unknown keys (from a newer agent) are ignored."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["throttle_reasons"] = list(kwargs.get("throttle_reasons") or [])
        kwargs["notes"] = list(kwargs.get("notes") or [])
        return cls(**kwargs)


@dataclass(frozen=True)
class Part:
    """Energy/power of one total sensor over one window."""

    sensor: str
    kind: str  # "counter" | "integrated"
    avg_power_mw: float
    covered_ns: int


Series = list[tuple[int, float]]


def _series(samples: Iterable[Sample], sensor: str, metric: str) -> Series:
    return sorted((s.t_ns, s.value) for s in samples if s.sensor == sensor and s.metric == metric)


def _interp(a: tuple[int, float], b: tuple[int, float], t: int) -> float:
    (ta, va), (tb, vb) = a, b
    return va if tb == ta else va + (vb - va) * (t - ta) / (tb - ta)


def _max_step_ns(series: Series, update_period_s: float | None) -> float:
    """Longest spacing still treated as continuous; longer is a gap in the data."""
    steps = [b[0] - a[0] for a, b in zip(series, series[1:], strict=False)]
    typical = statistics.median(steps) if steps else 0.0
    period = (update_period_s or 0.0) * 1e9
    return 2.5 * max(typical, period)


def clip(series: Series, window: Window, update_period_s: float | None) -> Series:
    """Points inside the window, plus values interpolated at the bounds when bracketed."""
    t0, t1 = window
    max_step = _max_step_ns(series, update_period_s)
    out = [p for p in series if t0 <= p[0] <= t1]
    times = {t for t, _ in out}
    for bound in (t0, t1):
        if bound in times:
            continue
        before = [p for p in series if p[0] < bound]
        after = [p for p in series if p[0] > bound]
        if before and after and after[0][0] - before[-1][0] <= max_step:
            out.append((bound, _interp(before[-1], after[0], bound)))
    return sorted(out)


def counter_part(series: Series, window: Window, sensor: str, period: float | None) -> Part | None:
    """Average power from a cumulative energy_uj counter over the window."""
    pts = clip(series, window, period)
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return None
    d_uj = pts[-1][1] - pts[0][1]
    if d_uj < 0:
        return None
    covered = pts[-1][0] - pts[0][0]
    return Part(sensor, "counter", d_uj / (covered / 1e9) / 1000, covered)  # uJ/s = uW -> mW


def power_part(series: Series, window: Window, sensor: str, period: float | None) -> Part | None:
    """Average power by trapezoids over the window's continuous stretches of power_mw."""
    pts = clip(series, window, period)
    max_step = _max_step_ns(series, period)
    energy = 0.0  # mW * ns
    covered = 0
    for (ta, va), (tb, vb) in zip(pts, pts[1:], strict=False):
        if tb - ta <= max_step:
            energy += (va + vb) / 2 * (tb - ta)
            covered += tb - ta
    if covered <= 0:
        return None
    return Part(sensor, "integrated", energy / covered, covered)


def _enough_updates(series: Series, window: Window, period: float | None, points: int) -> bool:
    """The window spans MIN_UPDATES refresh periods (when known) and holds `points` samples."""
    if period is not None and (window[1] - window[0]) / 1e9 < MIN_UPDATES * period:
        return False
    return len([p for p in series if window[0] <= p[0] <= window[1]]) >= points


def _part(
    samples: Sequence[Sample], source: str, window: Window, period: float | None
) -> tuple[Part | None, str | None]:
    """The best Part for a source's total sensor, or a note saying why there is none."""
    sensor = total_sensor(source)
    counter = _series(samples, sensor, "energy_uj")
    power = _series(samples, sensor, "power_mw")
    too_short = (
        f"{sensor}: energy not reported: window spans fewer than {MIN_UPDATES} sensor updates"
    )
    if counter:
        if not _enough_updates(counter, window, period, 2):
            return None, too_short
        return counter_part(counter, window, sensor, period), None
    if power:
        if not _enough_updates(power, window, period, MIN_UPDATES):
            return None, too_short
        return power_part(power, window, sensor, period), None
    return None, None


def _present_sources(samples: Sequence[Sample]) -> set[str]:
    return {s.sensor.split(":", 1)[0] for s in samples if s.sensor.endswith(":total")}


def device_power(
    samples: Sequence[Sample],
    window: Window,
    periods: dict[str, float | None],
    sources: Sources = SOURCES,
) -> tuple[list[Part], list[str]]:
    """The parts that make up device power over `window`, and notes on what is missing."""
    present = [s for s in sources if s.name in _present_sources(samples)]
    notes: list[str] = []
    whole = [s for s in present if s.energy_role is EnergyRole.WHOLE_DEVICE]
    if whole:
        source = max(whole, key=lambda s: s.energy_rank).name
        part, note = _part(samples, source, window, periods.get(source))
        return ([part] if part else []), ([note] if note else [])
    parts = []
    for s in present:
        if s.energy_role is EnergyRole.PART:
            part, note = _part(samples, s.name, window, periods.get(s.name))
            if part:
                parts.append(part)
            if note:
                notes.append(note)
    return parts, notes


def _clock_range(
    samples: Sequence[Sample], sources: Sources
) -> tuple[float | None, float | None, str | None]:
    """min/max over time of the fastest core's clock, from the most telling clock family."""
    clocks = [s for s in samples if s.metric == "clock_khz"]
    families = sorted((s.clocks for s in sources if s.clocks), key=lambda f: -f.rank)
    for family in families:
        chosen = [s for s in clocks if family.match(s.sensor)]
        if chosen:
            per_tick: dict[int, float] = defaultdict(float)
            for s in chosen:
                per_tick[s.t_ns] = max(per_tick[s.t_ns], s.value)
            values = list(per_tick.values())
            return min(values), max(values), family.label
    return None, None, None


def _throttling(
    samples: Sequence[Sample], window: Window
) -> tuple[list[str], int | None]:
    """Reasons seen in the window and the first time (absolute ns) one was seen."""
    t0, t1 = window
    first: dict[str, int] = {}
    flags = [s for s in samples if s.metric == "throttled" and t0 <= s.t_ns <= t1]
    for s in sorted(flags, key=lambda s: s.t_ns):
        if s.value >= 0.5:
            first.setdefault(s.sensor, s.t_ns)
    counters: dict[str, Series] = defaultdict(list)
    for s in samples:
        if s.metric == "throttle_count":
            counters[s.sensor].append((s.t_ns, s.value))
    for sensor, series in counters.items():
        series.sort()
        before = [v for t, v in series if t <= t0]
        base = before[-1] if before else None
        for t, v in series:
            if t < t0 or t > t1:
                continue
            if base is None:
                base = v
            elif v > base:
                first.setdefault(sensor, t)
                break
    if not first:
        return [], None
    return sorted(first), min(first.values())


def summarize(
    samples: Sequence[Sample],
    gaps: Sequence[Gap],
    *,
    window: Window,
    idle_window: Window | None = None,
    iterations: int,
    update_periods: dict[str, float | None] | None = None,
    sources: Sources = SOURCES,
) -> TelemetrySummary:
    """Summarise the measured `window` (and the optional idle baseline) of a run.

    ``sources`` are the classes the samples came from: they say how each counts.
    """
    t0, t1 = window
    if t1 <= t0:
        raise ValueError("window must end after it starts")
    periods = dict(update_periods or {})
    out = TelemetrySummary()
    window_s = (t1 - t0) / 1e9

    parts, notes = device_power(samples, window, periods, sources)
    by_name = {s.name: s for s in sources}
    out.notes += notes
    if parts:
        coverage = min(p.covered_ns for p in parts) / (t1 - t0)
        out.energy_coverage = round(min(1.0, coverage), 4)
        out.avg_power_mw = sum(p.avg_power_mw for p in parts)
        out.energy_source = "+".join(f"{p.kind}:{p.sensor}" for p in parts)
        for p in parts:
            source = p.sensor.split(":", 1)[0]
            covers = by_name[source].covers if source in by_name else ""
            out.notes.append(f"{p.sensor} covers {covers or source}")
        if coverage >= MIN_COVERAGE:
            out.energy_mj = out.avg_power_mw * window_s
        else:
            out.notes.append(
                f"energy not reported: valid samples cover only {coverage:.0%} of the window"
            )
    elif not notes:
        out.notes.append("power not available: no power or energy sensor on this device")
    if out.energy_mj is not None and notes:
        out.notes.append("energy is partial: some parts of the device were not measured")

    if idle_window is not None:
        idle_parts, idle_notes = device_power(samples, idle_window, periods, sources)
        idle_sensors = {p.sensor for p in idle_parts}
        if idle_parts and idle_sensors == {p.sensor for p in parts}:
            out.idle_power_mw = sum(p.avg_power_mw for p in idle_parts)
        else:
            out.notes += [f"idle: {n}" for n in idle_notes] or [
                "idle power not available for the sensors used in the window"
            ]
    if out.energy_mj is not None and out.idle_power_mw is not None:
        dynamic = out.energy_mj - out.idle_power_mw * window_s
        if dynamic < 0:
            out.notes.append("dynamic energy clamped to 0: window power was below idle power")
        out.dynamic_energy_mj = max(0.0, dynamic)
    if iterations > 0:
        if out.energy_mj is not None:
            out.energy_per_inference_mj = out.energy_mj / iterations
        if out.dynamic_energy_mj is not None:
            out.dynamic_energy_per_inference_mj = out.dynamic_energy_mj / iterations

    in_window = [s for s in samples if t0 <= s.t_ns <= t1]
    temps = [s.value for s in in_window if s.metric == "temp_mc"]
    out.peak_temp_mc = max(temps) if temps else None
    out.min_clock_khz, out.max_clock_khz, family = _clock_range(in_window, sources)
    if family is not None:
        out.notes.append(f"clocks from {family}")

    reasons, first = _throttling(samples, window)
    evidence = any(s.metric in ("throttled", "throttle_count") for s in in_window)
    out.throttled = bool(reasons) if evidence or reasons else None
    out.throttle_reasons = reasons
    out.first_throttle_ns = first - t0 if first is not None else None

    window_gaps = [g for g in gaps if t0 <= g.t_ns <= t1]
    if window_gaps:
        by_source: dict[str, int] = defaultdict(int)
        for g in window_gaps:
            by_source[g.source] += 1
        listed = ", ".join(f"{src} x{n}" for src, n in sorted(by_source.items()))
        out.notes.append(f"{len(window_gaps)} failed sensor reads in the window ({listed})")
    return out
