"""Calibration data for static quantization: the user's, or synthetic with a loud warning.

Static int8 quantization picks each activation's range from sample inputs; ranges from random
noise are not the ranges real data produces, so an artifact calibrated on synthetic data may
be much less accurate on the device than one calibrated on real samples. That is allowed (a
latency benchmark does not care), but it is said every time, and recorded in the lineage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rigbench.controller.variants.base import CompileJob, Param
from rigbench.controller.variants.signature import (
    Sample,
    Signature,
    load_npz,
    split_samples,
    synthesize,
)
from rigbench.digest import sha256_file
from rigbench.errors import VariantError

SYNTHETIC_WARNING = (
    "calibrated on SYNTHETIC random inputs, which are not representative of real data: "
    "activation ranges and therefore accuracy may be far off; pass real samples "
    "(params calibration='calib.npz' or calibration=...) for an accuracy figure that means "
    "anything"
)

CALIBRATION_PARAMS: dict[str, Param] = {
    "calibration": Param(
        None,
        (str, type(None)),
        "path of an .npz with one array per input (samples on axis 0)",
        keyed=False,
    ),
    "synthetic_samples": Param(16, (int,), "number of random samples when no data is given"),
    "seed": Param(0, (int,), "seed of the synthetic samples"),
    "input_values": Param(
        {}, (dict,), "fixed values for inputs of synthetic samples, e.g. {'sr': 16000}"
    ),
}


def _digest_arrays(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _npz_path(job: CompileJob) -> Path | None:
    path = job.params.get("calibration")
    if path is None:
        return None
    if job.calibration is not None:
        raise VariantError(
            f"{job.variant}: calibration given twice, as a file ({path}) and as arrays; pass one"
        )
    p = Path(path)
    if not p.is_file():
        raise VariantError(f"{job.variant}: calibration file {p} does not exist")
    return p


def fingerprint(job: CompileJob) -> dict[str, Any]:
    """Cache-key part: what the calibration data *is*, not where it was read from."""
    path = _npz_path(job)
    if job.calibration is not None:
        return {"calibration_sha256": _digest_arrays(job.calibration)}
    if path is not None:
        return {"calibration_sha256": sha256_file(path)}
    shapes = {k: [int(d) for d in v] for k, v in (job.input_shapes or {}).items()}
    return {"calibration": "synthetic", "input_shapes": shapes}


def samples(job: CompileJob, sig: Signature) -> list[Sample]:
    """The calibration samples, checked against the model's inputs (errors name the input)."""
    path = _npz_path(job)
    if job.calibration is not None:
        out = split_samples(sig, job.calibration, "calibration data")
        prov: dict[str, Any] = {"source": "arrays", "sha256": _digest_arrays(job.calibration)}
    elif path is not None:
        out = split_samples(sig, load_npz(path), f"calibration file {path.name}")
        prov = {"source": "npz", "path": str(path), "sha256": sha256_file(path)}
    else:
        job.warn(SYNTHETIC_WARNING)
        out = synthesize(
            sig,
            job.params["synthetic_samples"],
            job.params["seed"],
            job.input_shapes,
            job.params["input_values"],
            hint="input_shapes",
        )
        prov = {"source": "synthetic", "seed": job.params["seed"]}
    if not out:
        raise VariantError(f"{job.variant}: the calibration data holds no samples")
    job.extra["calibration"] = {**prov, "n_samples": len(out)}
    return out
