"""A device's sensor settings: checked against each source's schema, and their option form.

The inventory's ``sensors: {SOURCE: {KEY: VALUE}}`` becomes the agent's
``--sensor SOURCE.KEY=VALUE`` options, whichever way the agent is started (a local subprocess,
an SSH-installed unit or supervisor, by hand for a gRPC device); the agent reports the settings
it runs with in ``Describe``, and the controller checks them against the inventory.
"""

from __future__ import annotations

from collections.abc import Iterable

from rigbench.agent.telemetry import SOURCES
from rigbench.agent.telemetry.base import SensorSettings, TelemetrySource

OPTION = "--sensor"


def source_named(name: str) -> type[TelemetrySource] | None:
    return next((s for s in SOURCES if s.name == name), None)


def check_settings(settings: SensorSettings) -> SensorSettings:
    """The settings, checked against each source's schema; raises ValueError naming the fix.

    The inventory (on the controller) and the agent's options check them the same way. Sources
    and keys are sorted, so two equal settings compare equal.
    """
    configurable = [s for s in SOURCES if s.settings]
    out: SensorSettings = {}
    for name, values in settings.items():
        source = source_named(name)
        if source is None or not source.settings:
            known = ", ".join(s.name for s in configurable) or "(none)"
            raise ValueError(f"no configurable sensor source {name!r}; sources: {known}")
        keys = {k.key for k in source.settings}
        for key, value in values.items():
            if key not in keys:
                raise ValueError(f"{name} takes {', '.join(sorted(keys))}, not {key!r}")
            source.check_setting(key, value)
        if values:
            out[name] = dict(sorted(values.items()))
    return dict(sorted(out.items()))


def to_options(settings: SensorSettings) -> list[str]:
    """``--sensor SOURCE.KEY=VALUE`` for every setting, in a stable order."""
    out: list[str] = []
    for source, values in sorted(settings.items()):
        for key, value in sorted(values.items()):
            out += [OPTION, f"{source}.{key}={value}"]
    return out


def from_options(options: Iterable[str]) -> SensorSettings:
    """Settings from ``SOURCE.KEY=VALUE`` words (the values of ``--sensor``), checked."""
    settings: SensorSettings = {}
    for word in options:
        name, eq, value = word.partition("=")
        source, dot, key = name.partition(".")
        if not (eq and dot and source and key):
            raise ValueError(f"{OPTION} takes SOURCE.KEY=VALUE, e.g. external.command='meter -w'"
                             f", not {word!r}")
        settings.setdefault(source, {})[key] = value
    return check_settings(settings)
