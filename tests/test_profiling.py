"""Per-operator profiles and placement, from the runtimes' own profilers.

ONNX Runtime and OpenVINO profile the generated CNN live on this CPU; a CUDA session's profile
is read from captured output (tests/fixtures/profiles). Placement is judged against the unit
the job asked for, so a fallback shows even when the runtime hides it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigbench.agent.jobs import RuntimeConfig
from rigbench.agent.placement import on_unit, placement
from rigbench.agent.profiling import (
    NOT_AVAILABLE,
    OpProfile,
    OpRow,
    load_ort_profile,
    parse_ort_profile,
    profile_iterations,
)
from rigbench.agent.runtimes import adapter_class
from rigbench.agent.runtimes.openvino import import_openvino
from rigbench.controller.modelgen import GeneratedModel

FIXTURES = Path(__file__).parent / "fixtures" / "profiles"


def _feeds(model) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    return {
        s.name: rng.standard_normal([d or 1 for d in s.shape]).astype(s.dtype) for s in model.inputs
    }


def _profile(tiny: GeneratedModel, tmp_path: Path, runtime: str, **cfg) -> OpProfile:  # type: ignore[no-untyped-def]
    config = RuntimeConfig(runtime=runtime, intra_op_threads=1, **cfg)
    model = adapter_class(runtime)().load(tiny.onnx_path, config, tmp_path)
    return model.profile(model.cast_float(_feeds(model)), 7)


def _shares_sum(p: OpProfile) -> float:
    total = sum(r.total_ns for r in p.rows)
    return sum(r.total_ns / total for r in p.rows)


def test_onnxruntime_profiles_every_node_once_per_run(tiny: GeneratedModel, tmp_path: Path) -> None:
    import onnx

    p = _profile(tiny, tmp_path, "onnxruntime")
    assert p.iterations == 7 and p.wall_ns > 0 and not p.note
    assert {r.calls for r in p.rows} == {7}  # the warm-up run is not counted
    assert {r.exec_unit for r in p.rows} == {"CPUExecutionProvider"}
    assert p.requested_unit == "CPUExecutionProvider"
    assert all(r.total_ns > 0 for r in p.rows)
    # ORT fuses (Conv+Relu) and renames (…_nchwc): its nodes are its optimized graph's, and
    # their types are ONNX op types of the source's kind.
    source_types = {n.op_type for n in onnx.load(tiny.onnx_path).graph.node}
    assert "Conv" in {r.op_type for r in p.rows} and "Conv" in source_types
    assert _shares_sum(p) == pytest.approx(1.0)


def test_openvino_profiles_executed_nodes_with_their_kernels(
    tiny: GeneratedModel, tmp_path: Path
) -> None:
    if import_openvino() is None:  # imported with its usage telemetry off
        pytest.skip("OpenVINO is not installed")
    p = _profile(tiny, tmp_path, "openvino", options={"inference_precision": "f32"})
    assert p.iterations == 7 and p.requested_unit == "CPU"
    assert {r.exec_unit for r in p.rows} == {"CPU"}
    assert {r.calls for r in p.rows} == {7}
    kernels = {r.kernel for r in p.rows}
    assert all(kernels) and not any("bf16" in k for k in kernels)  # f32 asked, f32 kernels
    assert {"Convolution", "GroupConvolution"} <= {r.op_type for r in p.rows}
    assert _shares_sum(p) == pytest.approx(1.0)


def test_a_provider_that_takes_no_node_shows_as_a_fallback(
    tiny: GeneratedModel, tmp_path: Path
) -> None:
    """ORT's Azure provider (in every CPU wheel) claims no node: all of them fall to CPU."""
    p = _profile(tiny, tmp_path, "onnxruntime", providers=("AzureExecutionProvider", "cpu"))
    pl = placement(p)
    assert p.requested_unit == "AzureExecutionProvider"
    assert pl.time_share == {"CPU": pytest.approx(1.0)}
    assert pl.off_time_share == pytest.approx(1.0)
    assert len(pl.off_unit) == len(p.rows) > 0


def test_litert_says_it_cannot_profile_operators(tiny: GeneratedModel, tmp_path: Path) -> None:
    model = adapter_class("litert")().load(tiny.tflite_path, RuntimeConfig("litert"), tmp_path)
    p = model.profile(model.cast_float(_feeds(model)), 3)
    assert p.rows == [] and p.note.startswith(NOT_AVAILABLE)
    assert not placement(p).known


def test_a_captured_cuda_profile_parses_per_node_with_its_provider() -> None:
    events = load_ort_profile((FIXTURES / "ort_cuda_mnist.json").read_text())
    rows = parse_ort_profile(events)
    assert len(rows) == 8 and {r.calls for r in rows} == {2}
    conv = next(r for r in rows if r.node == "Convolution28")
    assert (conv.op_type, conv.exec_unit, conv.total_ns) == (
        "Conv",
        "CUDAExecutionProvider",
        66_142_000,
    )
    warm = {r.node: r for r in parse_ort_profile(events, skip_runs=1)}
    assert warm["Convolution28"].total_ns == 87_000 and warm["Convolution28"].calls == 1
    assert "Times212/MatMulAddFusion" in warm  # fused node names survive


