"""The ``rigbench`` console script: routes agent-side commands to the lean agent CLI.

``rigbench agent serve`` must work on a board that installed only the agent (no typer, no
DuckDB), so it is dispatched before anything from the controller is imported.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:2] == ["agent", "serve"]:
        from rigbench.agent.cli import main as agent_main

        return agent_main(args[2:])
    try:
        from rigbench.controller.cli import run_app
    except ImportError as e:
        if (e.name or "").startswith("rigbench"):
            raise
        print(
            f"rigbench: the controller is not installed here ({e.name} is missing).\n"
            "  This machine has the agent only: run `rigbench agent serve`, or install the\n"
            '  controller with: pip install "rigbench[controller]"',
            file=sys.stderr,
        )
        return 2
    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
