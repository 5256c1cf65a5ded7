"""Accuracy: how far a compiled variant's outputs are from the source's, and on what inputs.

``reference`` makes the yardstick (reference inputs and the source's outputs, computed with the
job's kernel family); ``metrics`` compares per output and checks tolerances; ``dataset`` loads
a model's real inputs (arrays or images) and labels; ``task`` scores outputs against labels.
"""

from rigbench.controller.accuracy.metrics import (
    BOUNDS,
    CLASS_SCORES,
    OUTPUT_KINDS,
    TASKS,
    AccuracyReport,
    OutputAccuracy,
    OutputKind,
    Tolerances,
    check_tolerance,
    compare,
    resolve_kinds,
    within_tolerance,
)
from rigbench.controller.accuracy.reference import (
    KERNEL_FAMILIES,
    LITERT_BUILTIN,
    LITERT_XNNPACK,
    ORT_CPU,
    kernel_family,
    make_reference_inputs,
    reference_outputs,
)
from rigbench.errors import AccuracyError

__all__ = [
    "BOUNDS",
    "CLASS_SCORES",
    "KERNEL_FAMILIES",
    "LITERT_BUILTIN",
    "LITERT_XNNPACK",
    "ORT_CPU",
    "OUTPUT_KINDS",
    "TASKS",
    "AccuracyError",
    "AccuracyReport",
    "OutputAccuracy",
    "OutputKind",
    "Tolerances",
    "check_tolerance",
    "compare",
    "kernel_family",
    "make_reference_inputs",
    "reference_outputs",
    "resolve_kinds",
    "within_tolerance",
]
