"""Content-addressed artifact cache: files named by their sha256, never by a client's path.

Uploads stream into a temporary file, are hashed on the way, and are renamed into place only
when the digest matches, so a half-written or corrupt artifact is never visible. The cache
has a total size limit and evicts the least recently used artifacts (not those in use).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from rigbench.errors import ArtifactError, ArtifactMissingError, DiskFullError, is_disk_full

_DIGEST = re.compile(r"\A[0-9a-f]{64}\Z")  # not $: it also matches before a trailing newline


class ArtifactTooLargeError(ArtifactError):
    """An upload exceeds the agent's size limit."""


class DigestMismatchError(ArtifactError):
    """The uploaded bytes do not hash to the digest they were sent under."""


def check_digest(digest: str) -> str:
    """Refuse anything that is not a lowercase hex sha256 (it becomes a file name)."""
    if not _DIGEST.match(digest):
        raise ArtifactError(f"not a sha256 digest: {digest[:80]!r}")
    return digest


class ArtifactCache:
    def __init__(self, root: Path, max_bytes: int = 20 << 30, max_upload_bytes: int = 4 << 30):
        self.root = root
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes
        self.root.mkdir(parents=True, exist_ok=True)
        self._pinned: dict[str, int] = {}
        self._lock = threading.Lock()
        self.swept = self._sweep_stale_uploads()

    def _sweep_stale_uploads(self, older_than_s: float = 60.0) -> list[str]:
        """Remove partial uploads an earlier agent left when it died mid-upload.

        They would otherwise hold disk space for good on a small board. Only files older than
        a minute go, in case another agent process shares this cache folder.
        """
        removed = []
        cutoff = time.time() - older_than_s
        for p in self.root.glob(".upload-*"):
            with contextlib.suppress(OSError):
                if p.stat().st_mtime < cutoff:
                    p.unlink()
                    removed.append(p.name)
        return removed

    def path(self, digest: str) -> Path:
        return self.root / check_digest(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()

    def missing(self, digests: Iterable[str]) -> list[str]:
        return [d for d in digests if not self.has(d)]

    def get(self, digest: str) -> Path:
        """The artifact's path, marked as recently used."""
        p = self.path(digest)
        if not p.exists():
            raise ArtifactMissingError(
                f"artifact {digest[:12]} is not in this agent's cache; upload it first"
            )
        os.utime(p)
        return p

    def pin(self, digest: str) -> None:
        with self._lock:
            self._pinned[digest] = self._pinned.get(digest, 0) + 1

    def unpin(self, digest: str) -> None:
        with self._lock:
            left = self._pinned.get(digest, 0) - 1
            if left > 0:
                self._pinned[digest] = left
            else:
                self._pinned.pop(digest, None)

    def begin(self, digest: str, size_bytes: int) -> Upload:
        check_digest(digest)
        if size_bytes > self.max_upload_bytes:
            raise ArtifactTooLargeError(
                f"artifact of {size_bytes} bytes exceeds this agent's upload limit of "
                f"{self.max_upload_bytes} bytes (agent option --max-upload-mb)"
            )
        return Upload(self, digest, size_bytes)

    def _commit(self, tmp: Path, digest: str, size_bytes: int) -> None:
        self.evict(size_bytes)
        os.replace(tmp, self.path(digest))

    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.iterdir() if _DIGEST.match(p.name))

    def evict(self, incoming_bytes: int = 0) -> list[str]:
        """Remove least recently used artifacts until ``incoming_bytes`` more would fit."""
        with self._lock:
            files = [p for p in self.root.iterdir() if _DIGEST.match(p.name)]
            files.sort(key=lambda p: p.stat().st_mtime)
            total = sum(p.stat().st_size for p in files)
            removed = []
            for p in files:
                if total + incoming_bytes <= self.max_bytes:
                    break
                if p.name in self._pinned:
                    continue
                total -= p.stat().st_size
                p.unlink(missing_ok=True)
                removed.append(p.name)
            return removed


def _disk_full(e: OSError, digest: str) -> DiskFullError | OSError:
    if is_disk_full(e):
        return DiskFullError(
            f"the agent's disk is full: artifact {digest[:12]} was not stored ({e})"
        )
    return e


class Upload:
    """One artifact being received: written to a temp file and hashed as it arrives.

    A full disk aborts it (``DiskFullError``) and removes what was written so far.
    """

    def __init__(self, cache: ArtifactCache, digest: str, size_bytes: int):
        self.cache, self.digest, self.declared = cache, digest, size_bytes
        try:
            fd, name = tempfile.mkstemp(dir=cache.root, prefix=".upload-")
        except OSError as e:
            raise _disk_full(e, digest) from e
        self.tmp = Path(name)
        self._f = os.fdopen(fd, "wb")
        self._h = hashlib.sha256()
        self.received = 0

    def write(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.cache.max_upload_bytes or self.received > self.declared:
            self.abort()
            raise ArtifactTooLargeError(
                f"artifact {self.digest[:12]} sent more bytes than declared ({self.declared}) "
                f"or than the upload limit ({self.cache.max_upload_bytes})"
            )
        self._h.update(data)
        try:
            self._f.write(data)
        except OSError as e:
            self.abort()
            raise _disk_full(e, self.digest) from e

    def finish(self) -> int:
        try:
            self._f.close()
        except OSError as e:
            self.abort()
            raise _disk_full(e, self.digest) from e
        actual = self._h.hexdigest()
        if actual != self.digest or self.received != self.declared:
            self.tmp.unlink(missing_ok=True)
            raise DigestMismatchError(
                f"artifact sent as {self.digest[:12]} ({self.declared} bytes) hashed to "
                f"{actual[:12]} ({self.received} bytes); nothing was stored"
            )
        self.cache._commit(self.tmp, self.digest, self.received)
        return self.received

    def abort(self) -> None:
        if not self._f.closed:
            with contextlib.suppress(OSError):
                self._f.close()
        self.tmp.unlink(missing_ok=True)
