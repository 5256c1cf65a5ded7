"""The configurations ``rigbench tune`` may try on one device, and how they are named.

A configuration is one way to serve a model: a variant, a runtime with one provider (or
delegate, or device), a thread count, the runtime's own knobs (from its descriptor's
``tune``), and the scenario's load knobs (batch, concurrency) where the scenario has them.
The space of one device is every combination the device can run, taken from what its agent
describes (the runtimes it has, their providers, its cores), narrowed by what the user asks.
Nothing here names a runtime: runtimes, providers and knobs come from the descriptors.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from rigbench import limits
from rigbench.agent.runtimes import descriptors
from rigbench.agent.runtimes.descriptor import RuntimeDescriptor
from rigbench.controller.tune.config import Config
from rigbench.errors import UsageError


@dataclass(frozen=True)
class DeviceFacts:
    """What tune needs from one device's Describe: its cores and the runtimes it has."""

    name: str
    cores_logical: int
    cores_physical: int
    runtimes: Mapping[str, tuple[str, ...]]  # runtime -> providers as Describe reports them

    @classmethod
    def from_description(cls, name: str, desc: Mapping[str, object]) -> DeviceFacts:
        """From a stored or received description (``DeviceDescription.to_dict()``)."""
        runtimes: dict[str, tuple[str, ...]] = {}
        for r in desc.get("runtimes") or ():  # type: ignore[attr-defined]
            runtimes[str(r["name"])] = tuple(str(p) for p in r.get("providers") or ())
        logical = int(desc.get("cpu_cores_logical") or 0)  # type: ignore[call-overload]
        physical = int(desc.get("cpu_cores_physical") or 0)  # type: ignore[call-overload]
        return cls(name, logical, physical or logical, runtimes)


