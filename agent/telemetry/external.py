"""An external power meter: any command that prints the current draw in watts.

A smart plug, a USB power meter or a lab supply usually has a CLI or a one-line script,
configured as the device's ``sensors: {external: {command: ...}}`` in the inventory (the
agent's ``--sensor external.command=...``). Wall or supply power is the only figure that covers
the whole device, so when a meter is configured its total is preferred over on-board sensors.
The first number in the output is taken as watts; anything else (no number, negative, NaN) is
a garbage reading and is skipped, not recorded as 0.
"""

from __future__ import annotations

import math
import re
import shlex

from rigbench.agent.telemetry.base import (
    EnergyRole,
    Reading,
    SensorEnv,
    SensorInfo,
    Setting,
    SourceStatus,
    TelemetrySource,
    not_available,
    total_sensor,
)
from rigbench.errors import TelemetryError

_NUMBER_RE = re.compile(r"(?<![\w.])[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def parse_watts(text: str) -> float:
    """The first number printed, as watts; raises on missing, negative or non-finite values."""
    m = _NUMBER_RE.search(text)
    if m is None:
        raise TelemetryError(f"power meter printed no number: {text.strip()[:60]!r}")
    watts = float(m.group(0))
    if not math.isfinite(watts) or watts < 0:
        raise TelemetryError(f"power meter printed an impossible value: {watts}")
    return watts


class ExternalMeterSource(TelemetrySource):
    """`external:total` power_mw from the configured meter command."""

    name = "external"
    min_interval_s = 0.25
    energy_role = EnergyRole.WHOLE_DEVICE
    energy_rank = 3  # wall or supply power: the only figure that covers the whole device
    covers = "the external meter's reading"
    settings = (
        Setting(
            "command",
            "a command that prints the device's power in watts (split like a shell does)",
            "tplink-smartplug --watts",
        ),
    )

    def __init__(self, env: SensorEnv, argv: list[str]) -> None:
        super().__init__()
        self._env = env
        self._argv = argv

    @classmethod
    def check_setting(cls, key: str, value: str) -> None:
        super().check_setting(key, value)
        try:
            shlex.split(value)
        except ValueError as e:
            raise ValueError(f"external.command cannot be split into words: {e}") from e

    @staticmethod
    def argv(env: SensorEnv) -> list[str] | None:
        command = env.setting("external", "command")
        return shlex.split(command) if command else None

    @classmethod
    def probe(cls, env: SensorEnv) -> SensorInfo:
        argv = cls.argv(env)
        if not argv:
            return not_available(cls.name, "no external meter command configured", env)
        try:
            watts = parse_watts(env.run(argv, env.command_timeout_s))
        except TelemetryError as e:
            return not_available(cls.name, f"meter command failed: {e}", env)
        return SensorInfo(
            cls.name,
            SourceStatus.AVAILABLE,
            f"`{' '.join(argv)}` reads {watts:g} W",
            (total_sensor(cls.name),),
            None,
            env.simulated,
        )

    @classmethod
    def open(cls, env: SensorEnv) -> ExternalMeterSource:
        argv = cls.argv(env)
        if not argv:
            raise TelemetryError("no external meter command configured")
        return cls(env, argv)

    def read(self) -> list[Reading]:
        watts = parse_watts(self._env.run(self._argv, self._env.command_timeout_s))
        return [Reading(total_sensor(self.name), "power_mw", watts * 1000)]
