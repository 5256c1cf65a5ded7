"""Bounds on what a file, a command line or a client may ask for (rigbench/limits.py).

Each limit is refused with its value and its reason; YAML aliases cannot expand past a
bound; an input's size is known from shape x dtype before anything is allocated; an .npz is
never unpickled. The hostile files against every command are in test_hostile_inputs.py.
"""

from __future__ import annotations

import io
import math
import pickle
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from rigbench import limits
from rigbench.agent.inputs import build_inputs
from rigbench.agent.jobs import (
    InputOverride,
    JobFailure,
    JobResult,
    JobSpec,
    MeasurementConfig,
    RuntimeConfig,
    SoakConfig,
    TelemetryConfig,
)
from rigbench.agent.npzfile import array_headers, read_npz
from rigbench.agent.runtimes.base import TensorSpec
from rigbench.controller.cli import app
from rigbench.controller.client import sha256_file
from rigbench.controller.inventory import load_inventory
from rigbench.controller.plan import load_plan
from rigbench.controller.store import Store
from rigbench.controller.variants.signature import Signature, TensorInfo, synthesize
from rigbench.controller.yamlfile import load_yaml
from rigbench.errors import (
    ConfigError,
    InputSpecError,
    JobSpecError,
    PlanError,
    RigbenchError,
    UsageError,
)
from tests.builders.models import huge_input_onnx
from tests.conftest import client_for, run


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


PLAN = """
name: p
models:
  - name: m
    generate: {size: micro}
    accuracy:
      samples: 8
runtimes:
  - {name: ort, runtime: onnxruntime}
"""

# --- the Limit type ---------------------------------------------------------------------------


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300))
def test_a_finite_value_is_refused_exactly_when_it_is_above_the_limit(value: float) -> None:
    limit = limits.Limit(1000.0, "because")
    problem = limit.problem(value)
    if value > 1000:
        assert problem is not None and "above the limit of 1000 (because)" in problem
    else:
        assert problem is None


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_non_finite_value_is_never_within_a_limit(value: float) -> None:
    assert "is not a finite number" in (limits.DURATION_S.problem(value) or "")


def test_check_names_what_was_refused() -> None:
    with pytest.raises(UsageError, match=r"^--iterations: 0 is below the minimum of 1$"):
        limits.ITERATIONS.at_least(1).check("--iterations", 0, UsageError)


# --- YAML: aliases, encoding, size --------------------------------------------------------------


