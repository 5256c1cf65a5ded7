"""``rigbench devices``: what each inventory device's agent says it is."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import typer

from rigbench.agent.emulation import describe as emulation_text
from rigbench.controller.cli import app
from rigbench.controller.cli.common import Format, InventoryOpt, WorkOpt, work_path
from rigbench.controller.connect import connect
from rigbench.controller.inventory import Device, load_inventory
from rigbench.errors import RigbenchError
from rigbench.reports.emulated import EMULATED_NOTE
from rigbench.reports.tables import render

COLUMNS = [
    ("device", "device"),
    ("class", "class"),
    ("status", "status"),
    ("cpu_model", "cpu"),
    ("cores", "cores"),
    ("memory_gb", "mem GB"),
    ("arch", "arch"),
    ("os", "os"),
    ("runtimes", "runtimes"),
    ("sensors", "sensors"),
]


async def describe_one(device: Device, work: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"device": device.name, "class": device.device_class}
    try:
        async with connect(device, work) as conn:
            desc = await conn.client.describe()
    except RigbenchError as e:
        return {**row, "status": f"unreachable: {e}"}
    sensors = [s for s in desc.sensors if s.status == "available"]
    status = "ok" + (" (simulated telemetry)" if desc.simulated else "")
    if desc.emulation is not None:
        status += f" (emulated: {emulation_text(desc.emulation)})"
    return {
        **row,
        "status": status,
        "cpu_model": desc.cpu_model,
        "cores": f"{desc.cpu_cores_physical}/{desc.cpu_cores_logical}",
        "memory_gb": desc.memory_bytes / 2**30 if desc.memory_bytes else None,
        "arch": desc.arch,
        "os": desc.os,
        "runtimes": "; ".join(
            [f"{r.name} {r.version} [{', '.join(r.providers)}]" for r in desc.runtimes]
            + [f"{name}: not installed" for name in desc.absent_runtimes]
        ),
        "sensors": ", ".join(f"{s.source}{'*' if s.simulated else ''}" for s in sensors) or "none",
        "sensor_details": [dataclasses.asdict(s) for s in desc.sensors],
        "description": dataclasses.asdict(desc),
    }


@app.command("devices")
def devices_cmd(
    inventory: Path = InventoryOpt,
    work: Path = WorkOpt,
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
) -> None:
    """Describe every inventory device: hardware, OS, runtimes and providers, sensors.

    Example: rigbench devices --format json
    """
    inv = load_inventory(inventory)

    async def all_devices() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(describe_one(d, work_path(work)) for d in inv.devices)))

    rows = asyncio.run(all_devices())
    if fmt == Format.table:
        text = render(rows, "table", COLUMNS)
        if any("(emulated" in r["status"] for r in rows):
            text += "\n" + EMULATED_NOTE
        for r in rows:
            for s in r.get("sensor_details", []):
                if s["status"] != "available":
                    text += f"\n  {r['device']}: {s['source']}: {s['status']} ({s['detail']})"
        typer.echo(text)
    else:
        typer.echo(
            render(
                [{k: v for k, v in r.items() if k != "sensor_details"} for r in rows],
                fmt.value,
                COLUMNS,
            )
        )
