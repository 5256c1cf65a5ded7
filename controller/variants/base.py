"""What a transform is: a name, the format it takes, its parameters, and a function that writes.

Each transform family lives in its own module and declares ``Transform`` objects; the registry in
``variants/__init__.py`` lists them, one line each. Everything common (format checks, parameter
validation, the cache, lineage, timing) is done once by ``compile_variant``, so a transform only
turns a source file into an artifact file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.controller.variants.formats import EXTENSIONS
from rigbench.errors import VariantError

log = logging.getLogger(__name__)

ANY = "any"
ONNX_TOOLS = ("onnx", "onnxruntime")
TFLITE_TOOLS = ("ai-edge-quantizer", "ai-edge-litert")


@dataclass(frozen=True)
class Param:
    """One parameter of a transform: default, accepted Python types, optional choices."""

    default: Any
    kinds: tuple[type, ...]
    doc: str
    choices: tuple[Any, ...] | None = None
    # A path is not content: path parameters are left out of the cache key, and the
    # transform's fingerprint adds the digest of the file instead.
    keyed: bool = True


@dataclass
class CompileJob:
    """One compile in progress: what the transform reads, where it writes, what it reports."""

    variant: str
    source: Path
    source_format: str
    out_dir: Path  # staging folder: the artifact goes here, scratch files in work_dir
    work_dir: Path
    params: dict[str, Any]
    input_shapes: Mapping[str, Sequence[int]] | None
    calibration: Mapping[str, np.ndarray] | None
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # Files the artifact needs beside it (OpenVINO IR's .bin), written into out_dir too.
    companions: list[Path] = field(default_factory=list)

    def artifact_path(self, fmt: str) -> Path:
        """Where the artifact of format ``fmt`` is written: ``<variant>.<ext>``."""
        return self.out_dir / f"{self.variant}{EXTENSIONS[fmt]}"

    def warn(self, message: str) -> None:
        """Record a warning on the artifact (kept in its lineage); the caller shows it once."""
        self.warnings.append(message)
        log.debug("%s: %s", self.variant, message)


@dataclass(frozen=True)
class Transform:
    """A registered variant."""

    name: str
    source_format: str  # "onnx", "tflite" or "any"
    summary: str
    run: Callable[[CompileJob], Path]  # writes the artifact, returns its path
    transform: str = ""  # the tool call that does the work, for the lineage (default: name)
    tools: tuple[str, ...] = ()  # distributions whose versions key the cache and the lineage
    params: Mapping[str, Param] = field(default_factory=dict)
    # Extra cache-key parts computed before compiling (e.g. the calibration data's digest).
    fingerprint: Callable[[CompileJob], Mapping[str, Any]] | None = None
    revision: int = 1  # bump when this module changes what it writes


def resolve_params(t: Transform, given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults merged with the caller's values, each checked; unknown names list the known."""
    accepted = ", ".join(sorted(t.params)) or "no parameters"
    out: dict[str, Any] = {}
    for name in given:
        if name not in t.params:
            raise VariantError(
                f"variant {t.name!r} has no parameter {name!r}; it takes: {accepted}"
            )
    for name, p in t.params.items():
        value = given.get(name, p.default)
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, Path):
            value = str(value)
        # bool is an int to Python; an int parameter must not silently take True.
        ok = isinstance(value, p.kinds) and (bool in p.kinds or not isinstance(value, bool))
        if not ok:
            kinds = "/".join("None" if k is type(None) else k.__name__ for k in p.kinds)
            raise VariantError(
                f"variant {t.name!r} parameter {name!r} must be {kinds}, got {value!r} ({p.doc})"
            )
        if p.choices is not None and value not in p.choices:
            raise VariantError(
                f"variant {t.name!r} parameter {name!r} must be one of "
                f"{', '.join(map(repr, p.choices))}, got {value!r}"
            )
        out[name] = value
    return out


def key_params(t: Transform, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters that go into the cache key (paths are replaced by their fingerprint)."""
    return {k: v for k, v in params.items() if t.params[k].keyed}


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (vendor errors can be pages long)."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
