"""How far a candidate's outputs are from the reference's, per output, and whether that is enough.

Every output gets its own figures, and the overall figure is the worst output's, so no output
can hide another: a detector's box regressors that moved by 16 do not disappear behind a
large-magnitude output whose cosine stays 1.000. Figures per output:

- ``max_abs_err`` / ``mean_abs_err``: in the output's own units;
- ``max_rel_err``: the max abs error divided by the reference output's range (max - min over
  all samples), so 3.1 on an output spanning -1330..202 reads 0.002 and 0.1 on a 0..1
  probability reads 0.1;
- ``snr_db``: 10·log10(Σ reference² / Σ (reference - candidate)²), +inf when equal;
- ``cosine_similarity``: mean over samples of the flattened outputs' cosine;
- ``top1_agreement`` / ``top5_agreement``: only for outputs whose kind is class scores (the
  last axis holds one score per class), never guessed from "looks 2-D" unless unambiguous.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rigbench.errors import AccuracyError

CLASS_SCORES = "class_scores"
OTHER = "other"
OUTPUT_KINDS = (CLASS_SCORES, OTHER)
TASKS = ("classification", "detection", "segmentation", "embedding", "other")


@dataclass(frozen=True)
class OutputKind:
    """What an output holds, and who said so: the plan, the model's task, or a guess."""

    kind: str = OTHER
    source: str = ""  # plan | task | guess | "" (nothing said: not class scores)

    @property
    def is_class_scores(self) -> bool:
        return self.kind == CLASS_SCORES

    @property
    def guessed(self) -> bool:
        return self.source == "guess"


def _class_shaped(shape: Sequence[int]) -> bool:
    return len(shape) >= 1 and shape[-1] >= 2


def resolve_kinds(
    shapes: Mapping[str, Sequence[int]],
    task: str | None,
    declared: Mapping[str, str] | None = None,
) -> tuple[dict[str, OutputKind], list[str]]:
    """Each output's kind, and notes where the plan should say more.

    A kind the plan declares wins. ``task: classification`` makes the one output whose last
    axis could hold class scores the class scores (several candidates: none, with a note asking
    for ``kind: class_scores``). Without a task, an output is guessed to be class scores only
    when it is the model's one output and is 2-D ``[N, C]`` with C >= 2; the guess is labelled.
    """
    declared = dict(declared or {})
    unknown = sorted(set(declared) - set(shapes))
    if unknown:
        raise AccuracyError(
            f"accuracy.outputs names {', '.join(map(repr, unknown))}, which the model does not "
            f"output; outputs: {', '.join(shapes)}"
        )
    kinds = {n: OutputKind(k, "plan") for n, k in declared.items()}
    notes: list[str] = []
    if any(k.is_class_scores for k in kinds.values()):
        return {n: kinds.get(n, OutputKind()) for n in shapes}, notes
    open_names = [n for n in shapes if n not in kinds]
    if task == "classification":
        candidates = [n for n in open_names if _class_shaped(shapes[n])]
        if len(candidates) == 1:
            kinds[candidates[0]] = OutputKind(CLASS_SCORES, "task")
        elif candidates:
            notes.append(
                f"task classification, but {len(candidates)} outputs could hold class scores "
                f"({', '.join(candidates)}): no top-k until one says `kind: class_scores`"
            )
        else:
            notes.append("task classification, but no output has a class axis: no top-k")
    elif task is None and len(shapes) == 1 and open_names:
        (name,) = open_names
        shape = shapes[name]
        if len(shape) == 2 and shape[1] >= 2:
            kinds[name] = OutputKind(CLASS_SCORES, "guess")
            notes.append(
                f"output {name!r} {list(shape)} taken for class scores (a guess: the plan "
                "gives no task); top-1/top-5 agreement are labelled as guessed"
            )
    return {n: kinds.get(n, OutputKind()) for n in shapes}, notes


