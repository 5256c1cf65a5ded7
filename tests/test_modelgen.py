"""The generated CNN: valid ONNX, loadable TFLite, same outputs in both, reproducible bytes.

The demo, the runtime adapters' tests and the nightly-regression demo all stand on these
models, so the properties they rely on are checked here against the real runtimes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from rigbench.controller.modelgen import GeneratedModel, ModelGenError, generate_cnn
from rigbench.controller.modelgen.__main__ import main as cli_main
from rigbench.errors import ControllerError

litert = pytest.importorskip("ai_edge_litert.interpreter")

# LiteRT (XNNPACK or reference kernels) and onnxruntime (MLAS) sum in different orders; the
# observed gap is ~5e-7 of the largest |logit|. 1e-4 of the output scale leaves ample room
# while still catching any layout or weight mismatch (those give differences of order 1).
REL_TOL = 1e-4


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GeneratedModel]:
    out = tmp_path_factory.mktemp("models")
    return {
        "micro": generate_cnn(out, size="micro"),
        "tiny": generate_cnn(out, size="tiny"),
        "small": generate_cnn(out, size="small"),
        "tiny-slow2": generate_cnn(out, size="tiny", slowdown=2),
    }


def _images(shape: tuple[int, ...], n: int, seed: int = 1) -> list[np.ndarray]:
    """Inputs that differ like images do: per-channel brightness and contrast, plus noise."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    return [
        (
            rng.normal(0, 1, (1, c, 1, 1)) + rng.uniform(0.2, 2.0) * rng.standard_normal(shape)
        ).astype(np.float32)
        for _ in range(n)
    ]


def _ort_session(path: Path, optimized_path: Path | None = None) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # the NCHWc "hardware specific" warning on saving is expected
    if optimized_path is not None:
        so.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _tflite_run(interp: Any, x: np.ndarray) -> np.ndarray:
    inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"]).copy()


def _tflite(path: Path, resolver: Any = None) -> Any:
    kwargs = {} if resolver is None else {"experimental_op_resolver_type": resolver}
    interp = litert.Interpreter(model_path=str(path), **kwargs)
    interp.allocate_tensors()
    return interp


@pytest.mark.parametrize("size", ["micro", "tiny", "small"])
def test_onnx_passes_full_checker_and_runs_with_declared_shapes(
    models: dict[str, GeneratedModel], size: str
) -> None:
    m = models[size]
    onnx.checker.check_model(onnx.load(str(m.onnx_path)), full_check=True)
    sess = _ort_session(m.onnx_path)
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert (inp.name, tuple(inp.shape), inp.type) == (m.input_name, m.input_shape, "tensor(float)")
    assert (out.name, tuple(out.shape)) == (m.output_name, (1, m.num_classes))
    (y,) = sess.run(None, {m.input_name: _images(m.input_shape, 1)[0]})
    assert y.shape == (1, m.num_classes) and y.dtype == np.float32 and np.isfinite(y).all()