@dataclass(frozen=True)
class Narrowing:
    """What the user narrowed the space to; None everywhere: all the device offers.

    ``settings`` maps a knob to the values to try (a knob left out keeps its descriptor's
    values; an empty tuple leaves the knob at the runtime's default). ``load`` maps a scenario
    knob (batch, concurrency) to the values to try; without it every configuration is
    single-stream.
    """

    variants: tuple[str, ...] | None = None
    runtimes: tuple[str, ...] | None = None
    providers: tuple[str, ...] | None = None
    threads: tuple[int, ...] | None = None
    settings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    load: Mapping[str, tuple[int, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Space:
    """One device's configurations, and what was left out of the space and why."""

    device: str
    configs: tuple[Config, ...]
    left_out: tuple[str, ...] = ()  # one line each: "runtime openvino: not installed on pi"


def thread_counts(logical: int, physical: int) -> tuple[int, ...]:
    """Thread counts worth trying: 1, the powers of two below the core count, the physical
    and the logical core count (1 alone when the agent could not count its cores).
    """
    if logical <= 1:
        return (1,)
    counts = {1, logical, max(1, physical)}
    n = 2
    while n < logical:
        counts.add(n)
        n *= 2
    return tuple(sorted(counts))


def build_space(
    facts: DeviceFacts,
    variant_formats: Mapping[str, str],
    narrowing: Narrowing = Narrowing(),
    registry: Mapping[str, RuntimeDescriptor] | None = None,
) -> Space:
    """Every configuration ``facts``' device can run of the variants (name -> format).

    A variant pairs with every runtime that loads its format and that the device has; each
    runtime with every provider the device reports (or those narrowed to), every thread count
    (runtimes that take one), every combination of its tune knobs, and every load point.
    """
    registry = dict(registry if registry is not None else descriptors())
    check_narrowing(narrowing, registry, variant_formats)
    left_out: list[str] = []
    threads = narrowing.threads or thread_counts(facts.cores_logical, facts.cores_physical)
    load_knobs = sorted(narrowing.load.items())
    load_points = [
        tuple(zip((k for k, _ in load_knobs), values))
        for values in itertools.product(*(v for _, v in load_knobs))
    ]
    configs: list[Config] = []
    for name, d in registry.items():
        if narrowing.runtimes is not None and name not in narrowing.runtimes:
            continue
        if name not in facts.runtimes:
            left_out.append(f"runtime {name}: not installed on {facts.name}")
            continue
        providers = d.available_providers(facts.runtimes[name])
        if narrowing.providers is not None:
            wanted = {p.lower() for p in narrowing.providers}
            providers = tuple(p for p in providers if p.lower() in wanted)
        if not providers:
            left_out.append(
                f"runtime {name}: none of its {d.provider_word}s "
                + (f"{', '.join(narrowing.providers)} " if narrowing.providers else "")
                + f"is available on {facts.name} (it reports "
                + f"{', '.join(facts.runtimes[name]) or 'none'})"
            )
            continue
        variants = [v for v, fmt in variant_formats.items() if fmt in d.formats]
        if not variants:
            continue
        knobs = [
            (k.name, narrowing.settings.get(k.name, k.values))
            for k in d.tune
            if narrowing.settings.get(k.name, k.values)
        ]
        setting_sets = [
            tuple(sorted(zip((k for k, _ in knobs), values)))
            for values in itertools.product(*(v for _, v in knobs))
        ]
        runtime_threads = threads if d.takes_threads else (0,)
        for variant, provider, t, settings, load in itertools.product(
            variants, providers, runtime_threads, setting_sets, load_points
        ):
            configs.append(Config(variant, name, provider, t, settings, load))
    problem = limits.TUNE_CONFIGS.problem(len(configs))
    if problem is not None:
        raise UsageError(
            f"device {facts.name}: {len(configs)} configurations to tune: {problem}; narrow "
            "the space with --variant, --runtime, --provider, --threads or --set"
        )
    return Space(facts.name, tuple(configs), tuple(left_out))


def check_narrowing(
    n: Narrowing,
    registry: Mapping[str, RuntimeDescriptor] | None = None,
    variant_formats: Mapping[str, str] | None = None,
) -> None:
    """A name the user gave that no runtime, provider or knob has is a usage error."""
    registry = dict(registry if registry is not None else descriptors())
    if n.runtimes is not None:
        _known("--runtime", n.runtimes, registry)
    if n.providers is not None:
        every = {p.lower() for d in registry.values() for p in d.providers}
        _known("--provider", [p.lower() for p in n.providers], every)
    knobs = {k.name for d in registry.values() for k in d.tune}
    _known("--set", n.settings, knobs)
    for name, values in n.settings.items():
        allowed = _knob_choices(name, registry)
        bad = [v for v in values if allowed and v not in allowed]
        if bad:
            raise UsageError(
                f"--set {name}: {', '.join(bad)} is not one of {', '.join(sorted(allowed))}"
            )
    if n.variants is not None and variant_formats is not None:
        _known("--variant", n.variants, variant_formats)
    if n.threads is not None and any(t < 1 for t in n.threads):
        raise UsageError("--threads: give counts of at least 1")


def _knob_choices(name: str, registry: Mapping[str, RuntimeDescriptor]) -> set[str]:
    """The values a knob may take, where a runtime declares them (empty: any)."""
    out: set[str] = set()
    for d in registry.values():
        opt, knob = d.option(name), d.tune_knob(name)
        if opt is not None and opt.choices:
            out |= set(opt.choices)
        if knob is not None and knob.choices:
            out |= set(knob.choices)
    return out


def _known(option: str, given: Iterable[str], known: Iterable[str]) -> None:
    known_set = set(known)
    unknown = [g for g in given if g not in known_set]
    if unknown:
        raise UsageError(
            f"{option}: unknown {', '.join(map(repr, unknown))}; known: "
            f"{', '.join(sorted(known_set)) or 'none'}"
        )


def describe_space(space: Space) -> str:
    """``48 configurations: 6 variants x 2 runtimes ...`` for progress lines."""
    c = space.configs
    dims: Sequence[tuple[str, set[object]]] = (
        ("variant", {x.variant for x in c}),
        ("runtime", {(x.runtime, x.provider) for x in c}),
        ("thread count", {x.threads for x in c}),
        ("setting", {x.settings for x in c}),
        ("load point", {x.load for x in c}),
    )
    parts = [f"{len(v)} {name}{'s' if len(v) != 1 else ''}" for name, v in dims if len(v) > 1]
    return f"{len(c)} configuration{'s' if len(c) != 1 else ''}" + (
        f" ({' x '.join(parts)}, where formats match)" if parts else ""
    )
