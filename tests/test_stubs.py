"""The committed gRPC stubs: current with the .proto, and the wire contract of docs/design.md."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from tests.paths import REPO

GENERATE = REPO / "protos" / "generate.py"
PROTO = Path("rigbench") / "v1" / "agent.proto"


def check(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATE), "--check", *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def protos_copy(tmp_path: Path) -> Path:
    """A copy of protos/ (the .proto and its committed stubs) to edit freely."""
    dst = tmp_path / "protos"
    shutil.copytree(REPO / "protos", dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def test_committed_stubs_are_current() -> None:
    r = check()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "generated stubs are current" in r.stdout


def test_an_unchanged_copy_is_current(protos_copy: Path) -> None:
    r = check("--protos", str(protos_copy))
    assert r.returncode == 0, r.stdout + r.stderr


def test_edited_proto_without_regenerating_is_detected(protos_copy: Path) -> None:
    proto = protos_copy / PROTO
    text = proto.read_text()
    edited = text.replace("message JobError {", "message JobError {\n  string hint = 99;", 1)
    assert edited != text
    proto.write_text(edited)
    r = check("--protos", str(protos_copy))
    assert r.returncode == 1
    assert "stale generated stubs: agent_pb2.py" in r.stdout
    assert "agent_pb2.pyi" in r.stdout


def test_missing_committed_stub_is_detected(protos_copy: Path) -> None:
    (protos_copy / "rigbench" / "v1" / "agent_pb2_grpc.py").unlink()
    r = check("--protos", str(protos_copy))
    assert r.returncode == 1
    assert "agent_pb2_grpc.py" in r.stdout


def test_regenerating_makes_an_edited_copy_current_again(protos_copy: Path) -> None:
    proto = protos_copy / PROTO
    proto.write_text(
        proto.read_text().replace(
            "message JobError {", "message JobError {\n  string hint = 99;", 1
        )
    )
    gen = subprocess.run(
        [sys.executable, str(GENERATE), "--protos", str(protos_copy)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gen.returncode == 0, gen.stderr
    assert "hint" in (protos_copy / "rigbench" / "v1" / "agent_pb2.pyi").read_text()
    assert check("--protos", str(protos_copy)).returncode == 0


def test_agent_service_has_the_designed_methods_and_streaming_kinds() -> None:
    from rigbench.v1 import agent_pb2

    methods = {
        m.name: (m.client_streaming, m.server_streaming)
        for m in agent_pb2.DESCRIPTOR.services_by_name["Agent"].methods
    }
    assert methods == {
        "Describe": (False, False),
        "MissingArtifacts": (False, False),
        "PutArtifact": (True, False),
        "RunBenchmark": (False, True),
        "AttachJob": (False, True),
        "CancelJob": (False, False),
        "ReleaseDevice": (False, False),
    }


def test_stubs_import_under_the_rigbench_v1_package() -> None:
    from rigbench.v1 import agent_pb2, agent_pb2_grpc

    assert agent_pb2.DESCRIPTOR.package == "rigbench.v1"
    assert hasattr(agent_pb2_grpc, "AgentStub") and hasattr(agent_pb2_grpc, "AgentServicer")


def _lower_bound(deps: list[str], name: str) -> str:
    for d in deps:
        m = re.fullmatch(rf"{re.escape(name)}\s*>=\s*([\w.]+)", d.strip())
        if m:
            return m.group(1)
    raise AssertionError(f"no lower bound for {name} in {deps}")


def test_runtime_lower_bounds_follow_the_generated_code() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    v1 = REPO / "protos" / "rigbench" / "v1"
    pb_version = re.search(r"Protobuf Python Version: ([\d.]+)", (v1 / "agent_pb2.py").read_text())
    grpc_version = re.search(
        r"GRPC_GENERATED_VERSION = '([\d.]+)'", (v1 / "agent_pb2_grpc.py").read_text()
    )
    assert pb_version and grpc_version
    assert _lower_bound(deps, "protobuf") == pb_version.group(1)
    assert _lower_bound(deps, "grpcio") == grpc_version.group(1)
