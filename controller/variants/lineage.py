"""Where a compiled artifact came from: source digest, transform, parameters, tool versions.

A benchmark figure is only worth comparing with last night's if both ran the same bytes made
the same way. Each compiled artifact therefore carries a lineage record, written beside it in
the compile cache as ``lineage.json``, that answers "which source, which transform, which
settings, which tool versions, how big, how long it took".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

LINEAGE_FILE = "lineage.json"
LINEAGE_SCHEMA = 1


def tool_versions(distributions: Iterable[str]) -> dict[str, str]:
    """Installed versions of the named distributions (``"not installed"`` when absent).

    Read from package metadata, so nothing heavy is imported just to learn a version.
    """
    out: dict[str, str] = {}
    for dist in distributions:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


@dataclass(frozen=True)
class Lineage:
    """Everything ``lineage.json`` holds about one artifact."""

    variant: str
    format: str
    artifact: str  # file name inside the cache entry
    sha256: str
    source_sha256: str
    transform: str
    transform_revision: int
    params: dict[str, Any]
    tool_versions: dict[str, str]
    size_bytes: int
    compile_ms: float
    warnings: tuple[str, ...]
    cache_key: str
    created_utc: str
    extra: dict[str, Any]  # transform-specific facts, e.g. calibration provenance

    def to_json(self) -> str:
        """Stable, human-readable JSON."""
        d = {"schema": LINEAGE_SCHEMA, **self.__dict__, "warnings": list(self.warnings)}
        return json.dumps(d, indent=2, sort_keys=True, default=str) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Lineage:
        """Parse what ``to_json`` wrote; raises ValueError/KeyError on anything else."""
        d = json.loads(text)
        if d.pop("schema", None) != LINEAGE_SCHEMA:
            raise ValueError("unknown lineage schema")
        d["warnings"] = tuple(d["warnings"])
        return cls(**d)


def now_utc() -> str:
    """ISO-8601 UTC timestamp for ``created_utc``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def canonical_json(value: Mapping[str, Any]) -> str:
    """Key-sorted compact JSON: the same mapping always gives the same text (and digest)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
