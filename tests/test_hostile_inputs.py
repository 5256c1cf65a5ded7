"""Every command against hostile and careless inputs: one line, exit 2, never a traceback.

The commands and their parameters are read from the typer app itself, so a command added
later is covered without touching this file: each file it takes (plan, inventory, store,
model, .npz, wheel, output folder) is swapped in turn for each hostile file of that kind, and
each number for inf, nan, 1e400 and an integer beyond 64 bits. A path parameter of a kind
this file does not know fails ``test_every_path_parameter_has_a_known_kind``: add its kind to
``KIND_OF`` (and hostile files for a new kind) rather than leaving it untested.

Most cases run in-process (CliRunner); the alias bombs run in a child process under a
generous memory and CPU limit (``resource.setrlimit``), so an unbounded expansion shows as a
killed child, not as a slow test; ``agent serve`` runs as a child because a value it
wrongly accepted would make it serve forever.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer.main
from typer.testing import CliRunner

from rigbench.controller.cli import app, load_all
from rigbench.controller.modelgen import generate_cnn
from rigbench.controller.store import Store
from rigbench.controller.store.db import JobRecord
from tests.builders.store import store_result

# --- the commands, from the app ----------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    opts: tuple[str, ...]
    annotation: Any
    is_argument: bool
    required: bool
    multiple: bool

    @property
    def flag(self) -> str:
        return max(self.opts, key=len)

    @property
    def is_path(self) -> bool:
        return self.annotation is Path

    @property
    def number(self) -> type | None:
        return self.annotation if self.annotation in (int, float) else None


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    params: tuple[Param, ...]

    @property
    def name(self) -> str:
        return " ".join(self.path)


def _walk(cmd: Any, path: tuple[str, ...]) -> Iterator[Command]:
    if hasattr(cmd, "commands"):
        for name, sub in sorted(cmd.commands.items()):
            yield from _walk(sub, (*path, name))
        return
    params = tuple(
        Param(
            p.name,
            tuple(p.opts),
            p.type_descriptor.annotation,
            type(p).__name__ == "TyperArgument",
            bool(p.required),
            bool(p.multiple),
        )
        for p in cmd.params
    )
    yield Command(path, params)


load_all()  # commands load lazily: walk all of them
COMMANDS = list(_walk(typer.main.get_command(app), ()))
SERVE = ("agent", "serve")  # argparse behind typer: its options are not typer's

# What each path parameter is, by name. Outputs are written, everything else is read.
KIND_OF = {
    "plan_file": "plan",
    "plan": "plan",  # compare --plan
    "inventory": "inventory",
    "store": "store",
    "model": "model",
    "inputs": "npz",
    "calibration": "npz",
    "wheel": "wheel",
    "work": "folder",
    "out": "folder",
    "out_dir": "folder",
    "output": "output",
    "parquet": "folder",
    "html": "output",
    "markdown": "output",
    "dest": "output",
}

# Values for parameters that are not files, given whenever a command has them (required
# ones must be listed): only there so the command gets as far as the hostile input.
BENIGN_VALUES = {
    "job_id": "r1.j0",
    "device": "pi",
    "qps": "10",
    "latency_ms": "10",
    "variant": "int8-static",  # compile: the variant that reads a calibration file
    "query": "SELECT count(*) FROM runs",
    "keep_days": "30",  # prune: something to keep, so that it goes on to open the store
    "a": "run:r1",  # compare: a stored job, so nothing is read before the hostile input
    "b": "run:r1",
    "target": "r1",  # baseline accept
    "why": "expected",
}
# Flags given whenever a command has them, unless the hostile parameter excludes them.
BENIGN_FLAGS = {
    "as_json": ("html", "markdown"),  # report: one format
    "dry_run": (),  # prune: never rewrite a store under test
}


def test_the_app_has_commands_to_try() -> None:
    names = {c.name for c in COMMANDS}
    assert {"run", "bench", "results", "nightly", "agent install", "model generate"} <= names


def test_every_path_parameter_has_a_known_kind() -> None:
    unknown = [
        f"{c.name} {p.flag}"
        for c in COMMANDS
        for p in c.params
        if p.is_path and p.name not in KIND_OF
    ]
    assert unknown == [], "add these parameters to KIND_OF in tests/test_hostile_inputs.py"


def test_every_required_parameter_can_be_given() -> None:
    missing = [
        f"{c.name} {p.flag}"
        for c in COMMANDS
        for p in c.params
        if p.required and not p.is_path and p.name not in BENIGN_VALUES
    ]
    assert missing == [], "add a benign value to BENIGN_VALUES in tests/test_hostile_inputs.py"


# --- the hostile files -------------------------------------------------------------------------

BOMB = """\
name: p
a: &a [x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
devices: [*h]
"""


def _yaml_hostiles(d: Path) -> dict[str, Path]:
    """Files every YAML reader must refuse in one line (any kind: plan or inventory)."""
    out = {}

    def put(name: str, data: bytes | str) -> None:
        p = d / name
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        out[name] = p

    put("bomb.yaml", BOMB)
    put("recursive.yaml", "name: &x [a, *x]\n")
    put("latin1.yaml", "name: caf\xe9\n".encode("latin-1"))
    put("utf16.yaml", "name: p\n".encode("utf-16"))
    put("control.yaml", b"name: p\x00\n")
    put("deep.yaml", "name: " + "[" * 5000 + "]" * 5000 + "\n")
    put("bigint.yaml", "name: p\nretries: " + "9" * 5000 + "\n")
    put("complex-key.yaml", "? [a, b]\n: 1\n")
    put("not-a-mapping.yaml", "- just\n- a list\n")
    put("oversize.yaml", "# " + "x" * (5 << 20) + "\n")
    (d / "folder.yaml").mkdir()
    out["folder.yaml"] = d / "folder.yaml"
    out["missing.yaml"] = d / "missing.yaml"
    return out


def _store_with_a_run(path: Path, iterations: int = 2000) -> Path:
    store = Store(path)
    store.begin_run("r1", "run", "p", "{}", "d")
    for i in range(3):
        job_id = f"r1.j{i}"
        store.record_jobs(
            [JobRecord(job_id, "r1", f"local/m/fp32/ort/s{i}", "local", "m", "fp32", "sha",
                       "ort", "onnxruntime", "s", "{}")]
        )  # fmt: skip
        row = {
            "job_id": job_id, "run_id": "r1", "device": "local", "model": "m", "variant": "fp32",
            "runtime": "onnxruntime", "runtime_name": "ort", "scenario": "s",
            "iterations": iterations, "created_at": datetime(2026, 1, 1), "p50_ns": 1000,
            "p90_ns": 1100, "p99_ns": 1200, "mean_ns": 1000.0,
        }  # fmt: skip
        lat = np.random.default_rng(i).integers(900, 2000, iterations)
        tel = [(j * 10_000_000, "cpu", "temp_mc", 40_000.0) for j in range(200)]
        store_result(store, row, lat, tel, [], [{"output": "*", "max_abs_err": 0.0}])
    store.finish_run("r1", "finished")
    return path


def _truncated_store(d: Path) -> Path:
    """A real store with results, cut in half as a full disk or a killed copy leaves it."""
    full = _store_with_a_run(d / "whole.duckdb", iterations=200_000)
    data = full.read_bytes()
    cut = d / "truncated.duckdb"
    cut.write_bytes(data[: len(data) // 2])
    full.unlink()
    return cut


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _declared_npz(shape: tuple[int, ...]) -> bytes:
    """An .npz whose header declares ``shape`` (float32) and holds no data."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z, z.open("input.npy", "w") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": shape}
        )
    return buf.getvalue()


