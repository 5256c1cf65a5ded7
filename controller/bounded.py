"""Field types for the plan and inventory schemas, bounded by ``rigbench.limits``.

A field typed ``Iterations`` refuses ``1e12`` with the limit and its reason in the message
(``measurement.max_iterations: 1000000000000 is above the limit of 10000000 (...)``), which
``yamlfile.validate`` prefixes with file and line. Non-finite numbers are refused by the
schemas' ``allow_inf_nan=False``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict
from pydantic_core import PydanticCustomError

from rigbench import limits
from rigbench.limits import Limit

# The base config of every schema a user writes: unknown fields and inf/nan are mistakes.
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


def _within(limit: Limit) -> AfterValidator:
    def check(value: Any) -> Any:
        problem = limit.problem(value)
        if problem is not None:
            raise PydanticCustomError("rigbench_limit", problem)
        return value

    return AfterValidator(check)


Iterations = Annotated[int, _within(limits.ITERATIONS)]
DurationS = Annotated[float, _within(limits.DURATION_S)]
TimeoutS = Annotated[float, _within(limits.TIMEOUT_S)]
Threads = Annotated[int, _within(limits.THREADS)]
Seed = Annotated[int, _within(limits.SEED)]
Retries = Annotated[int, _within(limits.RETRIES)]
AccuracySamples = Annotated[int, _within(limits.ACCURACY_SAMPLES)]
Slowdown = Annotated[int, _within(limits.SLOWDOWN)]
InputDim = Annotated[int, _within(limits.INPUT_DIM)]
Concurrency = Annotated[int, _within(limits.CONCURRENCY)]
Batch = Annotated[int, _within(limits.BATCH)]
Qps = Annotated[float, _within(limits.QPS)]
LatencyBoundMs = Annotated[float, _within(limits.LATENCY_BOUND_MS)]
