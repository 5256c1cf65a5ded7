"""A model's real inputs: a folder of .npy/.npz files or images, and optionally their labels.

Random inputs say nothing about a classifier's accuracy on data, and never exercise
input-dependent latency. A plan points a model at a dataset; the controller loads it here into
the same per-sample dicts the reference inputs use, so accuracy (and ``rotate_inputs`` timing)
runs on them. Images are decoded and preprocessed on the controller (Pillow), so an agent only
ever receives arrays. Nothing is unpickled (``allow_pickle=False``). Every problem is a
``DatasetError`` naming the file and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rigbench import limits
from rigbench.agent.npzfile import read_npy, read_npz
from rigbench.controller.variants.signature import (
    Sample,
    Signature,
    TensorInfo,
    check_shape,
    fmt_shape,
    split_samples,
    synthesize,
)
from rigbench.errors import DatasetError, InputSpecError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".tif", ".tiff")
ARRAY_SUFFIXES = (".npy", ".npz")


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes an input tensor; see ``controller.plan.Preprocess``."""

    resize: tuple[int, int] | None = None  # (height, width)
    layout: str | None = None  # nhwc | nchw | hwc | chw
    color: str = "rgb"  # rgb | bgr | gray
    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    dtype: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    path: Path
    input: str | None = None
    preprocess: Preprocessing = Preprocessing()
    labels: Path | None = None
    limit: int | None = None


@dataclass(frozen=True)
class Dataset:
    """Loaded samples (one dict of arrays per sample), their file names, and labels if given."""

    samples: list[Sample]
    names: list[str]
    labels: list[Any] | None


def _where(spec: DatasetSpec) -> str:
    return f"dataset {spec.path}"


