"""The agent's content-addressed artifact cache: digests, atomic commit, limits, LRU eviction."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rigbench.agent.cache import (
    ArtifactCache,
    ArtifactTooLargeError,
    DigestMismatchError,
    check_digest,
)
from rigbench.errors import ArtifactError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(cache: ArtifactCache, data: bytes, chunk: int = 7) -> str:
    digest = sha(data)
    up = cache.begin(digest, len(data))
    for i in range(0, len(data), chunk):
        up.write(data[i : i + chunk])
    up.finish()
    return digest


def entries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def age(cache: ArtifactCache, digest: str, seconds_ago: float) -> None:
    t = cache.path(digest).stat().st_mtime - seconds_ago
    os.utime(cache.path(digest), (t, t))


@pytest.fixture
def cache(tmp_path: Path) -> ArtifactCache:
    return ArtifactCache(tmp_path / "cache", max_bytes=1000, max_upload_bytes=600)


# --- digests ----------------------------------------------------------------------------------


@st.composite
def digest_like(draw: st.DrawFn) -> str:
    """Real digests, some with one character changed, inserted or appended; or any text."""
    if draw(st.booleans()):
        return draw(st.text(max_size=80))
    d = sha(draw(st.binary(max_size=8)))
    pos = draw(st.one_of(st.sampled_from([0, 63, 64]), st.integers(0, 64)))
    ch = draw(st.sampled_from(["", "\n", "/", ".", "A", "g", "0", " ", "\x00"]))
    how = draw(st.sampled_from(["replace", "insert"]))
    return d[:pos] + ch + d[pos + (how == "replace") :]


@settings(deadline=None)  # no wall-clock limits: the machine is shared
@given(digest_like())
@example("a" * 64 + "\n")
@example("../" + "a" * 61)
def test_check_digest_accepts_only_64_lowercase_hex(text: str) -> None:
    is_digest = len(text) == 64 and all(c in "0123456789abcdef" for c in text)
    if is_digest:
        assert check_digest(text) == text
    else:
        with pytest.raises(ArtifactError):
            check_digest(text)


@pytest.mark.parametrize(
    "bad",
    [
        "../" + "a" * 61,
        "/etc/passwd",
        "A" * 64,
        "a" * 63,
        "a" * 65,
        "a" * 64 + "\n",
        "a" * 32 + "/" + "a" * 31,
        "",
    ],
)
def test_non_hex_digest_is_refused_before_touching_the_disk(cache: ArtifactCache, bad: str) -> None:
    with pytest.raises(ArtifactError, match="not a sha256 digest"):
        cache.get(bad)
    with pytest.raises(ArtifactError, match="not a sha256 digest"):
        cache.begin(bad, 1)
    with pytest.raises(ArtifactError, match="not a sha256 digest"):
        cache.has(bad)
    assert entries(cache.root) == []


@settings(deadline=None)  # no wall-clock limits: the machine is shared
@given(st.binary(max_size=600), st.integers(1, 64))
def test_upload_under_its_own_digest_is_stored_byte_for_byte(data: bytes, chunk: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        c = ArtifactCache(Path(tmp), max_bytes=10_000, max_upload_bytes=600)
        digest = put(c, data, chunk)
        assert c.has(digest)
        assert c.get(digest).read_bytes() == data
        assert entries(c.root) == [digest]


@settings(deadline=None)  # no wall-clock limits: the machine is shared
@given(st.binary(min_size=1, max_size=200), st.binary(min_size=1, max_size=200))
def test_upload_under_another_digest_stores_nothing(data: bytes, other: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        c = ArtifactCache(Path(tmp), max_bytes=10_000, max_upload_bytes=600)
        claimed = sha(other)
        up = c.begin(claimed, len(data))
        up.write(data)
        if sha(data) == claimed:
            up.finish()
            return
        with pytest.raises(DigestMismatchError, match="nothing was stored"):
            up.finish()
        assert entries(c.root) == []


# --- atomic commit ----------------------------------------------------------------------------


def test_artifact_is_invisible_until_the_upload_finishes(cache: ArtifactCache) -> None:
    data = b"x" * 100
    digest = sha(data)
    up = cache.begin(digest, len(data))
    up.write(data[:50])
    assert not cache.has(digest)
    assert cache.missing([digest]) == [digest]
    up.write(data[50:])
    up.finish()
    assert cache.has(digest)
    assert cache.missing([digest]) == []


def test_partial_temp_file_is_not_counted_as_an_artifact(cache: ArtifactCache) -> None:
    up = cache.begin(sha(b"y" * 10), 10)
    up.write(b"y" * 5)
    assert cache.total_bytes() == 0
    up.abort()


def test_short_upload_is_refused(cache: ArtifactCache) -> None:
    data = b"z" * 100
    up = cache.begin(sha(data), 200)
    up.write(data)
    with pytest.raises(DigestMismatchError):
        up.finish()
    assert entries(cache.root) == []


def test_aborted_upload_leaves_nothing(cache: ArtifactCache) -> None:
    up = cache.begin(sha(b"abc"), 3)
    up.write(b"ab")
    up.abort()
    assert entries(cache.root) == []


def test_missing_artifact_error_says_to_upload(cache: ArtifactCache) -> None:
    with pytest.raises(ArtifactError, match="upload it first"):
        cache.get(sha(b"never sent"))


# --- size limits ------------------------------------------------------------------------------


def test_declared_size_over_the_upload_limit_is_refused(cache: ArtifactCache) -> None:
    with pytest.raises(ArtifactTooLargeError, match="--max-upload-mb"):
        cache.begin(sha(b"big"), 601)
    assert entries(cache.root) == []


def test_sending_more_than_declared_is_refused_and_cleaned_up(cache: ArtifactCache) -> None:
    up = cache.begin(sha(b"q" * 20), 10)
    with pytest.raises(ArtifactTooLargeError, match="more bytes than declared"):
        up.write(b"q" * 20)
    assert entries(cache.root) == []


def test_commit_evicts_until_the_new_artifact_fits(cache: ArtifactCache) -> None:
    a = put(cache, b"a" * 400)
    b = put(cache, b"b" * 400)
    age(cache, a, 100)
    age(cache, b, 50)
    c = put(cache, b"c" * 400)
    assert not cache.has(a)
    assert cache.has(b) and cache.has(c)
    assert cache.total_bytes() <= cache.max_bytes


# --- LRU eviction -----------------------------------------------------------------------------


def test_eviction_removes_least_recently_used_first(cache: ArtifactCache) -> None:
    a, b, c = (put(cache, bytes([i]) * 300) for i in range(3))
    age(cache, a, 300)
    age(cache, b, 200)
    age(cache, c, 100)
    cache.get(a)  # a is now the most recently used
    assert cache.evict(500) == [b, c]
    assert cache.has(a)


def test_eviction_stops_as_soon_as_there_is_room(cache: ArtifactCache) -> None:
    a, b, c = (put(cache, bytes([i]) * 300) for i in range(3))
    for i, d in enumerate((a, b, c)):
        age(cache, d, 300 - 100 * i)
    assert cache.evict(200) == [a]
    assert cache.has(b) and cache.has(c)


def test_pinned_artifacts_are_not_evicted(cache: ArtifactCache) -> None:
    a, b = put(cache, b"a" * 400), put(cache, b"b" * 400)
    age(cache, a, 200)
    age(cache, b, 100)
    cache.pin(a)
    assert cache.evict(400) == [b]
    assert cache.has(a)


def test_unpinned_artifact_becomes_evictable_again(cache: ArtifactCache) -> None:
    a = put(cache, b"a" * 400)
    cache.pin(a)
    cache.pin(a)
    cache.unpin(a)
    assert cache.evict(1000) == []
    cache.unpin(a)
    assert cache.evict(1000) == [a]


def test_non_artifact_files_are_never_evicted(cache: ArtifactCache) -> None:
    (cache.root / "README").write_text("x" * 5000)
    put(cache, b"a" * 400)
    cache.evict(1000)
    assert (cache.root / "README").exists()


@settings(deadline=None)  # no wall-clock limits: the machine is shared
@given(st.lists(st.integers(1, 300), min_size=1, max_size=12))
def test_cache_stays_under_its_limit_when_nothing_is_pinned(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        c = ArtifactCache(Path(tmp), max_bytes=1000, max_upload_bytes=600)
        for i, n in enumerate(sizes):
            put(c, i.to_bytes(2, "big") * n, chunk=256)
            assert c.total_bytes() <= c.max_bytes


def test_a_partial_upload_left_by_a_dead_agent_is_swept_at_start(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    stale, fresh = root / ".upload-dead", root / ".upload-live"
    stale.write_bytes(b"x" * 1000)
    fresh.write_bytes(b"y")
    hour_ago = os.stat(stale).st_mtime - 3600
    os.utime(stale, (hour_ago, hour_ago))
    cache = ArtifactCache(root)
    assert cache.swept == [".upload-dead"]
    assert not stale.exists() and fresh.exists()  # a minute-old one may be another agent's
