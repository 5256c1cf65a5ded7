"""The gRPC edge of the agent: protobuf in, domain calls, protobuf out.

Errors become status codes through one table (``status.py``), which the controller reads
back. What no job can use is refused here, before it costs anything: an empty or malformed
digest, too many digests at once, a spec with a non-finite number.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc

from rigbench.agent.cache import ArtifactCache, check_digest
from rigbench.agent.convert import (
    MAX_DIGESTS_PER_CALL,
    description_to_pb,
    event_to_pb,
    job_spec_from_pb,
)
from rigbench.agent.describe import DeviceDescription
from rigbench.agent.runner import JobRunner
from rigbench.agent.status import status_for, trailer_for
from rigbench.errors import ArtifactError, RigbenchError
from rigbench.v1 import agent_pb2 as pb
from rigbench.v1 import agent_pb2_grpc as pb_grpc

log = logging.getLogger("rigbench.agent")

T = TypeVar("T")


async def abort(context: grpc.aio.ServicerContext, e: RigbenchError) -> NoReturn:
    """End the call with the error's status code, naming its class in the trailer."""
    await context.abort(status_for(e), str(e), trailing_metadata=trailer_for(e))
    raise AssertionError("unreachable: abort raises")  # pragma: no cover


def _unary(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await fn(self, request, context)
        except RigbenchError as e:
            await abort(context, e)

    return wrapper


class AgentServicer(pb_grpc.AgentServicer):
    def __init__(
        self, runner: JobRunner, cache: ArtifactCache, describe: Callable[[], DeviceDescription]
    ):
        self.runner = runner
        self.cache = cache
        self._describe = describe

    @_unary
    async def Describe(self, request: pb.DescribeRequest, context: Any) -> pb.DeviceDescription:
        desc = await asyncio.get_running_loop().run_in_executor(None, self._describe)
        desc.busy_job_id = self.runner.busy_job_id
        return description_to_pb(desc)

    @_unary
    async def MissingArtifacts(
        self, request: pb.MissingArtifactsRequest, context: Any
    ) -> pb.MissingArtifactsResponse:
        digests = list(request.sha256)
        if len(digests) > MAX_DIGESTS_PER_CALL:
            raise ArtifactError(
                f"asked about {len(digests)} digests at once; at most {MAX_DIGESTS_PER_CALL} "
                "per call (ask in batches)"
            )
        for d in digests:
            check_digest(d)
        return pb.MissingArtifactsResponse(sha256=self.cache.missing(digests))

    async def PutArtifact(
        self, request_iterator: AsyncIterator[pb.ArtifactChunk], context: grpc.aio.ServicerContext
    ) -> pb.PutArtifactResponse:
        upload = None
        try:
            async for chunk in request_iterator:
                if upload is None:
                    if not chunk.sha256:
                        raise ArtifactError("the first chunk of an upload must carry its sha256")
                    if self.cache.has(chunk.sha256):
                        return pb.PutArtifactResponse(
                            sha256=chunk.sha256, size_bytes=chunk.size_bytes, already_present=True
                        )
                    upload = self.cache.begin(chunk.sha256, chunk.size_bytes)
                upload.write(chunk.data)
            if upload is None:
                raise ArtifactError("empty upload: no chunk was sent")
            size = upload.finish()
            return pb.PutArtifactResponse(sha256=upload.digest, size_bytes=size)
        except RigbenchError as e:
            if upload is not None:
                upload.abort()
            await abort(context, e)
        except BaseException:
            if upload is not None:
                upload.abort()
            raise

    async def RunBenchmark(
        self, request: pb.JobSpec, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.JobEvent]:
        try:
            spec = job_spec_from_pb(request)
            self.runner.start(spec)
            async for event in self.runner.follow(spec.job_id, 0):
                yield event_to_pb(event)
        except RigbenchError as e:
            await abort(context, e)

    async def AttachJob(
        self, request: pb.AttachJobRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.JobEvent]:
        try:
            async for event in self.runner.follow(request.job_id, request.from_seq):
                yield event_to_pb(event)
        except RigbenchError as e:
            await abort(context, e)

    @_unary
    async def CancelJob(self, request: pb.CancelJobRequest, context: Any) -> pb.CancelJobResponse:
        state = self.runner.cancel(request.job_id, request.lease_holder, request.admin)
        return pb.CancelJobResponse(cancelled=state == "cancelling", state=state)

    @_unary
    async def ReleaseDevice(
        self, request: pb.ReleaseDeviceRequest, context: Any
    ) -> pb.ReleaseDeviceResponse:
        return pb.ReleaseDeviceResponse(released=self.runner.release(request.lease_holder))
