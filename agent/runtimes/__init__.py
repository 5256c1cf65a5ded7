"""Runtime adapters, each declared by the ``DESCRIPTOR`` at the top of its module.

Adding a runtime is one module in this folder (a descriptor and an adapter that imports its
runtime package only inside ``describe``/``load``) plus one line in ``REGISTERED``.
Descriptors are read without importing any runtime (docs/runtimes.md).
"""

from __future__ import annotations

import importlib
from functools import cache

from rigbench.agent.runtimes.base import RuntimeAdapter, RuntimeDescription
from rigbench.agent.runtimes.descriptor import RuntimeDescriptor
from rigbench.errors import RuntimeUnavailableError

REGISTERED: tuple[str, ...] = (
    "rigbench.agent.runtimes.onnxruntime",
    "rigbench.agent.runtimes.litert",
    "rigbench.agent.runtimes.openvino",
)


@cache
def descriptors() -> dict[str, RuntimeDescriptor]:
    """Every registered runtime's descriptor, by name, in registration order."""
    out: dict[str, RuntimeDescriptor] = {}
    for module in REGISTERED:
        d: RuntimeDescriptor = importlib.import_module(module).DESCRIPTOR
        if d.name in out:
            raise RuntimeError(f"runtime {d.name!r} registered twice")
        out[d.name] = d
    return out


def runtime_names() -> tuple[str, ...]:
    return tuple(descriptors())


def descriptor(name: str) -> RuntimeDescriptor:
    """The descriptor of runtime ``name``, or a one-line error listing the known runtimes."""
    try:
        return descriptors()[name]
    except KeyError:
        raise RuntimeUnavailableError(
            f"unknown runtime {name!r}; known runtimes: {', '.join(descriptors())}"
        ) from None


def runtimes_for_format(fmt: str) -> list[RuntimeDescriptor]:
    """Runtimes that load models of format ``fmt``; those whose own format it is come first."""
    ds = [d for d in descriptors().values() if fmt in d.formats]
    return sorted(ds, key=lambda d: d.formats.index(fmt))


def adapter_class(name: str) -> type[RuntimeAdapter]:
    """The adapter class registered under ``name``."""
    d = descriptor(name)
    module = next(m for m in REGISTERED if importlib.import_module(m).DESCRIPTOR is d)
    cls: type[RuntimeAdapter] = getattr(importlib.import_module(module), d.adapter)
    return cls


def describe_runtimes() -> list[RuntimeDescription]:
    """Every registered runtime that is installed here."""
    found = []
    for name in descriptors():
        desc = adapter_class(name).describe()
        if desc is not None:
            found.append(desc)
    return found


def absent_runtimes(installed: list[RuntimeDescription]) -> list[str]:
    """Registered runtimes that are not installed here, for Describe to say so."""
    have = {r.name for r in installed}
    return [n for n in descriptors() if n not in have]