@dataclass
class Files:
    root: Path
    benign: dict[str, Path]
    hostile: dict[str, dict[str, Path]]  # kind -> name -> path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = tmp_path_factory.mktemp("hostile")
    good = root / "good"
    good.mkdir()
    micro = generate_cnn(good, size="micro")
    benign_plan = good / "plan.yaml"
    benign_plan.write_text(
        textwrap.dedent(
            f"""
            name: p
            models:
              - name: m
                path: {micro.onnx_path}
                accuracy: {{samples: 0}}
            runtimes:
              - {{name: ort, runtime: onnxruntime}}
            devices: {{names: [local]}}
            """
        )
    )
    benign_inventory = good / "inventory.yaml"
    benign_inventory.write_text(
        textwrap.dedent(
            """
            devices:
              - {name: local, class: local}
              - name: pi
                class: rpi
                ssh: {host: 127.0.0.1, port: 1, user: nobody}
            """
        )
    )
    (good / "inputs.npz").write_bytes(
        _npz({micro.input_name: np.zeros(micro.input_shape, np.float32)})
    )
    benign = {
        "plan": benign_plan,
        "inventory": benign_inventory,
        "store": _store_with_a_run(good / "store.duckdb"),
        "model": micro.onnx_path,
        "npz": good / "inputs.npz",
        "wheel": _fake_wheel(good / "rigbench-0.1.0-py3-none-any.whl"),
        "folder": root / "out" / "folder",
        "output": root / "out" / "report.out",
    }

    bad = root / "bad"
    bad.mkdir()
    a_file = bad / "a-file"
    a_file.write_text("not a folder\n")
    onnx_bytes = micro.onnx_path.read_bytes()
    tflite_bytes = micro.tflite_path.read_bytes()

    def put(name: str, data: bytes) -> Path:
        p = bad / name
        p.write_bytes(data)
        return p

    yaml_files = _yaml_hostiles(bad)
    samples_plan = benign_plan.read_text().replace("{samples: 0}", "{samples: 1000000000}")
    inf_inventory = benign_inventory.read_text().replace(
        "{name: local, class: local}", "{name: local, class: local, connect_timeout_s: 1e400}"
    )
    folder = bad / "a-folder"
    folder.mkdir()
    hostile = {
        "plan": {**yaml_files, "samples.yaml": put("samples.yaml", samples_plan.encode())},
        "inventory": {**yaml_files, "inf.yaml": put("inf.yaml", inf_inventory.encode())},
        "store": {
            "garbage.duckdb": put("garbage.duckdb", b"this is not a database\n" * 100),
            "empty.duckdb": put("empty.duckdb", b""),
            "truncated.duckdb": _truncated_store(bad),
            "a-folder": folder,
            "under-a-file": a_file / "store.duckdb",
        },
        "model": {
            "empty.onnx": put("empty.onnx", b""),
            "text.onnx": put("text.onnx", b"hello, I am not a model\n"),
            "truncated.onnx": put("truncated.onnx", onnx_bytes[: len(onnx_bytes) // 2]),
            "truncated.tflite": put("truncated.tflite", tflite_bytes[: len(tflite_bytes) // 2]),
            "a-folder": folder,
            "missing.onnx": bad / "missing.onnx",
        },
        "npz": {
            "pickled.npz": put("pickled.npz", _npz({"x": np.array([{"a": 1}], dtype=object)})),
            "truncated.npz": put("truncated.npz", _npz({"x": np.zeros(1000)})[:300]),
            "garbage.npz": put("garbage.npz", b"not a zip\n"),
            "declares-4tib.npz": put("declares-4tib.npz", _declared_npz((1 << 40,))),
            "not-an-array.npz": put("not-an-array.npz", _zip({"notes.txt": b"hello"})),
            "a-folder": folder,
        },
        "wheel": {
            "garbage.whl": put("garbage.whl", b"not a wheel\n"),
            "bomb.whl": put("bomb.whl", _zip_bomb()),
            "a-folder": folder,
        },
        "folder": {"under-a-file": a_file / "out"},
        "output": {"under-a-file": a_file / "report.out"},
    }
    return Files(root, benign, hostile)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _fake_wheel(path: Path) -> Path:
    """Enough of a rigbench wheel for ``inspect_wheel``; never installed anywhere."""
    meta = b"Name: rigbench\nVersion: 0.1.0\n"
    path.write_bytes(_zip({"rigbench-0.1.0.dist-info/METADATA": meta}))
    return path


def _zip_bomb() -> bytes:
    """A wheel whose member claims to unpack to ~4 GiB (its central directory says so)."""
    data = bytearray(_zip({"rigbench-0.1.0.dist-info/METADATA": b"Name: rigbench\n",
                           "payload.bin": b"0123456789"}))  # fmt: skip
    entry = data.rfind(b"PK\x01\x02")  # the last central directory entry: payload.bin
    data[entry + 24 : entry + 28] = (0xFFFF_FFF0).to_bytes(4, "little")  # uncompressed size
    return bytes(data)


# --- running a command with one hostile input ---------------------------------------------------


@dataclass(frozen=True)
class Case:
    command: Command
    param: Param
    value: str
    label: str  # names the hostile input: a file's name or the option
    expect_in_message: str


def _cases() -> Iterator[Case]:
    for c in COMMANDS:
        if c.path == SERVE:
            continue
        for p in c.params:
            if p.is_path and p.name in KIND_OF:
                yield Case(c, p, f"@{KIND_OF[p.name]}", p.flag, "")
            elif p.number is not None:
                values = ["nan", "inf", "-inf", "1e400"] if p.number is float else ["1e400"]
                if p.number is int:
                    values.append(str(10**30))
                for v in values:
                    yield Case(c, p, v, f"{p.flag}={v}", p.flag.lstrip("-"))


def _args(case: Case, files: Files, hostile_path: Path | None) -> list[str]:
    args = list(case.command.path)
    for p in case.command.params:
        if p is case.param:
            value = str(hostile_path) if hostile_path is not None else case.value
        elif p.is_path and (KIND_OF.get(p.name, "output") != "output" or p.required):
            value = str(files.benign[KIND_OF.get(p.name, "output")])
            if KIND_OF[p.name] == "folder":
                name = f"{case.command.name.replace(' ', '-')}-{p.name}"
                value = str(Path(value).with_name(name))
        elif p.name in BENIGN_FLAGS and case.param.name not in BENIGN_FLAGS[p.name]:
            args.append(p.opts[0])
            continue
        elif p.name in BENIGN_VALUES:
            value = BENIGN_VALUES[p.name]
        else:
            continue
        args += [value] if p.is_argument else [p.opts[0], value]
    if case.command.path[:1] == ("agent",) and "--all" in _flags(case.command):
        args.append("--all")
    return args


def _flags(c: Command) -> set[str]:
    return {o for p in c.params for o in p.opts}


def _expanded() -> Iterator[Any]:
    """One pytest case per (command, hostile input): files are known once ``files`` exists."""
    for case in _cases():
        if case.value.startswith("@"):
            kind = case.value[1:]
            for name in HOSTILE_NAMES[kind]:
                yield pytest.param(case, name, id=f"{case.command.name} {case.label}={name}")
        else:
            yield pytest.param(case, None, id=f"{case.command.name} {case.label}")


HOSTILE_NAMES = {
    "plan": [
        "bomb.yaml", "recursive.yaml", "latin1.yaml", "utf16.yaml", "control.yaml",
        "deep.yaml", "bigint.yaml", "complex-key.yaml", "not-a-mapping.yaml", "oversize.yaml",
        "folder.yaml", "missing.yaml", "samples.yaml",
    ],
    "inventory": [
        "bomb.yaml", "recursive.yaml", "latin1.yaml", "utf16.yaml", "control.yaml",
        "deep.yaml", "complex-key.yaml", "not-a-mapping.yaml", "oversize.yaml", "folder.yaml",
        "missing.yaml", "inf.yaml",
    ],
    "store": ["garbage.duckdb", "empty.duckdb", "truncated.duckdb", "a-folder", "under-a-file"],
    "model": [
        "empty.onnx", "text.onnx", "truncated.onnx", "truncated.tflite", "a-folder",
        "missing.onnx",
    ],
    "npz": [
        "pickled.npz", "truncated.npz", "garbage.npz", "declares-4tib.npz", "not-an-array.npz",
        "a-folder",
    ],
    "wheel": ["garbage.whl", "bomb.whl", "a-folder"],
    "folder": ["under-a-file"],
    "output": ["under-a-file"],
}  # fmt: skip


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder: no ./inventory.yaml or .rigbench/ of the repository."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RIGBENCH_STORE", raising=False)
    monkeypatch.delenv("RIGBENCH_WORK", raising=False)
    return tmp_path


# A truncated store may still hold what a command asks for: then it may succeed (0). What is
# read from a cut file must never be a traceback.
MAY_SUCCEED = {("truncated.duckdb", c) for c in ("results", "runs", "sql", "prune")}
# ... or answer about what it holds: run r1 there is a plain run, which accept refuses.
MAY_ANSWER = {("truncated.duckdb", "baseline accept")}


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@pytest.mark.parametrize(("case", "hostile"), list(_expanded()))
def test_a_hostile_input_is_one_line_and_exit_2(
    case: Case, hostile: str | None, files: Files, in_tmp: Path, request: pytest.FixtureRequest
) -> None:
    path = files.hostile[case.value[1:]][hostile] if hostile is not None else None
    args = _args(case, files, path)
    if hostile in BOMBS:  # all bomb cases ran in one child under a memory and CPU limit
        outcome = request.getfixturevalue("bombs")[" ".join(args)]
    else:
        res = CliRunner().invoke(app, args)
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            raise res.exception
        outcome = Outcome(res.exit_code, res.stdout, res.stderr)
    if hostile is not None and (hostile, case.command.name) in MAY_SUCCEED and outcome.code == 0:
        assert "Traceback" not in outcome.stdout + outcome.stderr
        return
    if hostile is not None and (hostile, case.command.name) in MAY_ANSWER:
        assert_one_clean_line(outcome, "error: ")
        return
    names = Path(hostile).name if hostile is not None else case.expect_in_message
    names = {"samples.yaml": "accuracy.samples", "inf.yaml": "connect_timeout_s"}.get(
        hostile or "", names
    )
    if hostile == "under-a-file":
        names = "a-file"
    assert_one_clean_line(outcome, names)


def assert_one_clean_line(outcome: Outcome, names: str) -> None:
    """Exit 2 and one ``error:`` line naming the input, last on stderr (progress may precede)."""
    assert "Traceback" not in outcome.stdout + outcome.stderr, outcome.stderr
    assert outcome.code == 2, outcome.stdout + outcome.stderr
    lines = outcome.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], outcome.stderr
    assert names in errors[0], f"the message should name {names!r}: {errors[0]}"


# --- children under a resource limit ----------------------------------------------------------

BOMBS = {"bomb.yaml"}
MEMORY_LIMIT = 3 << 30  # address space: the controller's imports take ~1 GiB of it
CPU_LIMIT_S = 60  # for every bomb case together; one unbounded expansion needs minutes

# Runs each argument list of stdin through the CLI in-process, in a child process that the
# test limits; prints one outcome per case as JSON.
CHILD = """
import contextlib, io, json, sys
mode, cases = json.load(sys.stdin)
out = []
for args in cases:
    if mode == "serve":
        from rigbench.agent.cli import main
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(args)
            except SystemExit as e:
                code = e.code
        out.append({"code": code, "stdout": "", "stderr": err.getvalue()})
    else:
        from typer.testing import CliRunner
        from rigbench.controller.cli import app
        r = CliRunner().invoke(app, args)
        crash = r.exception is not None and not isinstance(r.exception, SystemExit)
        out.append({"code": r.exit_code, "stdout": r.stdout,
                    "stderr": r.stderr + ("Traceback: " + repr(r.exception) if crash else "")})
json.dump(out, sys.stdout)
"""


def run_children(mode: str, cases: list[list[str]], cwd: Path) -> list[Outcome]:
    """Run ``cases`` in one child limited in memory and CPU time; killed means unbounded."""
    import json
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S))

    r = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps([mode, cases]),
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=10 * CPU_LIMIT_S,
        cwd=cwd,
    )
    how = signal.Signals(-r.returncode).name if r.returncode < 0 else f"exit {r.returncode}"
    assert r.returncode == 0, f"the child died ({how}): {r.stderr[-2000:]}"
    return [Outcome(**o) for o in json.loads(r.stdout)]


