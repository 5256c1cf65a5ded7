"""A device's tune space from what its agent describes, the front, and the written plan.

The runtimes, providers and knobs come from the runtime descriptors (one declaration per
runtime), so nothing here names a runtime the registry does not.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigbench.agent.runtimes import descriptors
from rigbench.controller.plan import RuntimeEntry
from rigbench.controller.tune.config import Config
from rigbench.controller.tune.driver import runtime_entry
from rigbench.controller.tune.space import (
    DeviceFacts,
    Narrowing,
    build_space,
    check_narrowing,
    thread_counts,
)
from rigbench.controller.tune.summary import pareto
from rigbench.errors import UsageError

FORMATS = {"fp32": "onnx", "fp16": "onnx", "tflite-fp32": "tflite"}


def described(cores: int = 4, ort: tuple[str, ...] = ("CPUExecutionProvider",)) -> DeviceFacts:
    """A device as its Describe reports it (``DeviceDescription.to_dict()``)."""
    return DeviceFacts.from_description(
        "box",
        {
            "cpu_cores_logical": cores,
            "cpu_cores_physical": cores // 2 or 1,
            "runtimes": [
                {"name": "onnxruntime", "providers": list(ort)},
                {"name": "litert", "providers": ["xnnpack", "none"]},
                {"name": "openvino", "providers": ["CPU"]},
            ],
        },
    )


def test_the_space_is_every_combination_the_device_can_run() -> None:
    space = build_space(described(cores=4), FORMATS)
    ort_knob = descriptors()["onnxruntime"].tune_knob("graph_optimization")
    assert ort_knob is not None
    threads = thread_counts(4, 2)
    assert threads == (1, 2, 4)
    ort = [c for c in space.configs if c.runtime == "onnxruntime"]
    litert = [c for c in space.configs if c.runtime == "litert"]
    # ORT: 2 onnx variants x cpu x 3 thread counts x its knob's values.
    assert len(ort) == 2 * 1 * 3 * len(ort_knob.values)
    # LiteRT: the tflite variant x both delegates (XNNPACK on and off) x 3 thread counts.
    assert len(litert) == 1 * 2 * 3
    assert {c.provider for c in litert} == {"xnnpack", "none"}
    # OpenVINO reads ONNX too: 2 onnx variants x CPU x 3 thread counts x its hints.
    ov = [c for c in space.configs if c.runtime == "openvino"]
    assert len(ov) == 2 * 1 * 3 * 2
    assert {c.setting("performance_hint") for c in ov} == {"LATENCY", "THROUGHPUT"}
    assert len(set(space.configs)) == len(space.configs)
    assert len({c.key for c in space.configs}) == len(space.configs)


def test_providers_are_those_the_device_reports() -> None:
    space = build_space(described(ort=("CUDAExecutionProvider", "CPUExecutionProvider")), FORMATS)
    assert {c.provider for c in space.configs if c.runtime == "onnxruntime"} == {"cpu", "cuda"}


def test_what_the_device_lacks_is_left_out_with_the_reason() -> None:
    facts = DeviceFacts("pi", 4, 4, {"litert": ("xnnpack", "none")})
    space = build_space(facts, FORMATS)
    assert {c.runtime for c in space.configs} == {"litert"}
    assert "runtime onnxruntime: not installed on pi" in space.left_out


def test_the_user_narrows_runtimes_providers_threads_and_knobs() -> None:
    n = Narrowing(
        runtimes=("onnxruntime",), threads=(2,), settings={"graph_optimization": ("all",)}
    )
    space = build_space(described(), FORMATS, n)
    assert {(c.variant, c.threads, c.settings) for c in space.configs} == {
        ("fp32", 2, (("graph_optimization", "all"),)),
        ("fp16", 2, (("graph_optimization", "all"),)),
    }
    # An empty list of values leaves the knob at the runtime's default.
    plain = build_space(described(), FORMATS, Narrowing(settings={"graph_optimization": ()}))
    assert all(c.settings == () for c in plain.configs if c.runtime == "onnxruntime")


def test_a_provider_the_device_does_not_have_leaves_the_runtime_out_and_says_so() -> None:
    space = build_space(described(), FORMATS, Narrowing(providers=("cuda",)))
    assert not [c for c in space.configs if c.runtime == "onnxruntime"]
    assert any("cuda" in line and "CPUExecutionProvider" in line for line in space.left_out)


@pytest.mark.parametrize(
    ("narrowing", "message"),
    [
        (Narrowing(runtimes=("tvm",)), "--runtime: unknown 'tvm'"),
        (Narrowing(providers=("abacus",)), "--provider: unknown 'abacus'"),
        (Narrowing(settings={"turbo": ("on",)}), "--set: unknown 'turbo'"),
        (Narrowing(settings={"graph_optimization": ("max",)}), "max is not one of"),
        (Narrowing(threads=(0,)), "--threads: give counts of at least 1"),
    ],
)
def test_names_nothing_declares_are_usage_errors(narrowing: Narrowing, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_narrowing(narrowing)


@given(logical=st.integers(1, 512), physical=st.integers(1, 512))
def test_thread_counts_start_at_one_and_reach_every_core(logical: int, physical: int) -> None:
    physical = min(physical, logical)
    counts = thread_counts(logical, physical)
    assert counts[0] == 1 and counts[-1] == logical
    assert list(counts) == sorted(set(counts))
    assert physical in counts


def test_every_configuration_is_a_runtime_entry_a_plan_accepts() -> None:
    for c in build_space(
        described(ort=("CPUExecutionProvider", "CUDAExecutionProvider")), FORMATS
    ).configs:
        entry = RuntimeEntry.model_validate(runtime_entry(c))
        assert entry.name == c.name and entry.runtime == c.runtime
        assert entry.threads == c.threads
        for knob, value in c.settings:
            assert getattr(entry, knob, None) == value or entry.options.get(knob) == value


def test_the_front_keeps_what_nothing_beats_in_every_figure() -> None:
    points = [
        (1.0, 5.0, None, 0.1),  # fast, pricey
        (2.0, 1.0, None, 0.1),  # slow, cheap
        (2.0, 6.0, None, 0.1),  # beaten by the first in every known figure
        (1.0, 5.0, None, 0.1),  # equal to the first: both on the front
    ]
    assert pareto(points) == [True, True, False, True]
    # A figure unknown for any configuration is left out for all of them.
    assert pareto([(1.0, None), (2.0, 0.5)]) == [True, False]
    assert pareto([]) == []


def test_config_names_are_unique_for_distinct_entries() -> None:
    a = Config("fp32", "onnxruntime", "cpu", 1, (("graph_optimization", "all"),))
    b = Config("fp32", "onnxruntime", "cpu", 1, (("graph_optimization", "basic"),))
    assert a.name != b.name and a.key != b.key
