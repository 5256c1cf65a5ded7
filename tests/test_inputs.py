"""Inputs built from a model's signature, the user's overrides and an optional .npz."""

from __future__ import annotations

import numpy as np
import pytest

from rigbench.agent.inputs import build_inputs, resolve_shape
from rigbench.agent.jobs import InputOverride
from rigbench.agent.runtimes.base import TensorSpec
from rigbench.errors import InputSpecError

IMAGE = TensorSpec("image", "float32", (1, 3, 8, 8))
DYNAMIC = TensorSpec("tokens", "int64", ("batch", None))
MASK = TensorSpec("mask", "bool", (2, 4))


def test_fixed_shape_is_taken_from_the_model() -> None:
    assert resolve_shape(IMAGE, None) == (1, 3, 8, 8)


def test_dynamic_dimension_without_override_names_input_and_dimension() -> None:
    with pytest.raises(InputSpecError) as e:
        resolve_shape(DYNAMIC, None)
    msg = str(e.value)
    assert "'tokens'" in msg
    assert "dimension 0 ('batch')" in msg
    assert "--input tokens=1x1" in msg


def test_unnamed_dynamic_dimension_is_reported_by_index() -> None:
    spec = TensorSpec("x", "float32", (1, None))
    with pytest.raises(InputSpecError, match=r"'x' dimension 1 is dynamic"):
        resolve_shape(spec, None)


def test_override_resolves_dynamic_dimensions() -> None:
    assert resolve_shape(DYNAMIC, InputOverride("tokens", shape=(2, 7))) == (2, 7)


def test_override_of_wrong_rank_is_refused() -> None:
    with pytest.raises(InputSpecError, match=r"rank 4 .* rank 3"):
        resolve_shape(IMAGE, InputOverride("image", shape=(1, 3, 8)))


def test_override_contradicting_a_fixed_dimension_is_refused() -> None:
    with pytest.raises(InputSpecError, match=r"dimension 1 is fixed to 3 .* gives 4"):
        resolve_shape(IMAGE, InputOverride("image", shape=(1, 4, 8, 8)))


def test_override_with_non_positive_dimension_is_refused() -> None:
    with pytest.raises(InputSpecError, match="must be positive"):
        resolve_shape(DYNAMIC, InputOverride("tokens", shape=(0, 5)))


def test_generated_inputs_have_the_model_dtypes_and_shapes() -> None:
    feeds = build_inputs([IMAGE, MASK], [])
    assert feeds["image"].dtype == np.float32 and feeds["image"].shape == (1, 3, 8, 8)
    assert feeds["mask"].dtype == np.bool_ and feeds["mask"].shape == (2, 4)


def test_generated_inputs_are_reproducible_from_the_seed() -> None:
    a = build_inputs([IMAGE], seed=7)["image"]
    b = build_inputs([IMAGE], seed=7)["image"]
    c = build_inputs([IMAGE], seed=8)["image"]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_generated_integer_inputs_are_small_and_non_negative() -> None:
    feeds = build_inputs([DYNAMIC], [InputOverride("tokens", shape=(4, 64))])
    assert feeds["tokens"].dtype == np.int64
    assert feeds["tokens"].min() >= 0 and feeds["tokens"].max() < 10


def test_quantized_inputs_span_the_integer_range() -> None:
    feeds = build_inputs([TensorSpec("q", "int8", (4096,), quantization=(0.5, 3))])
    assert feeds["q"].min() < 0 and feeds["q"].max() > 10


def test_value_override_fills_the_input() -> None:
    feeds = build_inputs([DYNAMIC], [InputOverride("tokens", shape=(1, 3), value=5)])
    assert feeds["tokens"].tolist() == [[5, 5, 5]]
    assert feeds["tokens"].dtype == np.int64


def test_override_of_unknown_input_lists_the_model_inputs() -> None:
    with pytest.raises(InputSpecError, match=r"unknown input 'imgae'.*image, mask"):
        build_inputs([IMAGE, MASK], [InputOverride("imgae", shape=(1, 3, 8, 8))])


def test_override_with_wrong_dtype_is_refused() -> None:
    with pytest.raises(InputSpecError, match=r"'image' is float32, but the override is int64"):
        build_inputs([IMAGE], [InputOverride("image", dtype="int64")])


def test_npz_array_is_used_as_given() -> None:
    arr = np.arange(8, dtype=np.int64).reshape(1, 8)
    feeds = build_inputs([DYNAMIC], arrays={"tokens": arr})
    assert np.array_equal(feeds["tokens"], arr)


def test_npz_array_with_wrong_dtype_is_refused() -> None:
    with pytest.raises(InputSpecError, match="the .npz array is float64"):
        build_inputs([IMAGE], arrays={"image": np.zeros((1, 3, 8, 8))})


def test_npz_array_with_wrong_shape_is_refused() -> None:
    with pytest.raises(InputSpecError, match="dimension 2 is fixed to 8"):
        build_inputs([IMAGE], arrays={"image": np.zeros((1, 3, 4, 4), dtype=np.float32)})


def test_npz_array_that_is_not_an_input_is_refused() -> None:
    with pytest.raises(InputSpecError, match=r"array 'extra', not an input"):
        build_inputs([IMAGE], arrays={"extra": np.zeros(1)})


def test_inputs_missing_from_the_npz_are_generated() -> None:
    arr = np.ones((2, 4), dtype=bool)
    feeds = build_inputs([IMAGE, MASK], arrays={"mask": arr})
    assert np.array_equal(feeds["mask"], arr)
    assert feeds["image"].shape == (1, 3, 8, 8)


def test_unsupported_dtype_is_refused_with_its_name() -> None:
    with pytest.raises(InputSpecError, match="complex64"):
        build_inputs([TensorSpec("z", "complex64", (2,))])