@pytest.fixture(scope="module")
def bombs(files: Files, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every command given an alias bomb, all in one limited child: args -> outcome."""
    cases = []
    for param in _expanded():
        case, hostile = param.values
        if hostile in BOMBS:
            cases.append(_args(case, files, files.hostile[case.value[1:]][hostile]))
    outcomes = run_children("app", cases, tmp_path_factory.mktemp("bombs"))
    return {" ".join(a): o for a, o in zip(cases, outcomes, strict=True)}


# --- agent serve ---------------------------------------------------------------------------------

SERVE_CASES = [
    (["--max-cache-mb", "inf"], "--max-cache-mb"),
    (["--max-cache-mb", "nan"], "--max-cache-mb"),
    (["--max-upload-mb", "1e30"], "--max-upload-mb"),
    (["--spool-max-mb", "-5"], "--spool-max-mb"),
    (["--spool-retention-days", "1e300"], "--spool-retention-days"),
    (["--port", "99999"], "--port"),
    (["--token-file", "@latin1.yaml"], "latin1.yaml"),
    (["--token-file", "@folder.yaml"], "folder.yaml"),
    (["--token-file", "@missing.yaml"], "missing.yaml"),
]


@pytest.fixture(scope="module")
def served(files: Files, tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    """``agent serve`` with each hostile option, in one child: one it accepted would serve."""
    home = tmp_path_factory.mktemp("serve")
    cases = [
        ["--port", "0", "--home", str(home / "home")]
        + [str(files.hostile["plan"][a[1:]]) if a.startswith("@") else a for a in args]
        for args, _ in SERVE_CASES
    ]
    return run_children("serve", cases, home)


@pytest.mark.parametrize("i", range(len(SERVE_CASES)), ids=[" ".join(a) for a, _ in SERVE_CASES])
def test_agent_serve_refuses_a_hostile_option_in_one_line(i: int, served: list[Outcome]) -> None:
    assert_one_clean_line(served[i], SERVE_CASES[i][1])


def test_the_cases_cover_every_command() -> None:
    covered = {case.command.name for case, _ in (p.values for p in _expanded())}
    missing = {c.name for c in COMMANDS if c.path != SERVE} - covered
    assert missing == set(), f"commands with no hostile input to try: {missing}"


# --- permission denied -------------------------------------------------------------------------


def _drop_dac_override() -> None:
    """Lose CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: root then obeys file modes like anyone.

    Root keeps owning its files (the checkout, the venv), so only what a test makes
    unreadable (mode 000) is; dropping one's own capabilities needs no privilege.
    """
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]

    libc = ctypes.CDLL(None, use_errno=True)
    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    keep = ~((1 << 1) | (1 << 2)) & 0xFFFF_FFFF  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    for field in ("effective", "permitted", "inheritable"):
        setattr(data[0], field, getattr(data[0], field) & keep)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _in_child_without_dac_override(args: list[str]) -> Outcome:
    """Run the CLI in a forked child that cannot read a file root's modes deny."""
    import json

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read)
            _drop_dac_override()
            r = CliRunner().invoke(app, args)
            crash = r.exception is not None and not isinstance(r.exception, SystemExit)
            result = {"code": r.exit_code, "stdout": r.stdout, "stderr": r.stderr}
            if crash:
                import traceback

                result["stderr"] += "Traceback: " + "".join(traceback.format_exception(r.exception))
            os.write(write, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return Outcome(**json.loads(data))


PERMISSION_CASES = [
    (["run", "@plan.yaml", "--store", "+s.duckdb", "--work", "+work"], "plan.yaml"),
    (["devices", "--inventory", "@inventory.yaml", "--work", "+work"], "inventory.yaml"),
    (["results", "--store", "@store.duckdb"], "store.duckdb"),
    (["rank", "--store", "@store.duckdb"], "store.duckdb"),
    (["bench", "@model.onnx", "--store", "+s.duckdb", "--work", "+work"], "model.onnx"),
    (["compile", "@model.onnx", "--variant", "fp32", "--work", "+work"], "model.onnx"),
]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux file capabilities")
@pytest.mark.parametrize("closed", ["file", "folder"])
@pytest.mark.parametrize(
    ("args", "names"), PERMISSION_CASES, ids=[a[0] for a, _ in PERMISSION_CASES]
)
def test_a_file_rigbench_may_not_read_is_one_line(
    args: list[str], names: str, closed: str, files: Files, tmp_path: Path
) -> None:
    """Mode 000 on the file itself, or on the folder that holds it."""
    private = tmp_path / "private"
    private.mkdir()
    shutil.copy(files.benign["plan"], private / "plan.yaml")
    shutil.copy(files.benign["inventory"], private / "inventory.yaml")
    shutil.copy(files.benign["store"], private / "store.duckdb")
    shutil.copy(files.benign["model"], private / "model.onnx")
    for p in [private] if closed == "folder" else private.iterdir():
        p.chmod(0)
    public = tmp_path / "public"  # where the store and work folder may be written
    public.mkdir()
    args = [
        str(private / a[1:]) if a[0] == "@" else str(public / a[1:]) if a[0] == "+" else a
        for a in args
    ]
    if os.geteuid() == 0:  # root reads mode-000 files: run without that power
        outcome = _in_child_without_dac_override(args)
    else:
        r = CliRunner().invoke(app, args)
        outcome = Outcome(r.exit_code, r.stdout, r.stderr)
    private.chmod(0o700)  # let pytest clean up
    assert "Permission denied" in outcome.stderr or "is not readable" in outcome.stderr
    assert_one_clean_line(outcome, names)
