"""Synthetic latency series with known medians, for the statistics tests."""

from __future__ import annotations

import math

import numpy as np


def ar1(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    """A stationary AR(1) series with unit variance: x_t = phi x_(t-1) + sqrt(1 - phi^2) e_t.

    Written as the moving average sum_k sqrt(1 - phi^2) phi^k e_(t-k), cut where phi^k is
    below 1e-12 (a convolution instead of a Python loop).
    """
    k = 1 if phi == 0 else int(math.ceil(math.log(1e-12) / math.log(phi)))
    kernel = math.sqrt(1.0 - phi * phi) * phi ** np.arange(k)
    e = rng.standard_normal(n + k - 1)
    return np.convolve(e, kernel, mode="valid")


def latencies_ar1(n: int, phi: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Skewed, positive, autocorrelated 'latencies' in ns with median exactly 1e6."""
    return 1e6 * np.exp(sigma * ar1(n, phi, rng))