@dataclass(frozen=True)
class OutputAccuracy:
    """How one output of the candidate differs from the reference, over all samples."""

    name: str
    shape: tuple[int, ...]  # of the first sample
    max_abs_err: float
    mean_abs_err: float
    cosine_similarity: float  # mean over samples of the flattened outputs' cosine
    max_rel_err: float  # max abs error / range of the reference output
    snr_db: float  # 10 log10(sum ref^2 / sum err^2); +inf when equal
    top1_agreement: float | None  # class-score outputs only
    top5_agreement: float | None  # reference top-1 in candidate top-5; only when C > 5
    n_samples: int
    n_nonfinite: int  # NaN/inf values in the candidate
    kind: str = OTHER
    kind_source: str = ""
    within_tolerance: bool | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccuracyReport:
    """Per-output figures and the overall worst case.

    Overall: the largest max error and relative error, the element-weighted mean error, the
    lowest cosine, SNR and top-k agreement over the outputs (top-k None without class scores).
    """

    outputs: tuple[OutputAccuracy, ...]
    max_abs_err: float
    mean_abs_err: float
    cosine_similarity: float
    max_rel_err: float
    snr_db: float
    top1_agreement: float | None
    top5_agreement: float | None
    n_samples: int
    within_tolerance: bool | None = None
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def topk_guessed(self) -> bool:
        """True when the top-k figures come from an output only guessed to hold class scores."""
        return any(o.kind_source == "guess" and o.top1_agreement is not None for o in self.outputs)

    def output(self, name: str) -> OutputAccuracy:
        """The figures of one output by name."""
        for o in self.outputs:
            if o.name == name:
                return o
        raise AccuracyError(
            f"no output {name!r}; outputs: {', '.join(o.name for o in self.outputs)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples become lists; NaN and inf stay floats)."""
        d = asdict(self)
        d["outputs"] = [
            {**o, "shape": list(o["shape"]), "reasons": list(o["reasons"])} for o in d["outputs"]
        ]
        d["reasons"], d["notes"] = list(d["reasons"]), list(d["notes"])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AccuracyReport:
        """Inverse of ``to_dict``."""
        outputs = tuple(
            OutputAccuracy(**{**o, "shape": tuple(o["shape"]), "reasons": tuple(o["reasons"])})
            for o in d["outputs"]
        )
        return cls(
            **{
                **d,
                "outputs": outputs,
                "reasons": tuple(d["reasons"]),
                "notes": tuple(d["notes"]),
            }
        )


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two flattened arrays; two all-zero arrays are identical (1), one is 0."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if not (math.isfinite(na) and math.isfinite(nb)):
        return math.nan
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))


def _topk(ref: list[np.ndarray], cand: list[np.ndarray]) -> tuple[float | None, float | None]:
    """Agreement over the last axis; every leading index (batch, anchors ...) is one decision."""
    classes = ref[0].shape[-1]
    r = np.concatenate([a.reshape(-1, classes) for a in ref], axis=0)
    c = np.concatenate([a.reshape(-1, classes) for a in cand], axis=0)
    if not (np.isfinite(r).all() and np.isfinite(c).all()):
        return math.nan, (math.nan if classes > 5 else None)
    r_top = np.argmax(r, axis=1)
    top1 = float(np.mean(r_top == np.argmax(c, axis=1)))
    if classes <= 5:
        return top1, None
    c_top5 = np.argsort(-c, axis=1, kind="stable")[:, :5]
    return top1, float(np.mean((c_top5 == r_top[:, None]).any(axis=1)))


def _rel_err(max_err: float, ref: np.ndarray) -> float:
    if math.isnan(max_err):
        return math.nan
    if max_err == 0.0:
        return 0.0
    finite = ref[np.isfinite(ref)]
    scale = float(np.ptp(finite)) if finite.size else 0.0
    if scale == 0.0:  # a constant output: relative to its magnitude instead
        scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    return max_err / scale if scale > 0 else math.inf


def _snr_db(ref: np.ndarray, diff: np.ndarray) -> float:
    with np.errstate(invalid="ignore", over="ignore"):
        noise = float(np.sum(np.square(diff)))
        signal = float(np.sum(np.square(ref)))
    if math.isnan(noise) or math.isnan(signal):
        return math.nan
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def _compare_output(
    name: str, ref: list[np.ndarray], cand: list[np.ndarray], kind: OutputKind
) -> OutputAccuracy:
    r64 = [np.asarray(a, dtype=np.float64) for a in ref]
    c64 = [np.asarray(a, dtype=np.float64) for a in cand]
    flat_ref = np.concatenate([a.ravel() for a in r64]) if r64 else np.zeros(0)
    signed = np.concatenate([(b - a).ravel() for a, b in zip(r64, c64, strict=True)])
    diffs = np.abs(signed)
    with np.errstate(invalid="ignore"):
        max_err = float(np.max(diffs)) if diffs.size else 0.0
        mean_err = float(np.mean(diffs)) if diffs.size else 0.0
    cos = float(np.mean([_cosine(a.ravel(), b.ravel()) for a, b in zip(r64, c64, strict=True)]))
    shapes = [a.shape for a in r64]
    topk = kind.is_class_scores and all(len(s) >= 1 and s[-1] >= 2 for s in shapes)
    top1, top5 = _topk(r64, c64) if topk else (None, None)
    return OutputAccuracy(
        name=name,
        shape=tuple(int(d) for d in shapes[0]),
        max_abs_err=max_err,
        mean_abs_err=mean_err,
        cosine_similarity=cos,
        max_rel_err=_rel_err(max_err, flat_ref),
        snr_db=_snr_db(flat_ref, signed),
        top1_agreement=top1,
        top5_agreement=top5,
        n_samples=len(ref),
        n_nonfinite=int(sum(np.size(b) - np.count_nonzero(np.isfinite(b)) for b in c64)),
        kind=kind.kind,
        kind_source=kind.source,
    )


