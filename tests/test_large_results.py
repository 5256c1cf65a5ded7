"""Results of any size reach the controller: a result over gRPC's 64 MB message limit travels
in parts, from a real agent, live and replayed from its spool.

Before: the agent's send failed on the message limit, the controller read it as "device busy"
and looped, replaying the spool each time; the measurement was lost.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from rigbench.agent.jobs import (
    JobResult,
    JobSpec,
    MeasurementConfig,
    RuntimeConfig,
    TelemetryConfig,
)
from rigbench.controller.client import MAX_MESSAGE_BYTES
from rigbench.digest import sha256_file
from tests.conftest import client_for, run

pytestmark = pytest.mark.e2e

WIDTH, REPEATS = 1024, 18_000  # one output of 1 x 18.4 M float32: 73.7 MB


def big_output_model(path: Path) -> Path:
    """X [1, 1024] -> Tile -> y [1, 18 432 000]: a small model with a huge output."""
    graph = helper.make_graph(
        [helper.make_node("Tile", ["x", "repeats"], ["y"])],
        "big-output",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, WIDTH * REPEATS])],
        [numpy_helper.from_array(np.array([1, REPEATS], dtype=np.int64), "repeats")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_a_result_over_the_message_limit_arrives_whole_live_and_from_the_spool(agent, tmp_path):
    model = big_output_model(tmp_path / "big.onnx")
    x = np.random.default_rng(0).standard_normal((1, WIDTH)).astype(np.float32)
    refs = tmp_path / "refs.npz"
    np.savez(refs, **{"0:x": x})
    spec = JobSpec(
        job_id="job-big",
        artifact_sha256=sha256_file(model),
        model_format="onnx",
        runtime=RuntimeConfig(intra_op_threads=1),
        measurement=MeasurementConfig(warmup_iterations=0, min_iterations=3, min_duration_s=0),
        telemetry=TelemetryConfig(enabled=False),
        reference_inputs_sha256=sha256_file(refs),
    )

    async def go() -> tuple[JobResult, JobResult]:
        async with client_for(agent) as c:
            await c.ensure_artifacts({spec.artifact_sha256: model, sha256_file(refs): refs})
            live = [e async for e in c.run(spec, timeout_s=300)][-1].body
            replayed = [e async for e in c.attach("job-big", 0, timeout_s=300)][-1].body
        assert isinstance(live, JobResult) and isinstance(replayed, JobResult)
        return live, replayed

    live, replayed = run(go())
    assert len(live.reference_outputs_npz) > MAX_MESSAGE_BYTES  # larger than one message
    assert replayed.reference_outputs_npz == live.reference_outputs_npz
    with np.load(io.BytesIO(live.reference_outputs_npz)) as z:
        np.testing.assert_array_equal(z["0:y"], np.tile(x, (1, REPEATS)))
    assert len(live.latencies_ns) == 3
