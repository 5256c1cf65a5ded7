"""Shared fixtures: generated models, real agent processes, a real DuckDB store."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rigbench.controller.client import AgentClient, ChannelConfig
from rigbench.controller.local_agent import LocalAgent, start_local_agent
from rigbench.controller.modelgen import GeneratedModel, generate_cnn
from rigbench.controller.store import Store
from tests.paths import TELEMETRY_FIXTURES

T = TypeVar("T")

# Keep the agent's runtimes on one thread in tests: the machine has 2 cores and tests run
# several processes at once.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_sessionstart(session: pytest.Session) -> None:
    """The telemetry parsers are tested against captures committed under tests/fixtures."""
    if not TELEMETRY_FIXTURES.is_dir():
        pytest.exit(
            f"the captured telemetry fixtures are missing: expected {TELEMETRY_FIXTURES} "
            "(part of the repository: is the checkout complete?)",
            returncode=2,
        )


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from a synchronous test."""
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny(models_dir: Path) -> GeneratedModel:
    """The ~0.1 ms CNN as ONNX and TFLite (same weights)."""
    return generate_cnn(models_dir, size="tiny")


@pytest.fixture(scope="session")
def tiny_dynamic(models_dir: Path) -> GeneratedModel:
    return generate_cnn(models_dir, size="tiny", dynamic_batch=True)


def _start(home: Path, *extra: str) -> LocalAgent:
    return run(start_local_agent(home, extra_args=list(extra)))


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[LocalAgent]:
    """A real agent process on a free loopback port, stopped after the test."""
    a = _start(tmp_path / "agent-home")
    try:
        yield a
    finally:
        a.stop()


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Any]:
    """Start agents with extra command-line options; all are stopped after the test."""
    started: list[LocalAgent] = []

    def start(*extra: str, home: Path | None = None) -> LocalAgent:
        a = _start(home or tmp_path / f"agent-home-{len(started)}", *extra)
        started.append(a)
        return a

    yield start
    for a in started:
        a.stop()


def client_for(agent: LocalAgent, **kw: Any) -> AgentClient:
    return AgentClient(ChannelConfig(agent.address, **kw))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.duckdb")
