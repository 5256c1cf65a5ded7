"""What every telemetry backend shares: the reading, the status it reports, and where it reads.

A backend is one small module with one `TelemetrySource` subclass. `probe` tells the agent's
`Describe` what the device offers (and why not, with the fix); `open`/`read`/`close` feed the
sampler thread. Everything a backend touches (the sysfs root, the command runner) lives in a
`SensorEnv`, so the same code reads real hardware, captured fixtures or a recorded device.

A figure that cannot be measured is absent, never 0: a backend returns no `Reading` for it.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from rigbench.agent.telemetry.commands import (
    CommandRunner,
    LineStream,
    StreamSpawner,
    run_command,
    spawn_lines,
)

METRICS = frozenset(
    {
        "temp_mc",
        "power_mw",
        "energy_uj",
        "clock_khz",
        "util_pct",
        "mem_used_kb",
        "voltage_mv",
        "current_ma",
        "throttled",  # 1.0 while the condition named by the sensor holds, else 0.0
        "throttle_count",  # a counter that grows when throttling happened (even between polls)
    }
)

TOTAL = "total"
"""Suffix of the one sensor per source that is its best non-overlapping total (`rapl:total`)."""

SensorSettings = dict[str, dict[str, str]]
"""Per-source settings, ``{source: {key: value}}``: the inventory's ``sensors:`` mapping, the
agent's ``--sensor SOURCE.KEY=VALUE`` options, and what ``Describe`` reports back.
"""


def total_sensor(source: str) -> str:
    """The sensor id of a source's total power/energy, e.g. `jetson:total`."""
    return f"{source}:{TOTAL}"


@dataclass(frozen=True)
class Reading:
    """One value read from one sensor."""

    sensor: str  # stable id, e.g. "rapl:package-0", "thermal:x86_pkg_temp", "jetson:VDD_IN"
    metric: str  # one of METRICS; the unit is in the name
    value: float


class EnergyRole(enum.Enum):
    """How a source's ``<name>:total`` counts toward one device's energy figure."""

    WHOLE_DEVICE = "whole device"
    """Alone, it is the device's figure; of those present, the highest `energy_rank` wins."""
    PART = "part"
    """A disjoint part of the device (CPU, GPU): the parts present are added together."""


@dataclass(frozen=True)
class ClockFamily:
    """A source's clocks that tell the device's speed (the summary's min/max clock)."""

    label: str  # said in the summary's notes: "clocks from <label>"
    rank: int  # of the families present, the highest rank is the most telling
    match: Callable[[str], bool]  # which of the source's sensor ids are in the family


@dataclass(frozen=True)
class Setting:
    """One configuration key a source takes (its schema: the key, what it means, an example)."""

    key: str
    meaning: str
    example: str


class SourceStatus(enum.Enum):
    """Whether a backend can be used on this device."""

    AVAILABLE = "available"
    NEEDS_PERMISSION = "needs permission"
    NOT_AVAILABLE = "not available"


@dataclass(frozen=True)
class SensorInfo:
    """What `Describe` lists for each backend."""

    source: str
    status: SourceStatus
    detail: str  # human text: what was found, or why not and how to fix it
    sensors: tuple[str, ...] = ()
    update_period_s: float | None = None  # how often the hardware refreshes, when known
    simulated: bool = False


@dataclass
class SensorEnv:
    """Everything a backend may touch, so tests point it at captured data."""

    root: Path = Path("/")  # sysfs/procfs root
    run: CommandRunner = run_command
    simulated: bool = False  # set when root/runner replay recorded data
    settings: SensorSettings = field(default_factory=dict)  # checked by `check_settings`
    command_timeout_s: float = 2.0
    spawn: StreamSpawner | None = None  # long-running commands (tegrastats); see `stream`

    def stream(self, argv: Sequence[str]) -> LineStream:
        """Start a long-running command: `spawn` if set, else the runner's own `spawn` (a
        recorded runner replays streams too), else a real child process.
        """
        spawner = self.spawn or getattr(self.run, "spawn", None) or spawn_lines
        return spawner(argv)

    def setting(self, source: str, key: str) -> str | None:
        """A source's configured value for ``key``, or None when not configured."""
        return self.settings.get(source, {}).get(key)


class TelemetrySource(ABC):
    """One backend. Subclasses set `name` and implement probe/open/read.

    A source describes itself here, so nothing outside its module lists it: whether and how
    its total counts toward energy (`energy_role`, `energy_rank`, `covers`), which of its
    clocks tell the device's speed (`clocks`), and the settings it takes (`settings`, read
    with `SensorEnv.setting`).
    """

    name: ClassVar[str]
    min_interval_s: float = 0.0
    """The sampler polls this source no faster than this (forking a command is not free)."""
    energy_role: ClassVar[EnergyRole | None] = None
    """How its `<name>:total` power/energy counts toward the device's energy (None: not)."""
    energy_rank: ClassVar[int] = 0
    """Among whole-device sources present, the highest rank is the device's figure."""
    covers: ClassVar[str] = ""
    """What its total covers, said beside every energy figure taken from it."""
    clocks: ClassVar[ClockFamily | None] = None
    settings: ClassVar[tuple[Setting, ...]] = ()

    @classmethod
    def check_setting(cls, key: str, value: str) -> None:
        """Raise ValueError when ``value`` is not usable for ``key`` (the key is known)."""
        if not value.strip():
            raise ValueError(f"{cls.name}.{key} is empty")

    def __init__(self) -> None:
        self._problems: list[str] = []

    @classmethod
    @abstractmethod
    def probe(cls, env: SensorEnv) -> SensorInfo:
        """Say whether this backend works here. Never raises."""

    @classmethod
    @abstractmethod
    def open(cls, env: SensorEnv) -> TelemetrySource:
        """Start reading; may raise `TelemetryError` when the source is not usable."""

    @abstractmethod
    def read(self) -> list[Reading]:
        """Read every sensor once; raises `TelemetryError` when nothing could be read."""

    def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release what `open` acquired."""

    def problems(self) -> list[str]:
        """Sensors that failed during the last `read` while others worked (then cleared)."""
        out, self._problems = self._problems, []
        return out

    def _problem(self, what: str) -> None:
        self._problems.append(what)


def not_available(source: str, detail: str, env: SensorEnv) -> SensorInfo:
    """The info of a backend that found nothing to read."""
    return SensorInfo(source, SourceStatus.NOT_AVAILABLE, detail, simulated=env.simulated)
