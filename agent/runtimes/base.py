"""The small interface every runtime adapter implements: describe, load, prepare, run.

A runtime's Python package is imported only inside its own adapter module, so the agent starts
fast and a board installs only the runtimes it really has.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rigbench.agent.jobs import RuntimeConfig
from rigbench.agent.profiling import NOT_AVAILABLE, OpProfile
from rigbench.quantization import quantize

Dim = int | str | None  # a fixed size, a symbolic name, or unknown


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as the model declares it."""

    name: str
    dtype: str  # numpy dtype name
    shape: tuple[Dim, ...]
    quantization: tuple[float, int] | None = None  # (scale, zero_point) for quantized tensors

    @property
    def is_quantized(self) -> bool:
        return self.quantization is not None and self.quantization[0] != 0.0


@dataclass(frozen=True)
class RuntimeDescription:
    name: str
    version: str
    providers: tuple[str, ...]
    module: str


@dataclass
class LoadInfo:
    """How loading went, apart from steady state."""

    providers_used: list[str]
    compile_ns: int = 0
    compile_cache_hit: bool = False
    warnings: list[str] = field(default_factory=list)


class LoadedModel(ABC):
    """A model ready to run on one runtime."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    info: LoadInfo

    @abstractmethod
    def prepare(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        """Bind inputs once and return the zero-argument call that the measured loop times."""

    def prepare_rotation(
        self, samples: list[dict[str, np.ndarray]]
    ) -> tuple[Callable[[], Any], Callable[[int], None]]:
        """A call to time and a ``bind(i)`` that readies sample ``i % n`` outside the clock.

        Every sample is cast to the model's dtypes here, before timing. Inside the clock the
        call costs one extra Python call over ``prepare``'s (about 0.1 µs).
        """
        feeds = [self.cast_float(s) for s in samples]
        current = [self.prepare(feeds[0])]

        def call() -> Any:
            return current[0]()

        def bind(i: int) -> None:
            current[0] = self.prepare(feeds[i % len(feeds)])

        return call, bind

    def cast_float(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Float-domain inputs as the model takes them: quantized where the tensor is."""
        out = {}
        for spec in self.inputs:
            arr = np.asarray(feeds[spec.name])
            if spec.is_quantized:
                out[spec.name] = quantize(arr, spec)
            elif arr.dtype != np.dtype(spec.dtype):
                out[spec.name] = arr.astype(spec.dtype)
            else:
                out[spec.name] = arr
        return out

    @abstractmethod
    def run_float(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once on float inputs and return float outputs (quantizing/dequantizing as needed).

        Used for the accuracy check, where the reference is always float.
        """

    def profile(self, feeds: dict[str, np.ndarray], iterations: int) -> OpProfile:
        """Per-operator time over ``iterations`` runs, on a separate profiled session.

        Called after the timed loop; a runtime whose API exposes no per-operator timing
        returns an empty profile that says so.
        """
        requested = self.info.providers_used[0] if self.info.providers_used else ""
        return OpProfile(
            requested, note=f"{NOT_AVAILABLE}: this runtime's API exposes no operator profiler"
        )

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free runtime resources."""


class RuntimeAdapter(ABC):
    """One inference runtime. Registered by name in ``runtimes/__init__.py``."""

    name: ClassVar[str]
    formats: ClassVar[tuple[str, ...]]

    @classmethod
    @abstractmethod
    def describe(cls) -> RuntimeDescription | None:
        """Version and providers, or None when the runtime is not installed."""

    @abstractmethod
    def load(self, path: Path, config: RuntimeConfig, work_dir: Path) -> LoadedModel:
        """Load a model; ``work_dir`` holds device-side compilation caches."""

    def run_errors(self) -> tuple[type[BaseException], ...]:
        """The exception types the runtime raises when it cannot run a loaded model (a shape
        it cannot take, a kernel failing): the model's fault, with the runtime's own words.
        Anything else escaping a running model is rigbench's bug.
        """
        return (RuntimeError, ValueError)
