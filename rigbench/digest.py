"""The one file hasher: artifacts, datasets, wheels and caches are all named by sha256.

Shared by the agent and the controller (the agent runs on Python 3.10, which has no
``hashlib.file_digest``). Files are read in chunks so a large model is never in memory twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 1 << 20


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK_BYTES):
            h.update(block)
    return h.hexdigest()
