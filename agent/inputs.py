"""Build a model's inputs from its signature, the user's overrides and an optional .npz.

Inputs are made once, before any timing. Every mistake is reported against the input's name:
a dynamic dimension nobody resolved, an override of the wrong rank, a dtype that does not
match, an unknown input name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from rigbench.agent.jobs import InputOverride
from rigbench.agent.runtimes.base import TensorSpec
from rigbench.errors import InputSpecError
from rigbench.limits import available_memory_bytes, check_input_size


def resolve_shape(spec: TensorSpec, override: InputOverride | None) -> tuple[int, ...]:
    """The concrete shape of one input, or an error naming the input and the dimension."""
    if override is not None and override.shape is not None:
        shape = tuple(int(d) for d in override.shape)
        if len(shape) != len(spec.shape):
            raise InputSpecError(
                f"input {spec.name!r} has rank {len(spec.shape)} {_fmt(spec.shape)}, but the "
                f"override gives rank {len(shape)} {_fmt(shape)}"
            )
        for i, (want, got) in enumerate(zip(spec.shape, shape)):
            if got <= 0:
                raise InputSpecError(f"input {spec.name!r} dimension {i}: size must be positive")
            if isinstance(want, int) and want != got:
                raise InputSpecError(
                    f"input {spec.name!r} dimension {i} is fixed to {want} by the model, "
                    f"but the override gives {got}"
                )
        return shape
    dims = []
    for i, d in enumerate(spec.shape):
        if not isinstance(d, int):
            label = f" ({d!r})" if isinstance(d, str) else ""
            raise InputSpecError(
                f"input {spec.name!r} dimension {i}{label} is dynamic; give its shape, "
                f"e.g. --input {spec.name}={_example(spec.shape)}"
            )
        dims.append(d)
    return tuple(dims)


def _fmt(shape: Sequence[object]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _example(shape: Sequence[object]) -> str:
    return "x".join(str(d) if isinstance(d, int) else "1" for d in shape) or "1"


def _check_dtype(spec: TensorSpec, dtype: str, what: str) -> None:
    if np.dtype(dtype) != np.dtype(spec.dtype):
        raise InputSpecError(
            f"input {spec.name!r} is {spec.dtype}, but {what} is {np.dtype(dtype).name}"
        )


def random_tensor(
    spec: TensorSpec,
    shape: tuple[int, ...],
    rng: np.random.Generator,
    value_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Plausible values for a dtype: normal floats, small non-negative ints, random bools.

    ``value_range`` (low, high) draws uniformly from it instead, inclusive for integers: the
    token ids of a vocabulary, pixel values.
    """
    dt = np.dtype(spec.dtype)
    if value_range is not None and dt.kind in "iuf":
        lo, hi = value_range
        if dt.kind == "f":
            return rng.uniform(lo, hi, size=shape).astype(dt)
        info = np.iinfo(dt)
        if lo < info.min or hi > info.max:
            raise InputSpecError(
                f"input {spec.name!r} is {dt.name}: range [{lo:g}, {hi:g}] does not fit it"
            )
        return rng.integers(int(lo), int(hi), size=shape, endpoint=True).astype(dt)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if spec.is_quantized:
            return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dt)
        return rng.integers(0, min(10, int(info.max)), size=shape).astype(dt)
    raise InputSpecError(f"input {spec.name!r} has dtype {dt.name}, which rigbench cannot generate")


def build_inputs(
    specs: Sequence[TensorSpec],
    overrides: Sequence[InputOverride] = (),
    arrays: Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """One array per model input: from the .npz if given, else generated, then overridden."""
    by_name = {s.name: s for s in specs}
    known = ", ".join(by_name) or "(none)"
    ov: dict[str, InputOverride] = {}
    for given in overrides:
        if given.name not in by_name:
            raise InputSpecError(
                f"override names unknown input {given.name!r}; the model's inputs: {known}"
            )
        ov[given.name] = given
    if arrays:
        for name in arrays:
            if name not in by_name:
                raise InputSpecError(f"the .npz has array {name!r}, not an input; inputs: {known}")
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for spec in specs:
        o = ov.get(spec.name)
        if o is not None and o.dtype:
            _check_dtype(spec, o.dtype, "the override")
        if arrays is not None and spec.name in arrays:
            arr = np.asarray(arrays[spec.name])
            _check_dtype(spec, arr.dtype.name, "the .npz array")
            resolve_shape(spec, InputOverride(spec.name, shape=tuple(arr.shape)))
            feeds[spec.name] = arr
            continue
        shape = resolve_shape(spec, o)
        check_input_size(spec.name, shape, np.dtype(spec.dtype), available_memory_bytes())
        if o is not None and o.value is not None:
            feeds[spec.name] = np.full(shape, o.value, dtype=np.dtype(spec.dtype))
        else:
            feeds[spec.name] = random_tensor(spec, shape, rng, o.range if o else None)
    return feeds