def _worst(values: Sequence[float | None], pick: Callable[[list[float]], float]) -> float | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    if any(math.isnan(v) for v in vals):
        return math.nan
    return float(pick(vals))


def _check_alignment(
    reference: Sequence[Mapping[str, np.ndarray]], candidate: Sequence[Mapping[str, np.ndarray]]
) -> list[str]:
    if len(reference) != len(candidate):
        raise AccuracyError(
            f"reference has {len(reference)} samples but candidate has {len(candidate)}"
        )
    if not reference:
        raise AccuracyError("nothing to compare: no samples")
    names = list(reference[0])
    if not names:
        raise AccuracyError("nothing to compare: the reference has no outputs")
    for i, (r, c) in enumerate(zip(reference, candidate, strict=True)):
        if set(r) != set(names):
            raise AccuracyError(f"reference sample {i} has outputs {sorted(r)}, sample 0 {names}")
        if set(c) != set(r):
            missing, extra = sorted(set(r) - set(c)), sorted(set(c) - set(r))
            raise AccuracyError(
                f"sample {i}: candidate outputs differ from the reference's: missing {missing}, "
                f"unexpected {extra}"
            )
        for name in names:
            rs, cs = np.shape(r[name]), np.shape(c[name])
            if rs != cs:
                raise AccuracyError(
                    f"sample {i}, output {name!r}: reference shape {list(rs)}, "
                    f"candidate shape {list(cs)}"
                )
    return names


def compare(
    reference: Sequence[Mapping[str, np.ndarray]],
    candidate: Sequence[Mapping[str, np.ndarray]],
    kinds: Mapping[str, OutputKind] | None = None,
    tolerance: Tolerances | None = None,
) -> AccuracyReport:
    """Per-output and overall figures of ``candidate`` against ``reference``, sample by sample.

    Both are lists of ``{output name: array}``, one per reference input, in the same order.
    Different sample counts, output names or shapes are an ``AccuracyError`` that says which.
    ``kinds`` says which outputs hold class scores (default: ``resolve_kinds`` without a task,
    which guesses only for a lone 2-D output);
    with ``tolerance`` every output is checked against its bounds.
    """
    names = _check_alignment(reference, candidate)
    if kinds is None:  # nothing said: the same unambiguous-only guess a plan without a task gets
        shapes = {n: tuple(int(d) for d in np.shape(reference[0][n])) for n in names}
        kinds = resolve_kinds(shapes, None)[0]
    outs = [
        _compare_output(
            n,
            [np.asarray(r[n]) for r in reference],
            [np.asarray(c[n]) for c in candidate],
            kinds.get(n, OutputKind()),
        )
        for n in names
    ]
    total = sum(float(np.size(r[o.name])) for r in reference for o in outs)
    weighted = sum(o.mean_abs_err * sum(np.size(r[o.name]) for r in reference) for o in outs)
    report = AccuracyReport(
        outputs=tuple(outs),
        max_abs_err=_worst([o.max_abs_err for o in outs], max) or 0.0,
        mean_abs_err=weighted / total if total else 0.0,
        cosine_similarity=_worst([o.cosine_similarity for o in outs], min) or 0.0,
        max_rel_err=_worst([o.max_rel_err for o in outs], max) or 0.0,
        snr_db=_worst([o.snr_db for o in outs], min) or 0.0,
        top1_agreement=_worst([o.top1_agreement for o in outs], min),
        top5_agreement=_worst([o.top5_agreement for o in outs], min),
        n_samples=len(reference),
    )
    return check_tolerance(report, tolerance) if tolerance is not None else report


# --- tolerance -------------------------------------------------------------------------------

