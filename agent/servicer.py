"""The gRPC edge of the agent: protobuf in, domain calls, protobuf out.

Errors are mapped to status codes here and nowhere else (``STATUS_FOR``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from rigbench.agent.cache import ArtifactCache, ArtifactTooLargeError, DigestMismatchError
from rigbench.agent.convert import description_to_pb, event_to_pb, job_spec_from_pb
from rigbench.agent.describe import DeviceDescription
from rigbench.agent.runner import JobRunner
from rigbench.errors import (
    AgentError,
    ArtifactError,
    DeviceBusyError,
    JobNotFoundError,
    RigbenchError,
)
from rigbench.v1 import agent_pb2 as pb
from rigbench.v1 import agent_pb2_grpc as pb_grpc

log = logging.getLogger("rigbench.agent")

# Most specific first.
STATUS_FOR: list[tuple[type[Exception], grpc.StatusCode]] = [
    (DeviceBusyError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ArtifactTooLargeError, grpc.StatusCode.OUT_OF_RANGE),
    (DigestMismatchError, grpc.StatusCode.DATA_LOSS),
    (JobNotFoundError, grpc.StatusCode.NOT_FOUND),
    (ArtifactError, grpc.StatusCode.FAILED_PRECONDITION),
    (AgentError, grpc.StatusCode.INVALID_ARGUMENT),
    (RigbenchError, grpc.StatusCode.INTERNAL),
]


def status_for(e: Exception) -> grpc.StatusCode:
    for cls, code in STATUS_FOR:
        if isinstance(e, cls):
            return code
    return grpc.StatusCode.INTERNAL


T = TypeVar("T")


def _unary(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await fn(self, request, context)
        except RigbenchError as e:
            await context.abort(status_for(e), str(e))
            raise  # unreachable: abort raises

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
        return pb.MissingArtifactsResponse(sha256=self.cache.missing(request.sha256))

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
            await context.abort(status_for(e), str(e))
            raise
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
            await context.abort(status_for(e), str(e))

    async def AttachJob(
        self, request: pb.AttachJobRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.JobEvent]:
        try:
            async for event in self.runner.follow(request.job_id, request.from_seq):
                yield event_to_pb(event)
        except RigbenchError as e:
            await context.abort(status_for(e), str(e))

    @_unary
    async def CancelJob(self, request: pb.CancelJobRequest, context: Any) -> pb.CancelJobResponse:
        state = self.runner.cancel(request.job_id)
        return pb.CancelJobResponse(cancelled=state == "cancelling", state=state)
