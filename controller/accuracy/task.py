"""Task accuracy: outputs scored against a dataset's labels, beside agreement with the source.

Agreement with fp32 says how much a variant changed; accuracy against labels says whether the
answers are right. For a classifier the class-score output gives top-1/top-5 accuracy; for any
other task the plan names a function ``module:function`` (or ``file.py:function``) that gets
every sample's outputs and the labels and returns one number, higher is better.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.errors import DatasetError

Metric = Callable[[list[dict[str, np.ndarray]], list[Any]], float]


@dataclass(frozen=True)
class TaskScore:
    """Figures against labels; None where they do not apply."""

    top1: float | None = None
    top5: float | None = None
    metric: float | None = None
    metric_name: str | None = None
    n_labelled: int = 0
    note: str | None = None  # why a figure is missing


def load_metric(ref: str) -> Metric:
    """The function a plan names as ``module:function`` or ``path/file.py:function``."""
    module_name, sep, fn_name = ref.rpartition(":")
    if not sep or not module_name or not fn_name:
        raise DatasetError(f"metric {ref!r}: write it as module:function or file.py:function")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise DatasetError(f"metric {ref!r}: {path} does not exist")
            spec = importlib.util.spec_from_file_location(f"rigbench_metric_{path.stem}", path)
            if spec is None or spec.loader is None:
                raise DatasetError(f"metric {ref!r}: cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except DatasetError:
        raise
    except Exception as e:  # the user's module failed to import: say where and why
        raise DatasetError(f"metric {ref!r}: importing it failed: {type(e).__name__}: {e}") from e
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise DatasetError(f"metric {ref!r}: {module_name} has no function {fn_name!r}")
    return fn  # type: ignore[no-any-return]


def _class_rows(outputs: Sequence[Mapping[str, np.ndarray]], name: str) -> np.ndarray | None:
    rows = []
    for o in outputs:
        a = np.asarray(o[name], dtype=np.float64)
        flat = a.reshape(-1, a.shape[-1]) if a.ndim else a.reshape(1, 1)
        if flat.shape[0] != 1:
            return None
        rows.append(flat[0])
    return np.stack(rows)


def score(
    outputs: Sequence[Mapping[str, np.ndarray]],
    labels: Sequence[Any],
    class_output: str | None,
    metric: str | None = None,
    metric_fn: Metric | None = None,
) -> TaskScore:
    """Top-1/top-5 accuracy of ``class_output`` against integer labels, and/or the user metric."""
    top1 = top5 = value = None
    notes = []
    if class_output is not None:
        rows = _class_rows(outputs, class_output)
        if rows is None:
            notes.append(f"{class_output!r} has more than one class-score row per sample")
        elif not all(isinstance(v, int) for v in labels):
            notes.append("labels are not class indices (integers): no top-k accuracy")
        else:
            y = np.asarray(labels, dtype=np.int64)
            if not np.isfinite(rows).all():
                top1 = math.nan
            else:
                top1 = float(np.mean(np.argmax(rows, axis=1) == y))
                if rows.shape[1] > 5:
                    best5 = np.argsort(-rows, axis=1, kind="stable")[:, :5]
                    top5 = float(np.mean((best5 == y[:, None]).any(axis=1)))
    if metric is not None:
        fn = metric_fn or load_metric(metric)
        try:
            value = float(fn([dict(o) for o in outputs], list(labels)))
        except Exception as e:  # the user's function: its failure is reported, not fatal
            notes.append(f"metric {metric} failed: {type(e).__name__}: {e}")
    return TaskScore(top1, top5, value, metric, len(labels), "; ".join(notes) or None)