def _files(spec: DatasetSpec) -> tuple[str, list[Path]]:
    """('images' | 'arrays', the sample files in name order)."""
    if not spec.path.exists():
        raise DatasetError(f"{_where(spec)} does not exist")
    if not spec.path.is_dir():
        raise DatasetError(f"{_where(spec)} is not a folder (give a folder of .npy/.npz or images)")
    files = sorted(p for p in spec.path.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    arrays = [p for p in files if p.suffix.lower() in ARRAY_SUFFIXES]
    if images and arrays:
        raise DatasetError(
            f"{_where(spec)} mixes images ({images[0].name}) and arrays ({arrays[0].name}); "
            "keep one kind per folder"
        )
    chosen = images or arrays
    if not chosen:
        raise DatasetError(
            f"{_where(spec)} is empty: no .npy/.npz or image "
            f"({', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES[:4])} ...) files in it"
        )
    if spec.limit is not None:
        chosen = chosen[: spec.limit]
    return ("images" if images else "arrays"), chosen


def _target(sig: Signature, spec: DatasetSpec, kind: str) -> TensorInfo:
    if spec.input is not None:
        try:
            return sig.input(spec.input)
        except InputSpecError as e:
            raise DatasetError(f"{_where(spec)}: {e}") from e
    if len(sig.inputs) == 1:
        return sig.inputs[0]
    raise DatasetError(
        f"{_where(spec)}: the model has {len(sig.inputs)} inputs ({sig.input_names()}); say which "
        f"one the {kind} feed with `input:`"
    )


def _layout(info: TensorInfo, pre: Preprocessing, where: str) -> str:
    if pre.layout is not None:
        want = 4 if pre.layout.startswith("n") else 3
        if len(info.shape) != want:
            raise DatasetError(
                f"{where}: layout {pre.layout} needs a rank-{want} input, but {info.name!r} is "
                f"{fmt_shape(info.shape)}"
            )
        return pre.layout
    shape = info.shape
    if len(shape) not in (3, 4):
        raise DatasetError(
            f"{where}: input {info.name!r} {fmt_shape(shape)} is not an image tensor "
            "(rank 3 or 4); use a folder of .npy files instead"
        )
    lead = "n" if len(shape) == 4 else ""
    c_first, c_last = shape[len(shape) - 3], shape[-1]
    first, last = c_first in (1, 3), c_last in (1, 3)
    if last and not first:
        return lead + "hwc"
    if first and not last:
        return lead + "chw"
    raise DatasetError(
        f"{where}: cannot tell the channel axis of {info.name!r} {fmt_shape(shape)}; give "
        "preprocess.layout (nhwc or nchw)"
    )


def _image(path: Path, info: TensorInfo, spec: DatasetSpec) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    pre = spec.preprocess
    where = _where(spec)
    layout = _layout(info, pre, where)
    shift = 0 if layout.startswith("n") else 1
    h_axis, w_axis = (1 - shift, 2 - shift) if layout in ("nhwc", "hwc") else (2 - shift, 3 - shift)
    if pre.resize is not None:
        height, width = pre.resize
    else:
        h, w = info.shape[h_axis], info.shape[w_axis]
        if not (isinstance(h, int) and isinstance(w, int)):
            raise DatasetError(
                f"{where}: input {info.name!r} {fmt_shape(info.shape)} has a dynamic height or "
                "width; give preprocess.resize: [height, width]"
            )
        height, width = h, w
    try:  # the decoded, resized image as floats: bounded before Pillow allocates it
        limits.check_input_size(info.name, (height, width, 3), np.dtype(np.float32))
    except InputSpecError as e:
        raise DatasetError(f"{where}: preprocess.resize: {e}") from e
    try:
        with Image.open(path) as opened:
            opened.load()
            img = opened.convert("L" if pre.color == "gray" else "RGB")
            img = img.resize((width, height), Image.Resampling.BILINEAR)
            hwc = np.asarray(img, dtype=np.float32)
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        ValueError,
        SyntaxError,
    ) as e:
        raise DatasetError(f"{where}: cannot read image {path.name}: {e}") from e
    if hwc.ndim == 2:
        hwc = hwc[:, :, None]
    if pre.color == "bgr":
        hwc = hwc[:, :, ::-1]
    channels = hwc.shape[-1]
    mean, std = np.asarray(pre.mean, np.float32), np.asarray(pre.std, np.float32)
    for name, v in (("mean", mean), ("std", std)):
        if v.size not in (1, channels):
            raise DatasetError(
                f"{where}: preprocess.{name} has {v.size} values for {channels} channel(s)"
            )
    if np.any(std == 0):
        raise DatasetError(f"{where}: preprocess.std must not be 0")
    x = (hwc * np.float32(pre.scale) - mean) / std
    if layout in ("nchw", "chw"):
        x = np.transpose(x, (2, 0, 1))
    if layout.startswith("n"):
        x = x[None]
    dtype = np.dtype(pre.dtype) if pre.dtype else info.value_dtype
    if dtype.kind in "iu":
        ii = np.iinfo(dtype)
        x = np.clip(np.round(x), ii.min, ii.max)
    return x.astype(dtype)


def _check(info: TensorInfo, arr: np.ndarray, name: str, spec: DatasetSpec) -> np.ndarray:
    try:
        check_shape(info, tuple(arr.shape), name)
    except InputSpecError as e:
        raise DatasetError(f"{_where(spec)}: {e}") from e
    want = info.value_dtype
    if arr.dtype != want:
        if not np.can_cast(arr.dtype, want, casting="same_kind"):
            raise DatasetError(
                f"{_where(spec)}: {name} is {arr.dtype.name}, input {info.name!r} takes {want.name}"
            )
        arr = arr.astype(want)
    return np.ascontiguousarray(arr)


def _load_array(path: Path, spec: DatasetSpec) -> Any:
    """The array(s) of one file, sizes checked from the headers first (``agent.npzfile``)."""
    try:
        if path.suffix.lower() == ".npy":
            return read_npy(path, path.name)
        return read_npz(path, path.name)
    except InputSpecError as e:
        raise DatasetError(f"{_where(spec)}: {e}") from e


