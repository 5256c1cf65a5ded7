"""Each runtime is declared once (its descriptor), and everything else reads the declaration.

docs/runtimes.md: adding a runtime is one adapter module plus one registration line; the plan,
``bench``, the SSH installer, the nightly canary and the packaging follow from its descriptor.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import tomllib

from rigbench.agent.runtimes import (
    REGISTERED,
    adapter_class,
    descriptor,
    descriptors,
    runtimes_for_format,
)
from rigbench.controller.cli.bench import bench_plan
from rigbench.controller.nightly.canary import canary_plan
from rigbench.controller.plan import Plan, load_plan
from rigbench.controller.ssh.install import AUTO_EXTRAS
from rigbench.errors import PlanError, RuntimeUnavailableError
from tests.paths import REPO


def _plan(runtimes: list[dict[str, object]]) -> Plan:
    return Plan.model_validate(
        {"name": "p", "models": [{"name": "m", "generate": {"size": "tiny"}}], "runtimes": runtimes}
    )


def test_every_registered_module_declares_one_runtime_with_an_adapter() -> None:
    ds = descriptors()
    assert len(ds) == len(REGISTERED)
    for name, d in ds.items():
        cls = adapter_class(name)
        assert cls.name == name and cls.formats == d.formats
        assert d.default_provider in d.providers
        assert d.formats and d.extra and d.canary_variant


def test_reading_descriptors_imports_no_runtime() -> None:
    code = textwrap.dedent(
        """
        import sys
        from rigbench.agent.runtimes import descriptors
        ds = descriptors()
        heavy = [m for m in ("onnxruntime", "openvino", "ai_edge_litert", "tflite_runtime")
                 if m in sys.modules]
        print(len(ds), heavy)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(maxsplit=1)[1].strip() == "[]", r.stdout


def test_every_runtime_extra_is_a_packaging_extra() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for d in descriptors().values():
        assert d.extra in extras, f"{d.name}: pyproject.toml has no extra {d.extra!r}"


def test_the_installer_offers_the_runtimes_marked_for_every_board() -> None:
    assert AUTO_EXTRAS == tuple(d.extra for d in descriptors().values() if d.install_by_default)
    assert "onnxruntime" in AUTO_EXTRAS


def test_a_plan_names_only_registered_runtimes() -> None:
    with pytest.raises(ValueError, match="unknown runtime 'tensorflow'; known runtimes: onnx"):
        _plan([{"name": "x", "runtime": "tensorflow"}])
    with pytest.raises(RuntimeUnavailableError, match="known runtimes"):
        descriptor("tensorflow")


def test_a_runtime_entry_takes_the_formats_its_descriptor_declares() -> None:
    plan = _plan([{"name": d.name, "runtime": d.name} for d in descriptors().values()])
    for entry in plan.runtimes:
        assert entry.formats == descriptor(entry.runtime).formats


def test_runtimes_for_a_format_put_the_format_s_own_runtime_first() -> None:
    assert runtimes_for_format("onnx")[0].name == "onnxruntime"
    assert runtimes_for_format("tflite")[0].name == "litert"
    assert runtimes_for_format("no-such-format") == []


def test_the_canary_runs_each_runtime_s_declared_variant_once() -> None:
    plan = _plan(
        [
            {"name": "a", "runtime": "onnxruntime"},
            {"name": "b", "runtime": "onnxruntime", "threads": 2},
            {"name": "c", "runtime": "litert"},
        ]
    )
    canary = canary_plan(plan)
    assert canary.models[0].variants == ["fp32", "tflite-fp32"]


def test_bench_picks_the_runtime_by_format_and_refuses_a_mismatch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rigbench.controller.modelgen import generate_cnn

    gen = generate_cnn(tmp_path, size="micro", seed=0)
    args = ([], 0, [], [], None, 5, None, 0, False)
    plan = bench_plan(gen.tflite_path, None, *args)
    assert plan.runtimes[0].runtime == "litert"
    assert plan.models[0].variants == ["tflite-fp32"]
    plan = bench_plan(gen.onnx_path, None, *args)
    assert plan.runtimes[0].runtime == "onnxruntime"
    assert plan.models[0].variants == ["fp32"]
    with pytest.raises(PlanError, match="is a tflite model; runtime onnxruntime runs onnx"):
        bench_plan(gen.tflite_path, "onnxruntime", *args)
    with pytest.raises(PlanError, match="--runtime: unknown runtime 'tvm'"):
        bench_plan(gen.onnx_path, "tvm", *args)


def test_options_outside_a_closed_option_set_are_refused() -> None:
    d = descriptor("litert")
    assert not d.open_options
    assert d.check_options({"nonsense": "1"}) == [
        "runtime litert has no option 'nonsense'; its options: none"
    ]
    assert descriptor("onnxruntime").check_options({"device_id": "0"}) == []


def test_openvino_is_an_extra_never_in_the_base_or_default_agent_install() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    agent = " ".join(project["optional-dependencies"]["agent"]).lower()
    assert "openvino" not in base and "openvino" not in agent and "nncf" not in agent
    assert not descriptor("openvino").install_by_default
    assert "openvino" not in AUTO_EXTRAS
    assert project["optional-dependencies"]["openvino"] == ["openvino>=2024.0"]


def test_openvino_options_are_checked_when_the_plan_is_read() -> None:
    with pytest.raises(ValueError, match="runtime openvino has no option 'nstreams'; its options"):
        _plan([{"name": "ov", "runtime": "openvino", "options": {"nstreams": "2"}}])
    with pytest.raises(ValueError, match="inference_precision: 'f8' is not one of f32, f16, bf16"):
        _plan([{"name": "ov", "runtime": "openvino", "options": {"inference_precision": "f8"}}])
    ok = _plan([{"name": "ov", "runtime": "openvino", "options": {"performance_hint": "latency"}}])
    assert ok.runtimes[0].formats == ("openvino-ir", "onnx")


@pytest.mark.parametrize("path", sorted((REPO / "plans").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_plan_loads(path) -> None:  # type: ignore[no-untyped-def]
    # Loading checks each runtime entry against its descriptor (name, formats, options).
    assert load_plan(path).runtimes


def test_the_documented_openvino_plan_profiles_openvino_beside_onnxruntime() -> None:
    plan = load_plan(REPO / "plans" / "openvino.yaml")
    profiled = {r.runtime for r in plan.runtimes if r.profile}
    assert {"openvino", "onnxruntime"} <= profiled
    variants = plan.models[0].variants
    assert "openvino-ir" in [v if isinstance(v, str) else next(iter(v)) for v in variants]
