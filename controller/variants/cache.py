"""Content-addressed compile cache: the same compile twice reuses the first artifact.

Quantizing or optimizing a model takes seconds to minutes and every nightly run asks for the
same variants again. An entry is keyed by the sha256 of (source digest, variant, effective
parameters, tool versions, transform revision), so a changed source, setting or tool version
compiles afresh while an unchanged one is reused.

Layout: ``<cache_dir>/<key>/{<variant>.<ext>, lineage.json}``. A compile works in a staging
folder under ``<cache_dir>/.staging/`` and is published by one ``rename`` of the whole folder,
so a reader never sees a half-written entry and two concurrent compiles of the same key leave
exactly one. On every hit the artifact's digest is checked against its lineage; an entry that
does not match (disk fault, someone edited it) is discarded and compiled again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rigbench.controller.variants.lineage import LINEAGE_FILE, Lineage, canonical_json
from rigbench.digest import sha256_file
from rigbench.errors import VariantError

log = logging.getLogger(__name__)

STAGING = ".staging"


def cache_key(parts: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of everything that determines the artifact."""
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


class CompileCache:
    """One cache directory, given by the caller."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / STAGING).mkdir(exist_ok=True)
        except OSError as e:
            raise VariantError(f"cannot create compile cache directory {self.root}: {e}") from e

    def entry(self, key: str) -> Path:
        """Folder of one entry (it may not exist)."""
        return self.root / key

    def lookup(self, key: str) -> tuple[Path, Lineage] | None:
        """The artifact path and lineage of a complete, intact entry, else None."""
        folder = self.entry(key)
        meta = folder / LINEAGE_FILE
        if not meta.is_file():
            return None
        try:
            lineage = Lineage.from_json(meta.read_text())
            artifact = folder / lineage.artifact
            intact = artifact.is_file() and sha256_file(artifact) == lineage.sha256
            for c in lineage.extra.get("companions", {}).values():
                part = folder / c["file"]
                intact = intact and part.is_file() and sha256_file(part) == c["sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            intact = False
        if not intact:
            log.warning("compile cache entry %s is damaged; compiling it again", folder)
            self._discard(folder)
            return None
        return artifact, lineage

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A private folder on the cache's file system; removed afterwards unless published."""
        tmp = Path(tempfile.mkdtemp(prefix="compile-", dir=self.root / STAGING))
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def publish(self, staged: Path, key: str) -> Path:
        """Move a staged folder into place atomically; if another process won, keep theirs."""
        target = self.entry(key)
        try:
            os.rename(staged, target)
        except OSError:
            if not (target / LINEAGE_FILE).is_file():
                raise
            log.info("compile cache entry %s was published concurrently; keeping it", target)
        return target

    def _discard(self, folder: Path) -> None:
        """Move a bad entry aside first so no reader sees it half-deleted."""
        trash = Path(tempfile.mkdtemp(prefix="discard-", dir=self.root / STAGING))
        try:
            os.rename(folder, trash / "entry")
        except OSError:
            pass
        shutil.rmtree(trash, ignore_errors=True)