def test_placement_of_the_cuda_profile_against_what_was_asked() -> None:
    rows = parse_ort_profile(load_ort_profile((FIXTURES / "ort_cuda_mnist.json").read_text()))
    on_cuda = placement(OpProfile("CUDAExecutionProvider", 2, 0, rows))
    assert on_cuda.off_unit == [] and on_cuda.off_time_share == 0.0
    assert on_cuda.node_share == {"CUDA": pytest.approx(1.0)}
    asked_trt = placement(OpProfile("TensorrtExecutionProvider", 2, 0, rows))
    assert asked_trt.off_time_share == pytest.approx(1.0)
    assert {r.node for r in asked_trt.off_unit} == {r.node for r in rows}


def test_placement_is_unknown_where_a_unit_is_not_reported() -> None:
    rows = [
        OpRow("a", "Conv", "CUDAExecutionProvider", "", 1, 10),
        OpRow("b", "X", NOT_AVAILABLE, "", 1, 5),
    ]
    pl = placement(OpProfile("CUDAExecutionProvider", 1, 0, rows))
    assert pl.off_time_share is None and not pl.known
    assert pl.time_share["CUDA"] == pytest.approx(10 / 15)


@pytest.mark.parametrize(
    ("asked", "ran", "on"),
    [
        ("CUDAExecutionProvider", "CUDAExecutionProvider", True),
        ("cuda", "CUDAExecutionProvider", True),
        ("CUDAExecutionProvider", "CPUExecutionProvider", False),
        ("dml", "DmlExecutionProvider", True),
        ("TensorrtExecutionProvider", "CUDAExecutionProvider", False),
        ("GPU", "GPU.0", True),
        ("GPU.1", "GPU.0", False),
        ("AUTO", "CPU", True),
        ("HETERO:GPU,CPU", "CPU", True),
        ("", "CPU", None),
        ("CPU", NOT_AVAILABLE, None),
    ],
)
def test_which_units_count_as_the_requested_one(asked: str, ran: str, on: bool | None) -> None:
    assert on_unit(asked, ran) is on


@given(st.floats(min_value=0, max_value=1e12))
def test_the_profiling_pass_is_short_and_never_empty(p50_ns: float) -> None:
    n = profile_iterations(p50_ns)
    assert 3 <= n <= 50


@given(
    st.lists(
        st.tuples(st.sampled_from(["CPU", "GPU"]), st.integers(min_value=1, max_value=10**9)),
        min_size=1,
        max_size=30,
    )
)
def test_shares_of_time_and_nodes_each_sum_to_one(units: list[tuple[str, int]]) -> None:
    rows = [OpRow(f"n{i}", "Op", u, "", 1, ns) for i, (u, ns) in enumerate(units)]
    pl = placement(OpProfile("GPU", 1, 0, rows))
    assert sum(pl.time_share.values()) == pytest.approx(1.0)
    assert sum(pl.node_share.values()) == pytest.approx(1.0)
    off = sum(ns for u, ns in units if u != "GPU") / sum(ns for _, ns in units)
    assert pl.off_time_share == pytest.approx(off)


def test_a_profile_round_trips_through_json_and_the_wire() -> None:
    from rigbench.agent.convert import result_from_pb, result_to_pb
    from rigbench.agent.jobs import JobResult

    prof = OpProfile("CPU", 5, 123, [OpRow("conv", "Conv", "CPU", "jit_avx2", 5, 1000)], "")
    assert OpProfile.from_json_dict(prof.to_json_dict()) == prof
    r = JobResult(
        1, 0, 1, 0, [1], 0, 1, 1, 1, "openvino", "1", ["CPU"], [], [], "min", op_profile=prof
    )
    assert result_from_pb(result_to_pb(r)).op_profile == prof
    r.op_profile = None
    assert result_from_pb(result_to_pb(r)).op_profile is None


def test_providers_that_compile_nodes_skip_the_saved_optimized_graph() -> None:
    """ORT refuses to save a graph holding TensorRT-compiled nodes; their cache is the engine."""
    from rigbench.agent.runtimes.onnxruntime import compiles_nodes

    assert compiles_nodes(["TensorrtExecutionProvider", "CUDAExecutionProvider"])
    assert compiles_nodes(["OpenVINOExecutionProvider"])
    assert not compiles_nodes(["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert not compiles_nodes(["CPUExecutionProvider"])


def test_a_runtime_entry_s_options_go_to_the_provider_it_asked_for_first(tmp_path: Path) -> None:
    """ORT refuses an option a provider does not know: TensorRT's must not reach CUDA."""
    from rigbench.agent.runtimes.onnxruntime import options_per_provider

    trt, cuda, cpu = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"
    given = {"trt_fp16_enable": "True"}
    first, second, third = options_per_provider([trt, cuda, cpu], trt, given, tmp_path)
    assert first["trt_fp16_enable"] == "True" and first["trt_engine_cache_enable"] == "True"
    assert second == {} and third == {}
    # TensorRT absent and a fallback allowed: CUDA runs, without TensorRT's options.
    assert options_per_provider([cuda, cpu], trt, given, tmp_path) == [{}, {}]
    assert options_per_provider([cuda, cpu], cuda, {"device_id": "1"}, tmp_path)[0] == {
        "device_id": "1"
    }


def test_units_are_shown_as_their_vendors_spell_them() -> None:
    from rigbench.agent.placement import unit_name

    assert unit_name("TensorrtExecutionProvider") == "TensorRT"
    assert unit_name("CUDAExecutionProvider") == "CUDA"
    assert unit_name("DmlExecutionProvider") == "DirectML"
    assert unit_name("GPU.0") == "GPU.0" and unit_name("Tensorrt") == "Tensorrt"