def bomb(levels: int, width: int = 9) -> str:
    lines = ["name: p", "l0: &l0 [" + ", ".join(["x"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses_the_bound(tmp_path: Path) -> None:
    p = write(tmp_path, "plan.yaml", bomb(9))  # 9^9 = 387 million values when expanded
    with pytest.raises(ConfigError) as e:
        load_yaml(p)
    msg = str(e.value)
    # 9^5 values already pass the bound of 200000: refused on the line of level 5.
    assert msg.startswith(f"{p}:7: expands to more than {limits.YAML_NODES} values")
    assert "alias bomb" in msg and "\n" not in msg


def test_a_recursive_alias_is_refused_naming_its_line(tmp_path: Path) -> None:
    p = write(tmp_path, "inventory.yaml", "devices:\n  - &d\n    name: a\n    more: [*d]\n")
    with pytest.raises(ConfigError, match=r"inventory\.yaml:4: recursive alias \*d"):
        load_inventory(p)


def test_nesting_deeper_than_the_bound_is_refused(tmp_path: Path) -> None:
    depth = limits.YAML_DEPTH + 1
    p = write(tmp_path, "plan.yaml", "name: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(ConfigError, match=f"nested deeper than {limits.YAML_DEPTH} levels"):
        load_yaml(p)


def test_aliases_within_the_bounds_still_expand_and_keep_their_lines(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "inventory.yaml",
        """
        x-cost: &cost {hourly_usd: 1.5}
        devices:
          - {name: a, class: x86, grpc: {address: "127.0.0.1:1"}, cost: *cost}
          - {name: b, class: x86, grpc: {address: "127.0.0.1:2"}, cost: *cost}
        """,
    )
    data, lines = load_yaml(p)
    assert data["devices"][1]["cost"] == {"hourly_usd": 1.5}
    assert lines[("devices", 1)] == 4


def test_a_wide_legitimate_inventory_is_within_the_bounds(tmp_path: Path) -> None:
    devices = "".join(
        f"  - {{name: d{i}, class: x86, grpc: {{address: '10.0.0.1:{i + 1}'}}, tags: [a, b]}}\n"
        for i in range(2000)
    )
    inv = load_inventory(write(tmp_path, "inventory.yaml", "devices:\n" + devices))
    assert len(inv.devices) == 2000


def test_a_non_utf8_file_names_the_line_and_the_byte_offset(tmp_path: Path) -> None:
    p = tmp_path / "plan.yaml"
    p.write_bytes(b"name: p\nmodels: caf\xe9\n")
    with pytest.raises(ConfigError) as e:
        load_plan(p)
    assert str(e.value) == (
        f"{p}:2: not UTF-8 text (byte 0xe9 at offset 19); save the file as UTF-8"
    )


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    p = tmp_path / "plan.yaml"
    p.write_bytes(b"\xef\xbb\xbf" + textwrap.dedent(PLAN).encode())
    assert load_plan(p).name == "p"


def test_a_file_larger_than_a_config_can_be_is_refused_before_parsing(tmp_path: Path) -> None:
    p = tmp_path / "inventory.yaml"
    p.write_bytes(b"# " + b"x" * limits.CONFIG_FILE_BYTES + b"\n")
    with pytest.raises(ConfigError, match=r"larger than the limit of 4 MiB"):
        load_inventory(p)


def test_an_integer_of_thousands_of_digits_is_one_line(tmp_path: Path) -> None:
    p = write(tmp_path, "plan.yaml", textwrap.dedent(PLAN) + "retries: " + "9" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"plan\.yaml:\d+: retries: .*digits"):
        load_plan(p)


# --- numbers in plans and inventories -----------------------------------------------------------


def test_too_many_accuracy_samples_name_the_limit_and_why(tmp_path: Path) -> None:
    p = write(tmp_path, "plan.yaml", PLAN.replace("samples: 8", "samples: 1000000000"))
    with pytest.raises(PlanError) as e:
        load_plan(p)
    assert str(e.value) == (
        f"{p}:6: models[0].accuracy.samples: 1000000000 is above the limit of 10000 "
        f"({limits.ACCURACY_SAMPLES.why})"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_iterations", "100000000000", "100000000000 is above the limit of 10000000"),
        ("max_duration_s", ".inf", "inf is not a finite number"),
        ("min_duration_s", ".nan", "nan is not a finite number"),
        ("warmup_s", "1e400", "1e400 is not a finite number"),
        ("seed", "-1", "-1 is below the minimum of 0"),
    ],
)
def test_measurement_numbers_are_bounded(tmp_path: Path, field: str, value: str, message: str):
    p = write(tmp_path, "plan.yaml", textwrap.dedent(PLAN) + f"measurement:\n  {field}: {value}\n")
    with pytest.raises(PlanError, match=rf"plan\.yaml:10: measurement\.{field}: {message}"):
        load_plan(p)


def test_an_infinite_connect_timeout_is_refused(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "inventory.yaml",
        """
        devices:
          - name: a
            class: local
            connect_timeout_s: 1e400
        """,
    )
    with pytest.raises(ConfigError) as e:
        load_inventory(p)
    assert str(e.value) == f"{p}:4: devices[0].connect_timeout_s: 1e400 is not a finite number"


def test_a_timeout_longer_than_a_week_is_refused_with_the_reason(tmp_path: Path) -> None:
    p = write(
        tmp_path, "inventory.yaml", "devices:\n  - {name: a, class: local, job_timeout_s: 1e9}\n"
    )
    with pytest.raises(ConfigError, match=r"is above the limit of 604800 \(a wait longer"):
        load_inventory(p)


# --- input sizes ------------------------------------------------------------------------------


def test_an_8_tib_input_is_refused_before_anything_is_allocated() -> None:
    spec = TensorSpec("x", "float32", (1024, 1024, 1024, 2048))
    with pytest.raises(InputSpecError) as e:
        build_inputs([spec])
    assert str(e.value) == (
        "input 'x' (float32 1024x1024x1024x2048) needs 8 TiB, above the limit of 4 GiB per "
        "input; give a smaller shape"
    )


def test_an_input_larger_than_the_memory_available_is_refused() -> None:
    with pytest.raises(InputSpecError, match=r"more than the 1 GiB of memory this machine has"):
        limits.check_input_size("x", (512, 1024, 1024), np.dtype("float32"), available=1 << 30)
    assert limits.check_input_size("x", (1, 3, 8, 8), np.dtype("float32"), available=1 << 30) == (
        768
    )


def test_available_memory_is_read_from_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  16000000 kB\nMemAvailable:   2048 kB\n")
    assert limits.available_memory_bytes(meminfo) == 2048 * 1024
    assert limits.available_memory_bytes(tmp_path / "absent") is None


def test_reference_samples_are_bounded_together() -> None:
    sig = Signature("onnx", (TensorInfo("x", "float32", (1, 3, 512, 512)),), ())
    with pytest.raises(InputSpecError, match=r"10000 samples of 3 MiB each need 29.3 GiB"):
        synthesize(sig, 10_000, seed=0)


# --- .npz files -------------------------------------------------------------------------------


class _Tripwire:
    """Unpickling this creates a file: proof that rigbench never unpickles."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (self.path, "unpickled"))  # type: ignore[return-value]


def test_a_pickled_npz_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    trip = tmp_path / "tripwire"
    arr = np.empty(1, dtype=object)
    arr[0] = _Tripwire(trip)
    p = tmp_path / "inputs.npz"
    np.savez(p, x=arr)
    assert pickle.dumps(_Tripwire(trip))  # the payload is a real pickle
    with pytest.raises(InputSpecError, match=r"array 'x' holds Python objects \(a pickle\)"):
        read_npz(p, "inputs.npz")
    assert not trip.exists()


def test_an_npz_declaring_more_than_the_limit_is_refused_from_its_headers() -> None:
    buf = io.BytesIO()
    np.savez(buf, a=np.zeros(1000, np.float32), b=np.zeros(1000, np.float32))
    with pytest.raises(InputSpecError, match=r"array 'b' \(float32 1000\) brings the arrays"):
        array_headers(buf.getvalue(), "x.npz", max_bytes=6000)


def test_a_good_npz_reads_back() -> None:
    buf = io.BytesIO()
    np.savez(buf, a=np.arange(6, dtype=np.int64).reshape(2, 3))
    out = read_npz(buf.getvalue(), "x.npz")
    assert out["a"].tolist() == [[0, 1, 2], [3, 4, 5]]


# --- the agent's own check of a job (JobSpec.check, at its gRPC edge) ----------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            JobSpec("j", "a", "onnx", measurement=MeasurementConfig(max_iterations=2**31 - 1)),
            "measurement.max_iterations: 2147483647 is above the limit of 10000000",
        ),
        (
            JobSpec("j", "a", "onnx", measurement=MeasurementConfig(warmup_s=math.inf)),
            "measurement.warmup_s = inf must be finite",
        ),
        (
            JobSpec("j", "a", "onnx", soak=SoakConfig(duration_s=math.nan)),
            "soak.duration_s = nan must be finite",
        ),
        (
            JobSpec("j", "a", "onnx", inputs=(InputOverride("x", shape=(1, 2**40)),)),
            "input 'x' dimension 1: 1099511627776 is above the limit of 2147483648",
        ),
        (
            JobSpec("j", "a", "onnx", soak=SoakConfig(duration_s=3 * 86_400)),
            r"soak.duration_s: 259200 is above the limit of 86400 \(one job holds the device",
        ),
    ],
)
def test_the_agent_refuses_a_job_out_of_bounds(spec: JobSpec, message: str) -> None:
    with pytest.raises(JobSpecError, match=message):
        spec.check()


def test_the_agent_accepts_the_default_job() -> None:
    JobSpec("j", "a", "onnx").check()


# --- end to end: a real agent ------------------------------------------------------------------


@pytest.mark.e2e
def test_a_real_agent_refuses_a_job_out_of_bounds_and_serves_the_next(agent, tiny) -> None:
    files = {sha256_file(tiny.onnx_path): tiny.onnx_path}

    def job(job_id: str, m: MeasurementConfig) -> JobSpec:
        return JobSpec(
            job_id, sha256_file(tiny.onnx_path), "onnx",
            runtime=RuntimeConfig(intra_op_threads=1), measurement=m,
            telemetry=TelemetryConfig(enabled=False),
        )  # fmt: skip

    async def go() -> JobResult | JobFailure:
        async with client_for(agent) as c:
            await c.ensure_artifacts(files)
            too_many = MeasurementConfig(max_iterations=20_000_000)
            with pytest.raises(RigbenchError, match="max_iterations: 20000000 is above the limit"):
                async for _ in c.run(job("bad", too_many), 60):
                    pass
            quick = MeasurementConfig(warmup_iterations=1, min_iterations=5, min_duration_s=0)
            events = [e async for e in c.run(job("good", quick), 120)]
            body = events[-1].body
            assert isinstance(body, (JobResult, JobFailure))
            return body

    assert isinstance(run(go()), JobResult)


@pytest.mark.e2e
def test_bench_of_a_model_declaring_an_8_tib_input_blames_the_input(tmp_path: Path, monkeypatch):
    """The agent refuses the input in one line, as the input's fault; nothing is allocated."""
    monkeypatch.chdir(tmp_path)
    model = huge_input_onnx(tmp_path / "huge.onnx")
    r = CliRunner().invoke(
        app, ["bench", str(model), "--store", "s.duckdb", "--work", "work", "-n", "5"]
    )
    assert r.exit_code != 0 and "Traceback" not in r.output
    (job,) = Store(tmp_path / "s.duckdb").query("SELECT error_kind, error_message FROM jobs")
    assert job["error_kind"] == "input"
    assert job["error_message"] == (
        "input 'x' (float32 1024x1024x1024x2048) needs 8 TiB, above the limit of 4 GiB per "
        "input; give a smaller shape"
    )
