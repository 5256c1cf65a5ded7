"""The fleet: ``inventory.yaml``, validated with errors that name file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rigbench.agent.telemetry.settings import check_settings
from rigbench.controller.bounded import STRICT, TimeoutS
from rigbench.controller.yamlfile import load_model
from rigbench.errors import InventoryError

DEVICE_CLASSES = ("local", "x86", "rpi", "jetson", "cloud-gpu", "arm")


class _Strict(BaseModel):
    model_config = STRICT


class LocalTransport(_Strict):
    """The controller starts the agent itself as a subprocess on a free loopback port."""

    home: Path | None = None  # agent home (cache, spool); default .rigbench/agents/<device>
    telemetry_root: Path | None = None  # a recorded device root: telemetry is simulated
    simulated: bool = False

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "external_meter" in data:
            raise ValueError(
                "external_meter moved to the device's sensors: mapping, which reaches the agent "
                "on every transport: sensors: {external: {command: ...}}"
            )
        return data


class TlsConfig(_Strict):
    ca: Path  # CA that signed the agent's certificate
    cert: Path | None = None  # client certificate, for mutual TLS
    key: Path | None = None
    server_name: str | None = None  # override the name checked in the agent's certificate


class GrpcTransport(_Strict):
    """Direct gRPC to an agent that is already running (TLS and token when not loopback)."""

    address: str
    tls: TlsConfig | None = None
    token_file: Path | None = None
    insecure: bool = False  # plaintext to a non-loopback address; refused unless set


class SshTransport(_Strict):
    """An SSH tunnel to an agent bound to the host's loopback."""

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str
    key_file: Path | None = None
    known_hosts: Path | None = None  # default ~/.ssh/known_hosts
    trust_on_first_use: bool = False
    agent_port: int = Field(default=50151, ge=1, le=65535)
    python: str = "python3"
    install_dir: str = "~/.rigbench-agent"
    extras: list[str] | None = None  # runtimes to install; default: detected on the host
    wheelhouse: Path | None = None  # offline host: wheels for its arch and Python
    # A recorded device root on the host (a "virtual Pi 5"): the agent reads its sensors
    # there and marks every reading simulated.
    telemetry_root: str | None = None
    simulated: bool = False


class Cost(_Strict):
    """What a device costs: an hourly price (cloud) or purchase price over a lifetime."""

    hourly_usd: float | None = Field(default=None, ge=0)
    purchase_usd: float | None = Field(default=None, ge=0)
    lifetime_years: float = Field(default=3.0, gt=0)
    utilization: float = Field(default=1.0, gt=0, le=1)
    electricity_usd_per_kwh: float | None = Field(default=None, ge=0)
    nameplate_w: float | None = Field(default=None, gt=0)  # stands in where no power sensor

    @model_validator(mode="after")
    def _one_price(self) -> Cost:
        if self.hourly_usd is not None and self.purchase_usd is not None:
            raise ValueError("give either hourly_usd (cloud) or purchase_usd (owned), not both")
        return self


class Device(_Strict):
    name: str
    device_class: Literal["local", "x86", "rpi", "jetson", "cloud-gpu", "arm"] = Field(
        alias="class"
    )
    tags: list[str] = []
    description: str = ""
    local: LocalTransport | None = None
    grpc: GrpcTransport | None = None
    ssh: SshTransport | None = None
    cost: Cost | None = None
    # Per-source sensor settings, {source: {key: value}} (docs/telemetry.md): the agent gets
    # them as --sensor options and reports them back, on every transport.
    sensors: dict[str, dict[str, str]] = {}
    connect_timeout_s: TimeoutS = Field(default=30.0, gt=0)  # reach the agent, health, describe
    wait_timeout_s: TimeoutS = Field(default=600.0, ge=0)  # while another controller holds it
    job_timeout_s: TimeoutS = Field(default=3600.0, gt=0)  # one job, start to result
    lease_ttl_s: TimeoutS = Field(default=120.0, gt=0)  # how long a vanished controller blocks it

    model_config = ConfigDict(**STRICT, populate_by_name=True)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "-_." for c in v):
            raise ValueError("device names use letters, digits, '-', '_' and '.'")
        return v

    @field_validator("sensors")
    @classmethod
    def _sensors_ok(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        return check_settings(v)

    @model_validator(mode="after")
    def _one_transport(self) -> Device:
        chosen = [t for t in ("local", "grpc", "ssh") if getattr(self, t) is not None]
        if len(chosen) > 1:
            raise ValueError(f"choose one transport, not {' and '.join(chosen)}")
        if not chosen:
            if self.device_class != "local":
                raise ValueError("a device needs a transport: local, grpc or ssh")
            self.local = LocalTransport()
        return self

    @property
    def transport(self) -> str:
        return "local" if self.local else "grpc" if self.grpc else "ssh"


class Inventory(_Strict):
    devices: list[Device]

    @model_validator(mode="after")
    def _unique(self) -> Inventory:
        seen: set[str] = set()
        for d in self.devices:
            if d.name in seen:
                raise ValueError(f"device name {d.name!r} is used twice")
            seen.add(d.name)
        return self

    def get(self, name: str) -> Device:
        for d in self.devices:
            if d.name == name:
                return d
        raise InventoryError(
            f"unknown device {name!r}; the inventory has: {', '.join(self.names()) or '(none)'}"
        )

    def names(self) -> list[str]:
        return [d.name for d in self.devices]

    def select(
        self,
        names: list[str] | None = None,
        tags: list[str] | None = None,
        classes: list[str] | None = None,
    ) -> list[Device]:
        """Devices matching any given name, tag or class; all devices when nothing is given."""
        if not names and not tags and not classes:
            return list(self.devices)
        for n in names or []:
            self.get(n)  # unknown names are an error, not an empty selection
        for c in classes or []:
            if c not in DEVICE_CLASSES:
                raise InventoryError(
                    f"unknown device class {c!r}; classes: {', '.join(DEVICE_CLASSES)}"
                )
        return [
            d
            for d in self.devices
            if d.name in (names or [])
            or set(d.tags) & set(tags or [])
            or d.device_class in (classes or [])
        ]


DEFAULT_INVENTORY = Inventory(devices=[Device.model_validate({"name": "local", "class": "local"})])


def load_inventory(path: Path | None) -> Inventory:
    """Load ``path``; with no path and no ./inventory.yaml, the embedded one-device default."""
    if path is None:
        if Path("inventory.yaml").exists():
            path = Path("inventory.yaml")
        else:
            return DEFAULT_INVENTORY
    return load_model(Inventory, path, InventoryError)
