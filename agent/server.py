"""Build and run the agent's asyncio gRPC server.

Binds loopback by default. A non-loopback address needs TLS and a bearer token unless the
operator says ``--insecure`` explicitly: a benchmark agent runs arbitrary model files, so an
open port on a lab network is a real risk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import _async as health_async
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rigbench.agent.cache import ArtifactCache
from rigbench.agent.describe import DeviceDescription, describe_device
from rigbench.agent.lease import DEFAULT_MAX_LEASE_S
from rigbench.agent.lifetime import hold_home, watch_process
from rigbench.agent.runner import JobRunner
from rigbench.agent.servicer import AgentServicer
from rigbench.agent.spool import Spool
from rigbench.agent.telemetry.base import SensorSettings
from rigbench.agent.telemetry_session import TelemetrySession
from rigbench.errors import AgentError
from rigbench.net import is_loopback
from rigbench.v1 import agent_pb2_grpc as pb_grpc

log = logging.getLogger("rigbench.agent")

SERVICE_NAME = "rigbench.v1.Agent"
MAX_MESSAGE_BYTES = 64 << 20


@dataclass
class AgentConfig:
    home: Path
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # require client certificates signed by this CA
    insecure: bool = False
    max_cache_bytes: int = 20 << 30
    max_upload_bytes: int = 4 << 30
    spool_retention_days: float = 7.0
    spool_max_bytes: int = 2 << 30
    telemetry_root: Path = Path("/")
    telemetry_simulated: bool = False
    sensor_settings: SensorSettings = field(default_factory=dict)  # checked (check_settings)
    max_lease_s: float = DEFAULT_MAX_LEASE_S  # the longest lease a controller may hold
    parent_pid: int | None = None  # stop when this process (the controller) exits
    home_lock_fd: int | None = None  # the home's lock, taken by the controller that started us
    extra: dict[str, Any] = field(default_factory=dict)


def check_exposure(cfg: AgentConfig) -> None:
    """Refuse to listen beyond loopback without TLS and a token, unless told it is insecure.

    A token that is empty or only blank space is refused everywhere, not taken as "no token":
    it would silently turn authentication off.
    """
    if cfg.token is not None and not cfg.token.strip():
        raise AgentError("the bearer token is empty (a blank token file?); give a real token")
    if is_loopback(cfg.host) or cfg.insecure:
        return
    if cfg.tls_cert is None or not cfg.token:
        raise AgentError(
            f"refusing to bind {cfg.host}: listening beyond loopback needs TLS (--tls-cert, "
            "--tls-key) and a token (--token-file); pass --insecure to accept the risk"
        )


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Every call except the health check must carry ``authorization: Bearer <token>``."""

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

        async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

        self._deny = deny

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        if handler_call_details.method.startswith("/grpc.health.v1.Health/"):
            return await continuation(handler_call_details)
        md = dict(handler_call_details.invocation_metadata or ())
        got = md.get("authorization", "")
        got_b = got.encode() if isinstance(got, str) else bytes(got)
        if hmac.compare_digest(got_b, self._expected):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(self._deny)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(self._deny)
        if handler.response_streaming:

            async def deny_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
                await self._deny(request, context)
                yield  # pragma: no cover

            return grpc.unary_stream_rpc_method_handler(deny_stream)
        return grpc.unary_unary_rpc_method_handler(self._deny)


@dataclass
class RunningAgent:
    server: grpc.aio.Server
    port: int
    runner: JobRunner
    health: health_async.HealthServicer


async def create_server(cfg: AgentConfig) -> RunningAgent:
    """Build, bind and start the server; returns it with the bound port (port 0 picks one)."""
    check_exposure(cfg)
    home = cfg.home
    cache = ArtifactCache(home / "artifacts", cfg.max_cache_bytes, cfg.max_upload_bytes)
    spool = Spool(home / "spool", cfg.spool_retention_days, cfg.spool_max_bytes)
    telemetry = TelemetrySession.create(
        cfg.telemetry_root, cfg.telemetry_simulated, cfg.sensor_settings
    )
    runner = JobRunner(cache, spool, home / "compiled", telemetry, cfg.max_lease_s)
    description: list[DeviceDescription] = []
    describing = threading.Lock()

    def describe() -> DeviceDescription:
        with describing:  # computed once: runtimes and hardware do not change while it runs
            if not description:
                description.append(
                    describe_device(
                        cfg.telemetry_root,
                        telemetry.sensor_summaries(),
                        cfg.telemetry_simulated,
                        cfg.sensor_settings,
                    )
                )
        return DeviceDescription(**{**description[0].__dict__})

    interceptors = [TokenInterceptor(cfg.token)] if cfg.token else []
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    pb_grpc.add_AgentServicer_to_server(AgentServicer(runner, cache, describe), server)
    health = health_async.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    address = f"[{cfg.host}]:{cfg.port}" if ":" in cfg.host else f"{cfg.host}:{cfg.port}"
    if cfg.tls_cert is not None:
        if cfg.tls_key is None:
            raise AgentError("--tls-cert needs --tls-key")
        creds = grpc.ssl_server_credentials(
            [(cfg.tls_key.read_bytes(), cfg.tls_cert.read_bytes())],
            root_certificates=cfg.tls_client_ca.read_bytes() if cfg.tls_client_ca else None,
            require_client_auth=cfg.tls_client_ca is not None,
        )
        port = server.add_secure_port(address, creds)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise AgentError(f"could not bind {address}: address in use or not available")
    # Describe imports every installed runtime once (OpenVINO alone takes a second or more on
    # a busy board): do it before answering, so no Describe waits on it past its deadline.
    with contextlib.suppress(Exception):  # a failure shows again, as an error, at Describe
        await asyncio.get_running_loop().run_in_executor(None, describe)
    await server.start()
    await health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    # Describing imports every runtime (hundreds of ms): start now, on a thread, so the
    # controller's first call (Describe, right after the health check) finds it done.
    asyncio.get_running_loop().run_in_executor(None, describe)
    return RunningAgent(server, port, runner, health)


async def serve(cfg: AgentConfig, on_ready: Callable[[int], None] | None = None) -> None:
    """Run until SIGINT/SIGTERM (or the death of ``parent_pid``), then drain gracefully.

    The home's lock is held throughout, so no second agent serves the same home.
    """
    lock_fd = hold_home(cfg.home, cfg.home_lock_fd)
    try:
        stop = asyncio.Event()
        unwatch = watch_process(cfg.parent_pid, stop.set) if cfg.parent_pid is not None else None
        agent = await create_server(cfg)
        if on_ready:
            on_ready(agent.port)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        if unwatch is not None:
            unwatch()
        await agent.health.enter_graceful_shutdown()
        await agent.runner.shutdown()
        await agent.server.stop(grace=5)
    finally:
        os.close(lock_fd)
