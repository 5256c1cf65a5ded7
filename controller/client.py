"""The controller's side of the wire: an asyncio gRPC client with a deadline on every call.

Proto messages stop here: callers get the agent's domain dataclasses (a result sent in parts
arrives joined), and gRPC failures become the error classes the agent raised (the one table
in ``rigbench.agent.status``), or ``AgentUnreachableError`` when the call itself broke.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rigbench import PROTOCOL_VERSION
from rigbench.agent.convert import (
    MAX_DIGESTS_PER_CALL,
    ResultAssembler,
    description_from_pb,
    event_from_pb,
    job_spec_to_pb,
)
from rigbench.agent.describe import DeviceDescription
from rigbench.agent.jobs import JobEvent, JobSpec
from rigbench.agent.status import ERROR_TRAILER, error_from_status
from rigbench.digest import sha256_file
from rigbench.errors import ArtifactError, ProtocolMismatchError, RigbenchError
from rigbench.v1 import agent_pb2 as pb
from rigbench.v1 import agent_pb2_grpc as pb_grpc

CHUNK_BYTES = 1 << 20
OFFER_BYTES = 64 << 10
MAX_MESSAGE_BYTES = 64 << 20
SUPPORTED_PROTOCOLS = (PROTOCOL_VERSION,)


@dataclass(frozen=True)
class ChannelConfig:
    address: str
    tls_ca: bytes | None = None
    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    server_name: str | None = None
    token: str | None = None


def _map_error(e: grpc.aio.AioRpcError, address: str, what: str) -> RigbenchError:
    trailer = None
    for key, value in e.trailing_metadata() or ():
        if key == ERROR_TRAILER:
            trailer = value if isinstance(value, str) else value.decode(errors="replace")
    return error_from_status(e.code(), e.details() or "", trailer, address, what)


class AgentClient:
    """One connection to one agent."""

    def __init__(self, cfg: ChannelConfig, call_timeout_s: float = 30.0):
        self.cfg = cfg
        self.address = cfg.address
        self.call_timeout_s = call_timeout_s
        options: list[tuple[str, str | int]] = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if cfg.server_name:
            options.append(("grpc.ssl_target_name_override", cfg.server_name))
        if cfg.tls_ca is not None:
            creds = grpc.ssl_channel_credentials(cfg.tls_ca, cfg.tls_key, cfg.tls_cert)
            self.channel = grpc.aio.secure_channel(cfg.address, creds, options=options)
        else:
            self.channel = grpc.aio.insecure_channel(cfg.address, options=options)
        self.stub = pb_grpc.AgentStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self._md = (("authorization", f"Bearer {cfg.token}"),) if cfg.token else None
        self._present: set[str] = set()

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def check_health(self, timeout_s: float = 5.0) -> bool:
        try:
            r = await self.health.Check(
                health_pb2.HealthCheckRequest(service="rigbench.v1.Agent"), timeout=timeout_s
            )
        except grpc.aio.AioRpcError:
            return False
        return r.status == health_pb2.HealthCheckResponse.SERVING

    async def describe(self, timeout_s: float | None = None) -> DeviceDescription:
        try:
            msg = await self.stub.Describe(
                pb.DescribeRequest(), timeout=timeout_s or self.call_timeout_s, metadata=self._md
            )
        except grpc.aio.AioRpcError as e:
            raise _map_error(e, self.address, "Describe") from e
        desc = description_from_pb(msg)
        if desc.protocol_version not in SUPPORTED_PROTOCOLS:
            raise ProtocolMismatchError(
                f"agent at {self.address} speaks protocol {desc.protocol_version or '(none)'}, "
                f"this controller speaks {', '.join(SUPPORTED_PROTOCOLS)}; upgrade the agent "
                "(rigbench agent upgrade) or the controller so both match"
            )
        return desc

    async def missing(self, digests: list[str]) -> list[str]:
        out: list[str] = []
        for i in range(0, len(digests), MAX_DIGESTS_PER_CALL):
            try:
                r = await self.stub.MissingArtifacts(
                    pb.MissingArtifactsRequest(sha256=digests[i : i + MAX_DIGESTS_PER_CALL]),
                    timeout=self.call_timeout_s,
                    metadata=self._md,
                )
            except grpc.aio.AioRpcError as e:
                raise _map_error(e, self.address, "MissingArtifacts") from e
            out += r.sha256
        return out

    async def put_artifact(
        self, path: Path, digest: str | None = None, timeout_s: float = 600.0
    ) -> int:
        """Upload one file; returns the bytes sent (0 if the agent already had it).

        Chunks are written on the call itself rather than handed over as an iterator, which
        gRPC would drain with a task of its own: less work per upload for many small models.
        """
        digest = digest or sha256_file(path)
        size = path.stat().st_size
        call = self.stub.PutArtifact(timeout=timeout_s, metadata=self._md)
        try:
            with contextlib.suppress(asyncio.InvalidStateError):  # it answered before the end
                with open(path, "rb") as f:
                    # Reads of the exact size: read(CHUNK_BYTES) of a smaller file allocates the
                    # whole chunk and copies it down, ~8x the cost of the read itself.
                    data = f.read(min(size, CHUNK_BYTES))
                    await call.write(pb.ArtifactChunk(sha256=digest, size_bytes=size, data=data))
                    sent = len(data)
                    while sent < size and data and not call.done():
                        data = f.read(min(size - sent, CHUNK_BYTES))
                        sent += len(data)
                        if data:
                            await call.write(pb.ArtifactChunk(data=data))
                await call.done_writing()
            r = await call
        except grpc.aio.AioRpcError as e:
            raise _map_error(e, self.address, f"upload of {path.name}") from e
        return 0 if r.already_present else size

    async def ensure_artifacts(self, files: dict[str, Path]) -> int:
        """Upload only what the agent lacks; returns bytes uploaded.

        Digests the agent confirmed on this connection are not asked about again (one round
        trip less per job); ``forget_artifacts`` resets that after the agent evicted one.
        Files up to ``OFFER_BYTES`` are offered at once instead of asked about first: sending
        them costs about what the question does, and an agent that has one already answers
        without storing it again.
        """
        unknown = [d for d in files if d not in self._present]
        if not unknown:
            return 0
        # A file gone from here (a baseline night's artifact cleaned from the compile cache)
        # may still be in the agent's cache: ask, and fail clearly only if it is not.
        gone = [d for d in unknown if not files[d].is_file()]
        small = [d for d in unknown if d not in gone and files[d].stat().st_size <= OFFER_BYTES]
        large = [d for d in unknown if d not in small]
        missing = await self.missing(large) if large else []
        lost = [d for d in missing if d in gone]
        if lost:
            raise ArtifactError(
                f"artifact {lost[0][:12]} is neither here ({files[lost[0]]}) nor in the "
                f"cache of the agent at {self.address}"
            )
        sent = 0
        for digest in [*small, *missing]:
            sent += await self.put_artifact(files[digest], digest)
        self._present.update(unknown)
        return sent

    def forget_artifacts(self) -> None:
        self._present.clear()

    async def run(self, spec: JobSpec, timeout_s: float) -> AsyncIterator[JobEvent]:
        call = self.stub.RunBenchmark(job_spec_to_pb(spec), timeout=timeout_s, metadata=self._md)
        parts = ResultAssembler()
        try:
            async for msg in call:
                event = parts.feed(event_from_pb(msg))
                if event is not None:
                    yield event
        except grpc.aio.AioRpcError as e:
            raise _map_error(e, self.address, f"job {spec.job_id}") from e

    async def attach(self, job_id: str, from_seq: int, timeout_s: float) -> AsyncIterator[JobEvent]:
        call = self.stub.AttachJob(
            pb.AttachJobRequest(job_id=job_id, from_seq=from_seq),
            timeout=timeout_s,
            metadata=self._md,
        )
        parts = ResultAssembler()
        try:
            async for msg in call:
                event = parts.feed(event_from_pb(msg))
                if event is not None:
                    yield event
        except grpc.aio.AioRpcError as e:
            raise _map_error(e, self.address, f"attach to job {job_id}") from e

    async def cancel(self, job_id: str, lease_holder: str = "", admin: bool = False) -> str:
        """Cancel a job; the agent allows only its holder, or a caller that says ``admin``."""
        try:
            r = await self.stub.CancelJob(
                pb.CancelJobRequest(job_id=job_id, lease_holder=lease_holder, admin=admin),
                timeout=self.call_timeout_s,
                metadata=self._md,
            )
        except grpc.aio.AioRpcError as e:
            raise _map_error(e, self.address, "CancelJob") from e
        return r.state

    async def release(self, lease_holder: str, timeout_s: float = 5.0) -> bool:
        """End this holder's lease on the device now; True when it held one."""
        try:
            r = await self.stub.ReleaseDevice(
                pb.ReleaseDeviceRequest(lease_holder=lease_holder),
                timeout=timeout_s,
                metadata=self._md,
            )
        except grpc.aio.AioRpcError as e:
            raise _map_error(e, self.address, "ReleaseDevice") from e
        return r.released