# Plan key -> (figure, "max" bound or "min" bound).
BOUNDS: dict[str, tuple[str, str]] = {
    "max_abs_err": ("max_abs_err", "max"),
    "mean_abs_err": ("mean_abs_err", "max"),
    "max_rel_err": ("max_rel_err", "max"),
    "snr_db_min": ("snr_db", "min"),
    "cosine_min": ("cosine_similarity", "min"),
    "top1_min": ("top1_agreement", "min"),
    "top5_min": ("top5_agreement", "min"),
}
# The figure names are accepted too (as older callers and the JSON output spell them).
_ALIASES = {fig: key for key, (fig, _) in BOUNDS.items() if fig != key}
_TOPK = ("top1_agreement", "top5_agreement")


@dataclass(frozen=True)
class Tolerances:
    """Bounds for every output, and per-output bounds that replace them for that output."""

    default: Mapping[str, float] = field(default_factory=dict)
    per_output: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for where, bounds in [("tolerance", self.default), *self.per_output.items()]:
            unknown = sorted(set(bounds) - set(BOUNDS) - set(_ALIASES))
            if unknown:
                raise AccuracyError(
                    f"unknown tolerance key(s) {unknown} in {where}; known: {', '.join(BOUNDS)}"
                )

    @classmethod
    def of(cls, bounds: Mapping[str, float]) -> Tolerances:
        """One set of bounds for every output."""
        return cls(dict(bounds))

    def __bool__(self) -> bool:
        return bool(self.default) or any(self.per_output.values())

    def for_output(self, name: str) -> dict[str, float]:
        """The bounds that apply to ``name``, as plan keys: its own set, else the model's."""
        own = self.per_output.get(name)
        chosen = own if own else self.default
        return {_ALIASES.get(k, k): v for k, v in chosen.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the store: the bounds for all outputs and those per output."""
        return {
            "default": dict(self.default),
            "per_output": {k: dict(v) for k, v in self.per_output.items() if v},
        }


def _violation(key: str, value: float | None, bound: float) -> str | None:
    fig, side = BOUNDS[key]
    if value is None:
        return f"{fig} >= {bound} required, but the output has no class scores"
    if math.isnan(value):
        return f"{fig} is NaN (non-finite outputs)"
    if side == "max" and value > bound:
        return f"{fig} = {value:.6g} exceeds {bound}"
    if side == "min" and value < bound:
        return f"{fig} = {value:.6g} is below {bound}"
    return None


def check_tolerance(report: AccuracyReport, tolerance: Tolerances) -> AccuracyReport:
    """The report with every output checked against its bounds, and why any failed.

    A top-k bound given for all outputs applies to the class-score outputs; when there are none,
    it fails (a bound that cannot be checked is not met, and silently passing it would hide a
    misconfigured plan). A top-k bound given for one output that has no class scores fails too.
    """
    outs, reasons = [], []
    has_scores = any(o.top1_agreement is not None for o in report.outputs)
    for o in report.outputs:
        bounds = tolerance.for_output(o.name)
        mine = {_ALIASES.get(k, k) for k in tolerance.per_output.get(o.name, {})}
        why = []
        for key, bound in bounds.items():
            fig = BOUNDS[key][0]
            value = getattr(o, fig)
            if fig in _TOPK and value is None and key not in mine:
                continue  # a model-wide top-k bound: for the class-score outputs only
            v = _violation(key, value, bound)
            if v:
                why.append(v)
        outs.append(
            OutputAccuracy(
                **{
                    **asdict(o),
                    "shape": o.shape,
                    "within_tolerance": not why,
                    "reasons": tuple(why),
                }
            )
        )
        reasons += [f"{o.name}: {w}" for w in why]
    for raw, bound in tolerance.default.items():
        fig = BOUNDS[_ALIASES.get(raw, raw)][0]
        if fig in _TOPK and not has_scores:
            reasons.append(
                f"{fig} >= {bound} required, but no output holds class scores (give the model "
                "`task: classification` or an output `kind: class_scores`)"
            )
    return AccuracyReport(
        **{
            **{k: getattr(report, k) for k in report.__dataclass_fields__},
            "outputs": tuple(outs),
            "within_tolerance": not reasons,
            "reasons": tuple(reasons),
        }
    )


def within_tolerance(
    report: AccuracyReport, tolerance: Mapping[str, float] | Tolerances
) -> tuple[bool, list[str]]:
    """Whether every output meets its bounds, and why not (each reason names the output)."""
    tol = tolerance if isinstance(tolerance, Tolerances) else Tolerances.of(tolerance)
    checked = check_tolerance(report, tol)
    return bool(checked.within_tolerance), list(checked.reasons)
