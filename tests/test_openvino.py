"""OpenVINO as a third runtime: IR variants as multi-file artifacts, outputs beside ORT's.

Real OpenVINO on this CPU. The IR variant is two files, carried by digest through the compile
cache (lineage), the upload and the agent's cache; its outputs and those of the ONNX file read
directly match onnxruntime's within float tolerance when f32 precision is asked for.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from rigbench.agent.jobs import ArtifactFile, JobSpec, RuntimeConfig
from rigbench.agent.runtimes import adapter_class
from rigbench.agent.runtimes.openvino import compile_config, import_openvino
from rigbench.controller.modelgen import GeneratedModel
from rigbench.controller.variants import VariantSpec, compile_variant
from rigbench.digest import sha256_file
from rigbench.errors import JobSpecError, ProviderUnavailableError, VariantError
from tests.paths import REPO

if import_openvino() is None:  # imported with its usage telemetry off
    pytest.skip("OpenVINO is not installed", allow_module_level=True)

F32 = RuntimeConfig("openvino", intra_op_threads=1, options={"inference_precision": "f32"})


def _ort(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds)))


def _feeds(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    return {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in s.get_inputs()}


def _run(path: Path, cfg: RuntimeConfig, feeds: dict[str, np.ndarray], work: Path):  # type: ignore[no-untyped-def]
    model = adapter_class("openvino")().load(path, cfg, work)
    return model, model.run_float(feeds)


def _close(a: dict[str, np.ndarray], b: dict[str, np.ndarray], rel: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        span = float(np.ptp(b[k])) or 1.0
        assert float(np.max(np.abs(a[k] - b[k]))) / span < rel, k


def test_openvino_reads_onnx_directly_and_agrees_with_onnxruntime(
    tiny: GeneratedModel, tmp_path: Path
) -> None:
    feeds = _feeds(tiny.onnx_path)
    model, out = _run(tiny.onnx_path, F32, feeds, tmp_path)
    _close(out, _ort(tiny.onnx_path, feeds), 1e-5)
    assert model.info.providers_used == ["CPU"]
    assert model.info.compile_ns > 0 and not model.info.warnings


def test_the_ir_variant_is_two_files_carried_by_digest_and_round_trips(
    tiny: GeneratedModel, tmp_path: Path
) -> None:
    cv = compile_variant(tiny.onnx_path, VariantSpec("openvino-ir"), tmp_path / "cache")
    assert cv.format == "openvino-ir" and cv.path.suffix == ".xml" and not cv.cache_hit
    ((name, weights, digest),) = cv.companions
    assert name == "model.bin" and weights.suffix == ".bin" and digest == sha256_file(weights)
    assert cv.size_bytes == cv.path.stat().st_size + weights.stat().st_size
    again = compile_variant(tiny.onnx_path, VariantSpec("openvino-ir"), tmp_path / "cache")
    assert again.cache_hit and again.sha256 == cv.sha256 and again.companions == cv.companions
    feeds = _feeds(tiny.onnx_path)
    _, out = _run(cv.path, F32, feeds, tmp_path / "w")
    _close(out, _ort(tiny.onnx_path, feeds), 1e-5)


def test_a_damaged_weights_file_is_recompiled_not_used(
    tiny: GeneratedModel, tmp_path: Path
) -> None:
    cv = compile_variant(tiny.onnx_path, VariantSpec("openvino-ir"), tmp_path / "cache")
    weights = cv.companions[0][1]
    weights.write_bytes(weights.read_bytes()[:100])
    again = compile_variant(tiny.onnx_path, VariantSpec("openvino-ir"), tmp_path / "cache")
    assert not again.cache_hit and sha256_file(again.companions[0][1]) == cv.companions[0][2]


def test_fp16_weight_compression_halves_the_weights_and_stays_close(
    tiny: GeneratedModel, tmp_path: Path
) -> None:
    f32 = compile_variant(tiny.onnx_path, VariantSpec("openvino-ir"), tmp_path / "c")
    f16 = compile_variant(
        tiny.onnx_path, VariantSpec("openvino-ir", {"compress_to_fp16": True}), tmp_path / "c"
    )
    b32, b16 = f32.companions[0][1].stat().st_size, f16.companions[0][1].stat().st_size
    assert 0.45 < b16 / b32 < 0.55
    feeds = _feeds(tiny.onnx_path)
    _, out = _run(f16.path, F32, feeds, tmp_path / "w")
    _close(out, _ort(tiny.onnx_path, feeds), 2e-2)


@pytest.mark.slow
def test_nncf_int8_quantizes_without_a_training_framework(
    tiny: GeneratedModel, tmp_path: Path
) -> None:
    cv = compile_variant(
        tiny.onnx_path, VariantSpec("openvino-int8", {"synthetic_samples": 8}), tmp_path / "c"
    )
    assert any("SYNTHETIC" in w for w in cv.warnings)
    assert "torch" not in sys.modules and "tensorflow" not in sys.modules
    model, out = _run(
        cv.path, RuntimeConfig("openvino", intra_op_threads=1), _feeds(tiny.onnx_path), tmp_path
    )
    assert np.isfinite(next(iter(out.values()))).all()
    p = model.profile(model.cast_float(_feeds(tiny.onnx_path)), 3)
    assert any("i8" in r.kernel or "I8" in r.kernel or "u8" in r.kernel for r in p.rows), {
        r.kernel for r in p.rows
    }


def test_options_become_openvino_properties() -> None:
    cfg = RuntimeConfig(
        "openvino",
        intra_op_threads=2,
        options={"streams": "1", "performance_hint": "throughput", "inference_precision": "F16"},
    )
    assert compile_config(cfg) == {
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_NUM_THREADS": 2,
        "NUM_STREAMS": "1",
        "INFERENCE_PRECISION_HINT": "f16",
    }
    assert compile_config(RuntimeConfig("openvino")) == {"PERFORMANCE_HINT": "LATENCY"}


def test_the_device_s_own_precision_is_reported_when_not_asked(
    tiny: GeneratedModel, tmp_path: Path
) -> None:
    model = adapter_class("openvino")().load(
        tiny.onnx_path, RuntimeConfig("openvino", intra_op_threads=1), tmp_path
    )
    ov = import_openvino()

    hint = model.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    if hint == "f32":
        assert not model.info.warnings  # nothing to say on a CPU without bf16 kernels
    else:
        assert any(f"inference precision {hint}" in w for w in model.info.warnings)
    assert ov is not None


def test_a_missing_device_is_refused_or_falls_back_when_allowed(
    tiny: GeneratedModel, tmp_path: Path
) -> None:
    ov = import_openvino()

    if "NPU" in ov.Core().available_devices:
        pytest.skip("this machine has an NPU")
    with pytest.raises(ProviderUnavailableError, match="OpenVINO device NPU is not available"):
        _run(tiny.onnx_path, RuntimeConfig("openvino", providers=("npu",)), {}, tmp_path)
    cfg = RuntimeConfig("openvino", providers=("NPU",), allow_cpu_fallback=True)
    model = adapter_class("openvino")().load(tiny.onnx_path, cfg, tmp_path)
    assert model.info.providers_used == ["CPU"]
    assert "fell back to CPU" in model.info.warnings[0]
    from rigbench.agent.placement import placement

    p = model.profile(model.cast_float(_feeds(tiny.onnx_path)), 3)
    assert p.requested_unit == "NPU" and placement(p).off_time_share == pytest.approx(1.0)


def test_an_onnx_source_cannot_be_ir_variant_of_tflite(
    tiny: GeneratedModel, tmp_path: Path
) -> None:
    with pytest.raises(VariantError, match="needs an ONNX source"):
        compile_variant(tiny.tflite_path, VariantSpec("openvino-ir"), tmp_path)


def test_the_agent_lays_out_companions_by_name_and_refuses_paths(tmp_path: Path) -> None:
    from rigbench.agent.cache import ArtifactCache
    from rigbench.agent.runner import place_artifact

    cache = ArtifactCache(tmp_path / "cache")
    files = {}
    for name, data in (("xml", b"<net/>"), ("bin", b"\0weights")):
        src = tmp_path / name
        src.write_bytes(data)
        digest = sha256_file(src)
        up = cache.begin(digest, src.stat().st_size)
        up.write(src.read_bytes())
        up.finish()
        files[name] = digest
    spec = JobSpec(
        "j", files["xml"], "openvino-ir", companions=(ArtifactFile("model.bin", files["bin"]),)
    )
    work = tmp_path / "work"
    work.mkdir()
    path = place_artifact(cache, spec, work)
    assert path.name == "model.xml" and path.read_bytes() == b"<net/>"
    assert (path.parent / "model.bin").read_bytes() == b"\0weights"
    for bad in ("../x.bin", "/etc/passwd", "", ".hidden", "model.xml"):
        evil = JobSpec(
            "j", files["xml"], "openvino-ir", companions=(ArtifactFile(bad, files["bin"]),)
        )
        with pytest.raises(JobSpecError, match="not a plain file name"):
            place_artifact(cache, evil, tmp_path / "work")


def test_the_agent_imports_and_describes_itself_without_openvino() -> None:
    code = textwrap.dedent(
        """
        import sys

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "openvino":
                    raise ModuleNotFoundError("No module named 'openvino' (blocked)", name=name)

        sys.meta_path.insert(0, Blocker())
        from rigbench.agent.describe import describe_device
        from rigbench.agent.runtimes import adapter_class
        from rigbench.agent.jobs import RuntimeConfig
        d = describe_device()
        print([r.name for r in d.runtimes], d.absent_runtimes)
        try:
            adapter_class("openvino")().load(None, RuntimeConfig("openvino"), None)
        except Exception as e:
            print(type(e).__name__, e)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    present, absent = r.stdout.splitlines()[0].split("] [")
    assert "openvino" not in present and "'openvino'" in absent
    assert r.stdout.splitlines()[1] == (
        "RuntimeUnavailableError OpenVINO is not installed on this device; "
        'install "rigbench[openvino]"'
    )


def test_openvino_and_nncf_are_imported_without_telemetry(tmp_path: Path) -> None:
    """`import openvino` alone sends a usage event and writes ~/intel unless told not to."""
    code = textwrap.dedent(
        """
        import os
        from rigbench.agent.runtimes.openvino import import_openvino
        ov = import_openvino()
        import nncf
        from openvino_telemetry import Telemetry
        print(Telemetry().consent, os.environ.get("CI"))
        """
    )
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("CI", "NNCF_CI")}
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**env, "HOME": str(tmp_path)},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "None"]  # declined, and CI left as it was
    assert not (tmp_path / "intel").exists()  # no consent file, client id or stats written


def test_only_import_openvino_imports_openvino() -> None:
    offenders = []
    for folder in ("agent", "controller", "reports", "benchmarks", "tools", "tests"):
        for path in (REPO / folder).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                stripped = line.strip()
                if stripped.startswith(("import openvino", "from openvino ", "from openvino.")):
                    offenders.append(f"{path.relative_to(REPO)}:{n}: {stripped}")
    assert len(offenders) == 1, offenders
    assert offenders[0].startswith("agent/runtimes/openvino.py:")