@pytest.mark.parametrize("resolver", ["default-xnnpack", "builtin-without-default-delegates"])
def test_tflite_loads_and_runs_with_and_without_xnnpack(
    models: dict[str, GeneratedModel], resolver: str
) -> None:
    m = models["tiny"]
    op_resolver = (
        None
        if resolver == "default-xnnpack"
        else litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interp = _tflite(m.tflite_path, op_resolver)
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    assert (inp["name"], tuple(inp["shape"]), inp["dtype"]) == (
        m.input_name,
        m.input_shape,
        np.float32,
    )
    assert (out["name"], tuple(out["shape"])) == (m.output_name, (1, m.num_classes))
    y = _tflite_run(interp, _images(m.input_shape, 1)[0])
    assert y.shape == (1, m.num_classes) and np.isfinite(y).all()


@pytest.mark.parametrize("size", ["micro", "tiny", "small"])
def test_onnx_and_tflite_outputs_agree_on_same_input(
    models: dict[str, GeneratedModel], size: str
) -> None:
    m = models[size]
    sess = _ort_session(m.onnx_path)
    interps = [
        _tflite(m.tflite_path),
        _tflite(m.tflite_path, litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
    ]
    for x in _images(m.input_shape, 6):
        (ref,) = sess.run(None, {m.input_name: x})
        scale = max(1.0, float(np.abs(ref).max()))
        for interp in interps:
            np.testing.assert_allclose(_tflite_run(interp, x), ref, rtol=0, atol=REL_TOL * scale)


def test_logits_depend_on_the_input(models: dict[str, GeneratedModel]) -> None:
    m = models["tiny"]
    sess = _ort_session(m.onnx_path)
    logits = np.concatenate(
        [sess.run(None, {m.input_name: x})[0] for x in _images(m.input_shape, 16)]
    )
    assert logits.std(axis=0).min() > 1e-2  # every class's logit moves with the input
    assert len(set(logits.argmax(axis=1).tolist())) >= 3  # and the winning class changes


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    def digests(sub: str, seed: int) -> tuple[str, str]:
        m = generate_cnn(tmp_path / sub, size="tiny", seed=seed)
        return tuple(  # type: ignore[return-value]
            hashlib.sha256(p.read_bytes()).hexdigest() for p in (m.onnx_path, m.tflite_path)
        )

    first, again, other = digests("a", 7), digests("b", 7), digests("c", 8)
    assert first == again
    assert first[0] != other[0] and first[1] != other[1]


def test_slowdown_keeps_outputs_and_its_convs_survive_ort_optimization(
    models: dict[str, GeneratedModel], tmp_path: Path
) -> None:
    base, slow = models["tiny"], models["tiny-slow2"]
    assert slow.onnx_path.name == "cnn-tiny-slow2.onnx"

    def conv_count(m: GeneratedModel, tag: str) -> tuple[int, ort.InferenceSession]:
        opt = tmp_path / f"{tag}.opt.onnx"
        sess = _ort_session(m.onnx_path, opt)
        ops = Counter(n.op_type for n in onnx.load(str(opt)).graph.node)
        return ops["Conv"] + ops["FusedConv"], sess

    base_convs, base_sess = conv_count(base, "base")
    slow_convs, slow_sess = conv_count(slow, "slow")
    assert slow_convs >= base_convs + 2 * 2  # two cancelling convs per step, none folded away

    tfl_base, tfl_slow = _tflite(base.tflite_path), _tflite(slow.tflite_path)
    for x in _images(base.input_shape, 4):
        (ref,) = base_sess.run(None, {base.input_name: x})
        np.testing.assert_allclose(slow_sess.run(None, {base.input_name: x})[0], ref, atol=1e-5)
        np.testing.assert_allclose(
            _tflite_run(tfl_slow, x), _tflite_run(tfl_base, x), rtol=0, atol=1e-5
        )


def test_dynamic_batch_makes_batch_dim_symbolic(tmp_path: Path) -> None:
    m = generate_cnn(tmp_path, size="tiny", dynamic_batch=True)
    assert m.onnx_path.name == "cnn-tiny-dyn.onnx" and m.input_shape == (1, 3, 16, 16)
    dim0 = onnx.load(str(m.onnx_path)).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param == "batch" and not dim0.HasField("dim_value")
    x = np.concatenate(_images(m.input_shape, 3))
    (y,) = _ort_session(m.onnx_path).run(None, {m.input_name: x})
    assert y.shape == (3, m.num_classes)
    interp = litert.Interpreter(model_path=str(m.tflite_path))
    assert interp.get_input_details()[0]["shape_signature"][0] == -1


def test_bad_arguments_raise_a_controller_error(tmp_path: Path) -> None:
    with pytest.raises(ModelGenError, match="unknown model size 'huge'.*small, tiny"):
        generate_cnn(tmp_path, size="huge")
    with pytest.raises(ControllerError, match="slowdown must be a non-negative integer"):
        generate_cnn(tmp_path, size="tiny", slowdown=-1)
    with pytest.raises(ModelGenError, match="plain file name"):
        generate_cnn(tmp_path, size="tiny", name="../escape")
    assert not list(tmp_path.iterdir())


def test_cli_writes_both_files_and_prints_their_digests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main([str(tmp_path), "--size", "tiny", "--slowdown", "1", "--name", "m"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for line, suffix in zip(lines, [".onnx", ".tflite"], strict=True):
        digest, path = line.split("  ")
        assert path == str(tmp_path / f"m{suffix}")
        assert digest == hashlib.sha256(Path(path).read_bytes()).hexdigest()
