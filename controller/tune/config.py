"""One configuration of a model on a device, as ``rigbench tune`` names and races it.

A configuration is one way to serve a model: a variant, a runtime with one provider (or
delegate, or device), a thread count, the runtime's own knobs (from its descriptor's
``tune``), and the scenario's load knobs (batch, concurrency) where the scenario has them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Config:
    """One configuration of a model on a device; ``name`` and ``key`` are stable across runs.

    ``provider`` '' and ``threads`` 0 mean the runtime's own default; ``settings`` are
    (knob, value) pairs sorted by knob; ``load`` (knob, value) pairs of the scenario (batch,
    concurrency), empty for single-stream.
    """

    variant: str
    runtime: str
    provider: str = ""
    threads: int = 0
    settings: tuple[tuple[str, str], ...] = ()
    load: tuple[tuple[str, int], ...] = ()

    @property
    def name(self) -> str:
        """The runtime entry's name in the plan ``tune`` writes, e.g. ``onnxruntime-cpu-t2-all``.

        Unique per (runtime, provider, threads, settings): two configurations that differ in
        any of them never share an entry.
        """
        parts = [self.runtime]
        if self.provider:
            parts.append(self.provider)
        if self.threads:
            parts.append(f"t{self.threads}")
        parts += [_slug(f"{k}-{v}") for k, v in self.settings]
        return _slug("-".join(parts))

    @property
    def scenario(self) -> str:
        """The scenario's name: ``single-stream``, or its load knobs (``c2-b8``)."""
        if not self.load:
            return "single-stream"
        return "-".join(f"{k[0]}{v}" for k, v in self.load)

    @property
    def key(self) -> str:
        """``variant/entry/scenario``: what a trial's job key is made of."""
        return f"{self.variant}/{self.name}/{self.scenario}"

    def setting(self, name: str) -> str | None:
        return dict(self.settings).get(name)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-").lower()
