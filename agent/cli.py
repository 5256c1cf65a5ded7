"""``rigbench agent serve``: the agent's own command line, argparse only.

Kept free of typer/rich so a board's agent install stays small; ``rigbench.cli`` routes
``rigbench agent serve`` here and every other command to the controller's CLI.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from rigbench import limits
from rigbench.agent.lease import DEFAULT_MAX_LEASE_S
from rigbench.agent.server import AgentConfig, serve
from rigbench.agent.telemetry.base import SensorSettings
from rigbench.agent.telemetry.settings import OPTION, from_options
from rigbench.errors import AgentError, RigbenchError

_STORAGE_MB = limits.Limit(limits.AGENT_STORAGE_BYTES / limits.MIB, "more than any disk holds")
_RETENTION_DAYS = limits.Limit(3650, "ten years")


def default_home() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "rigbench-agent"


class _OneLineErrors(argparse.ArgumentParser):
    """A bad option is one ``error:`` line and exit 2, as everywhere else in rigbench."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def _bounded(limit: limits.Limit, minimum: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        problem = limit.at_least(minimum).problem(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0 to 65535)")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineErrors(
        prog="rigbench agent serve",
        description="Serve this device to a rigbench controller over gRPC.",
        epilog="example: rigbench agent serve --port 0 --home /var/lib/rigbench-agent",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p.add_argument(
        "--port", type=_port, default=50151, help="port; 0 picks a free one and prints it"
    )
    p.add_argument(
        "--home",
        type=Path,
        default=None,
        help="artifact cache, spool and compile cache (default $XDG_STATE_HOME/rigbench-agent)",
    )
    p.add_argument("--port-file", type=Path, help="write the bound port here once serving")
    p.add_argument(
        "--token-file", type=Path, help="file holding the bearer token callers must send"
    )
    p.add_argument("--tls-cert", type=Path, help="server certificate (PEM)")
    p.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    p.add_argument("--tls-client-ca", type=Path, help="require client certificates from this CA")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback bind without TLS and token (not recommended)",
    )
    size_mb = _bounded(_STORAGE_MB, 0)
    p.add_argument("--max-upload-mb", type=size_mb, default=4096, help="largest artifact accepted")
    p.add_argument("--max-cache-mb", type=size_mb, default=20480, help="artifact cache size limit")
    p.add_argument("--spool-retention-days", type=_bounded(_RETENTION_DAYS, 0), default=7.0)
    p.add_argument("--spool-max-mb", type=size_mb, default=2048)
    p.add_argument(
        "--telemetry-root",
        type=Path,
        default=Path("/"),
        help="read sensors under this root (a recorded device root for simulation)",
    )
    p.add_argument(
        "--simulated",
        action="store_true",
        help="the telemetry root is a recording: mark every reading as simulated",
    )
    p.add_argument(
        "--sensor",
        action="append",
        default=[],
        metavar="SOURCE.KEY=VALUE",
        help="a sensor setting, repeatable: external.command='meter --watts' (a command that "
        "prints the device's power in watts); the inventory's sensors: gives these",
    )
    p.add_argument(
        "--external-meter",
        metavar="COMMAND",
        help="the same as --sensor external.command=COMMAND",
    )
    p.add_argument(
        "--max-lease-s",
        type=float,
        default=DEFAULT_MAX_LEASE_S,
        help="the longest a controller may hold this device after its last job "
        f"(default {DEFAULT_MAX_LEASE_S:g}); longer requests are cut to it",
    )
    p.add_argument(
        "--parent-pid", type=int, help="stop when this process exits (set by a controller)"
    )
    p.add_argument(
        "--home-lock-fd", type=int, help=argparse.SUPPRESS
    )  # the home's lock, handed over by the controller that starts this agent
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def sensor_settings(a: argparse.Namespace) -> SensorSettings:
    words = list(a.sensor) + ([f"external.command={a.external_meter}"] if a.external_meter else [])
    try:
        return from_options(words)
    except ValueError as e:
        raise AgentError(str(e) if str(e).startswith(OPTION) else f"{OPTION}: {e}") from None


def config_from_args(a: argparse.Namespace) -> AgentConfig:
    token = a.token_file.read_text().strip() if a.token_file else None
    if token is not None and not token:
        raise AgentError(
            f"the token file {a.token_file} is empty or blank; put the bearer token in it"
        )
    if not (a.max_lease_s > 0 and math.isfinite(a.max_lease_s)):
        raise AgentError(f"--max-lease-s must be a positive number of seconds, not {a.max_lease_s}")
    return AgentConfig(
        home=a.home or default_home(),
        host=a.host,
        port=a.port,
        token=token,
        tls_cert=a.tls_cert,
        tls_key=a.tls_key,
        tls_client_ca=a.tls_client_ca,
        insecure=a.insecure,
        max_cache_bytes=int(a.max_cache_mb * (1 << 20)),
        max_upload_bytes=int(a.max_upload_mb * (1 << 20)),
        spool_retention_days=a.spool_retention_days,
        spool_max_bytes=int(a.spool_max_mb * (1 << 20)),
        telemetry_root=a.telemetry_root,
        telemetry_simulated=a.simulated,
        sensor_settings=sensor_settings(a),
        max_lease_s=a.max_lease_s,
        parent_pid=a.parent_pid,
        home_lock_fd=a.home_lock_fd,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = config_from_args(args)
    except (OSError, RigbenchError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as e:
        print(
            f"error: {args.token_file}: the token file is not UTF-8 text ({e.reason})",
            file=sys.stderr,
        )
        return 2

    def ready(port: int) -> None:
        if args.port_file:
            tmp = args.port_file.with_suffix(".tmp")
            tmp.write_text(str(port))
            tmp.replace(args.port_file)
        print(f"rigbench agent listening on {cfg.host}:{port}", flush=True)

    try:
        asyncio.run(serve(cfg, ready))
    except RigbenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
