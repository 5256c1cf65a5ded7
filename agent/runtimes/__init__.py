"""Runtime adapters, named by string and imported lazily.

Adding a runtime is one module in this folder plus one line in ``ADAPTERS``.
"""

from __future__ import annotations

import importlib

from rigbench.agent.runtimes.base import RuntimeAdapter, RuntimeDescription
from rigbench.errors import RuntimeUnavailableError

ADAPTERS: dict[str, str] = {
    "onnxruntime": "rigbench.agent.runtimes.onnxruntime:OnnxRuntimeAdapter",
    "litert": "rigbench.agent.runtimes.litert:LiteRTAdapter",
}


def adapter_class(name: str) -> type[RuntimeAdapter]:
    """The adapter class registered under ``name``."""
    try:
        target = ADAPTERS[name]
    except KeyError:
        raise RuntimeUnavailableError(
            f"unknown runtime {name!r}; known runtimes: {', '.join(sorted(ADAPTERS))}"
        ) from None
    module, _, attr = target.partition(":")
    cls: type[RuntimeAdapter] = getattr(importlib.import_module(module), attr)
    return cls


def describe_runtimes() -> list[RuntimeDescription]:
    """Every registered runtime that is installed here."""
    found = []
    for name in ADAPTERS:
        desc = adapter_class(name).describe()
        if desc is not None:
            found.append(desc)
    return found
