"""The CLI's command tree, for tests that check something of every command."""

from __future__ import annotations

from typing import Any

import typer.main
from typer._click.core import Context
from typer.core import TyperGroup

from rigbench.controller.cli import app


def command_paths() -> list[tuple[str, ...]]:
    """Every leaf command of the CLI, as the words that invoke it (lazy ones loaded)."""
    out: list[tuple[str, ...]] = []

    def walk(cmd: Any, ctx: Context, path: tuple[str, ...]) -> None:
        if isinstance(cmd, TyperGroup):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                walk(sub, Context(sub, parent=ctx, info_name=name), (*path, name))
        else:
            out.append(path)

    root = typer.main.get_command(app)
    walk(root, Context(root, info_name="rigbench"), ())
    return out
