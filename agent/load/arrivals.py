"""When the server scenario's requests arrive: a Poisson process at the target rate.

Inter-arrival gaps are independent exponentials with mean ``1 / qps`` (MLPerf LoadGen's
Server scenario), drawn from a seeded generator so a job's schedule can be reproduced. The
schedule is fixed before the first request is issued: arrivals never wait for completions.
"""

from __future__ import annotations

import math

import numpy as np


def poisson_arrivals_ns(
    qps: float, duration_s: float, min_requests: int, seed: int = 0
) -> np.ndarray:
    """Arrival offsets (ns from the start, increasing) covering at least ``duration_s`` and at
    least ``min_requests`` requests; the first arrives after one gap, as in a Poisson process.
    """
    if not (qps > 0 and math.isfinite(qps)):
        raise ValueError(f"qps must be positive and finite, got {qps!r}")
    rng = np.random.default_rng(seed)
    horizon_ns = duration_s * 1e9
    mean_gap_ns = 1e9 / qps
    # Draw in chunks until both the duration and the count are covered.
    want = max(min_requests, int(qps * duration_s * 1.05) + 16)
    gaps = rng.exponential(mean_gap_ns, size=want)
    offsets = np.cumsum(gaps)
    while offsets[-1] < horizon_ns:
        more = rng.exponential(mean_gap_ns, size=max(16, int(qps * duration_s * 0.1) + 16))
        offsets = np.concatenate([offsets, offsets[-1] + np.cumsum(more)])
    n = max(int(np.searchsorted(offsets, horizon_ns, side="right")), min_requests, 1)
    return offsets[:n].astype(np.int64)
