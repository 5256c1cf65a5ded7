"""A model's dataset: folders of arrays or images, labels, and every way they can be wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rigbench.controller.accuracy.dataset import DatasetSpec, Preprocessing, load_dataset
from rigbench.controller.accuracy.task import load_metric, score
from rigbench.controller.variants.signature import Signature, TensorInfo
from rigbench.errors import DatasetError

NCHW = Signature("onnx", (TensorInfo("input", "float32", (1, 3, 8, 8)),), ())
NHWC = Signature("tflite", (TensorInfo("img", "float32", (1, 8, 8, 3)),), ())


def _png(path: Path, value: int, size: tuple[int, int] = (16, 12)) -> None:
    Image.new("RGB", size, (value, value // 2, 255 - value)).save(path)


def test_images_are_resized_normalized_and_laid_out_as_the_input_wants(tmp_path) -> None:
    _png(tmp_path / "a.png", 200)
    pre = Preprocessing(scale=1 / 255, mean=(0.5,), std=(0.25,))
    (x,) = load_dataset(DatasetSpec(tmp_path, preprocess=pre), NCHW).samples
    assert x["input"].shape == (1, 3, 8, 8) and x["input"].dtype == np.float32
    expected = (np.array([200, 100, 55]) / 255 - 0.5) / 0.25
    assert np.allclose(x["input"][0, :, 4, 4], expected, atol=1e-5)
    (y,) = load_dataset(DatasetSpec(tmp_path, preprocess=pre), NHWC).samples
    assert y["img"].shape == (1, 8, 8, 3)
    assert np.allclose(y["img"][0, 4, 4], expected, atol=1e-5)


def test_samples_follow_file_name_order_with_labels_per_line(tmp_path) -> None:
    for i, name in enumerate(["b.npy", "a.npy", "c.npy"]):
        np.save(tmp_path / name, np.full((1, 3, 8, 8), i, np.float32))
    (tmp_path / "labels.txt").write_text("7\n8\n9\n")
    ds = load_dataset(DatasetSpec(tmp_path, labels=tmp_path / "labels.txt"), NCHW)
    assert ds.names == ["a.npy", "b.npy", "c.npy"] and ds.labels == [7, 8, 9]
    assert [float(s["input"].flat[0]) for s in ds.samples] == [1.0, 0.0, 2.0]


def test_labels_by_file_name(tmp_path) -> None:
    for name in ("x.npy", "y.npy"):
        np.save(tmp_path / name, np.zeros((1, 3, 8, 8), np.float32))
    labels = tmp_path / "labels.csv"
    labels.write_text("y.npy,3\nx.npy,1\n")
    assert load_dataset(DatasetSpec(tmp_path, labels=labels), NCHW).labels == [1, 3]


# --- hostile datasets: one line each, naming the file ---------------------------------------


def test_an_empty_folder(tmp_path) -> None:
    with pytest.raises(DatasetError, match=r"is empty: no \.npy/\.npz or image"):
        load_dataset(DatasetSpec(tmp_path), NCHW)


def test_a_corrupt_image(tmp_path) -> None:
    _png(tmp_path / "ok.png", 10)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DatasetError, match=r"cannot read image broken\.png"):
        load_dataset(DatasetSpec(tmp_path), NCHW)


def test_an_array_of_the_wrong_shape(tmp_path) -> None:
    np.save(tmp_path / "s0.npy", np.zeros((1, 3, 8, 8), np.float32))
    np.save(tmp_path / "s1.npy", np.zeros((1, 3, 9, 8), np.float32))
    with pytest.raises(DatasetError) as e:
        load_dataset(DatasetSpec(tmp_path), NCHW)
    assert "s1.npy of shape [1, 3, 9, 8]" in str(e.value) and "\n" not in str(e.value)


def test_labels_for_fewer_samples(tmp_path) -> None:
    for i in range(3):
        np.save(tmp_path / f"{i}.npy", np.zeros((1, 3, 8, 8), np.float32))
    (tmp_path / "labels.txt").write_text("1\n2\n")
    with pytest.raises(DatasetError, match=r"has 2 label\(s\) for 3 samples"):
        load_dataset(DatasetSpec(tmp_path, labels=tmp_path / "labels.txt"), NCHW)


def test_a_pickled_array_is_refused_not_unpickled(tmp_path) -> None:
    np.save(tmp_path / "evil.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match=r"evil\.npy holds Python objects \(a pickle\)"):
        load_dataset(DatasetSpec(tmp_path), NCHW)


def test_a_model_with_several_inputs_must_say_which_one_images_feed(tmp_path) -> None:
    _png(tmp_path / "a.png", 1)
    two = Signature("onnx", (*NCHW.inputs, TensorInfo("mask", "float32", (1, 8))), ())
    with pytest.raises(DatasetError, match="say which one the images feed with `input:`"):
        load_dataset(DatasetSpec(tmp_path), two)


def test_inputs_the_dataset_does_not_feed_are_generated_like_reference_inputs(tmp_path) -> None:
    _png(tmp_path / "a.png", 1)
    two = Signature("onnx", (*NCHW.inputs, TensorInfo("ids", "int64", (1, 5))), ())
    (s,) = load_dataset(DatasetSpec(tmp_path, input="input"), two, ranges={"ids": (3, 3)}).samples
    assert s["ids"].dtype == np.int64 and (s["ids"] == 3).all()


# --- task scores ----------------------------------------------------------------------------


def test_top1_and_top5_against_labels() -> None:
    outs = [{"p": np.eye(10, dtype=np.float32)[i][None]} for i in range(4)]
    ts = score(outs, [0, 1, 9, 9], "p")
    assert ts.top1 == 0.5 and ts.top5 == 0.5 and ts.n_labelled == 4


def test_a_user_metric_from_a_file(tmp_path) -> None:
    (tmp_path / "m.py").write_text("def hits(outputs, labels):\n    return len(labels) / 10\n")
    fn = load_metric(f"{tmp_path / 'm.py'}:hits")
    assert score([{"y": np.zeros(1)}] * 3, [0, 0, 0], None, "m", fn).metric == pytest.approx(0.3)
    with pytest.raises(DatasetError, match="has no function 'nope'"):
        load_metric(f"{tmp_path / 'm.py'}:nope")