def _array_samples(files: list[Path], sig: Signature, spec: DatasetSpec) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for f in files:
        data = _load_array(f, spec)
        if isinstance(data, dict):
            try:
                samples = split_samples(sig, data, f.name) if not spec.input else None
            except InputSpecError as e:
                raise DatasetError(f"{_where(spec)}: {e}") from e
            if samples is None:
                if spec.input not in data:
                    raise DatasetError(
                        f"{_where(spec)}: {f.name} has no array {spec.input!r} "
                        f"(arrays: {', '.join(data) or 'none'})"
                    )
                samples = [{str(spec.input): data[spec.input]}]
            if len(samples) != 1:
                raise DatasetError(
                    f"{_where(spec)}: {f.name} holds {len(samples)} samples; keep one sample "
                    "per file so labels line up with files"
                )
            out.append(samples[0])
        else:
            info = _target(sig, spec, ".npy files")
            out.append({info.name: data})
    return out


def read_labels(path: Path, names: Sequence[str], where: str) -> list[Any]:
    """Labels in sample order: one per line, or ``file name,label`` lines in any order."""
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{where}: cannot read labels {path}: {e}") from e
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if lines and all("," in ln for ln in lines):
        by_name: dict[str, str] = {}
        for ln in lines:
            name, _, label = ln.partition(",")
            by_name[name.strip()] = label.strip()
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DatasetError(
                f"{where}: labels {path.name} has no label for {len(missing)} of {len(names)} "
                f"samples (first: {missing[0]})"
            )
        raw = [by_name[n] for n in names]
    else:
        if len(lines) != len(names):
            raise DatasetError(
                f"{where}: labels {path.name} has {len(lines)} label(s) for {len(names)} "
                "samples (one per line, in file-name order)"
            )
        raw = lines
    try:
        return [int(v) for v in raw]
    except ValueError:
        return list(raw)


def load_dataset(
    spec: DatasetSpec,
    sig: Signature,
    shapes: Mapping[str, Sequence[int]] | None = None,
    values: Mapping[str, Any] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    seed: int = 0,
) -> Dataset:
    """Samples for every input of ``sig``: from the files, the rest generated as for references.

    Inputs the dataset does not feed (e.g. a sample rate beside audio) are made like reference
    inputs from ``shapes``/``values``/``ranges``.
    """
    kind, files = _files(spec)
    if kind == "images":
        info = _target(sig, spec, "images")
        fed = [{info.name: _image(f, info, spec)} for f in files]
    else:
        fed = _array_samples(files, sig, spec)
    names = [f.name for f in files]
    fed_names = set().union(*(s.keys() for s in fed))
    rest = [t for t in sig.inputs if t.name not in fed_names]
    if rest:
        sub = Signature(sig.format, tuple(rest), sig.outputs)
        pick = {n: v for n, v in (shapes or {}).items() if n in {t.name for t in rest}}
        fixed = {n: v for n, v in (values or {}).items() if n in {t.name for t in rest}}
        rng = {n: v for n, v in (ranges or {}).items() if n in {t.name for t in rest}}
        try:
            extra = synthesize(sub, len(fed), seed, pick, fixed, hint="inputs", ranges=rng)
        except InputSpecError as e:
            raise DatasetError(
                f"{_where(spec)} feeds {', '.join(sorted(fed_names))}; for the other inputs: {e}"
            ) from e
    else:
        extra = [{} for _ in fed]
    samples: list[Sample] = []
    by_name = {t.name: t for t in sig.inputs}
    for f, fed_one, made in zip(files, fed, extra, strict=True):
        sample = {n: _check(by_name[n], np.asarray(a), f.name, spec) for n, a in fed_one.items()}
        sample.update(made)
        samples.append(sample)
    labels = read_labels(spec.labels, names, _where(spec)) if spec.labels else None
    return Dataset(samples, names, labels)
