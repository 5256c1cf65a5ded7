"""Options and helpers shared by the commands: where the store and work folder live."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rigbench.errors import UsageError

if TYPE_CHECKING:
    from rigbench.controller.store import Store

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_ERROR = 2  # bad input, unreachable farm: nothing to compare

DEFAULT_STORE = Path(".rigbench") / "rigbench.duckdb"
DEFAULT_WORK = Path(".rigbench") / "work"


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def store_path(value: Path | None) -> Path:
    return value or Path(os.environ.get("RIGBENCH_STORE", str(DEFAULT_STORE)))


def work_path(value: Path | None) -> Path:
    return folder_to_write(
        value or Path(os.environ.get("RIGBENCH_WORK", str(DEFAULT_WORK))), "the work folder"
    )


def file_is_missing(path: Path) -> bool:
    """True when nothing is at ``path``; an unreadable path is not missing (its reader says why)."""
    try:
        return not path.exists()
    except OSError:
        return False


def folder_to_write(path: Path, what: str) -> Path:
    """``path``, once it is sure a folder can be made there: a file in the way is one line."""
    try:
        for p in (path, *path.parents):
            if p.is_dir():
                return path
            if p.exists() or p.is_symlink():
                raise UsageError(f"{what} {path}: {p} is a file, not a folder")
    except OSError as e:
        raise UsageError(f"{what} {path}: {e.strerror or e}") from e
    return path


def open_store(value: Path | None, create: bool = False) -> Store:
    """The store; only commands that write (run, bench, nightly) create a missing one."""
    from rigbench.controller.store import Store

    return Store(store_path(value), create=create)


StoreOpt = typer.Option(
    None, "--store", help="DuckDB file (env RIGBENCH_STORE; default .rigbench/rigbench.duckdb)"
)
WorkOpt = typer.Option(
    None,
    "--work",
    help="compiled variants, generated models and local agents (default .rigbench/work)",
)
InventoryOpt = typer.Option(
    None,
    "--inventory",
    "-i",
    help="inventory file (default ./inventory.yaml, else one local device)",
)

GitShaOpt = typer.Option(
    None, "--git-sha", help="the commit measured (default: from CI's environment)"
)
GitBranchOpt = typer.Option(None, "--git-branch", help="its branch (default: from CI)")
PullRequestOpt = typer.Option(
    None, "--pull-request", help="its pull request number (default: from CI)"
)
