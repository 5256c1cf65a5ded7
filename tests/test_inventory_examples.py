"""The commented examples in inventory.yaml are real: uncommented, they validate."""

from __future__ import annotations

from rigbench.controller.inventory import DEVICE_CLASSES, load_inventory
from tests.paths import REPO


def test_every_commented_example_in_the_inventory_validates(tmp_path):
    # Example lines are commented with "#  " (the YAML keeps its indentation); prose uses "# ".
    text = (REPO / "inventory.yaml").read_text()
    lines = [line[1:] if line.startswith("#  ") else line for line in text.splitlines()]
    uncommented = tmp_path / "inventory.yaml"
    uncommented.write_text("\n".join(lines) + "\n")
    inv = load_inventory(uncommented)
    classes = {d.device_class for d in inv.devices}
    transports = {d.transport for d in inv.devices}
    assert {"rpi", "jetson", "x86", "cloud-gpu"} <= classes <= set(DEVICE_CLASSES)
    assert {"ssh", "grpc"} <= transports
    tls = [d for d in inv.devices if d.grpc is not None and d.grpc.tls is not None]
    assert tls and all(d.grpc.token_file is not None for d in tls)  # type: ignore[union-attr]


def test_the_default_inventory_is_one_local_device():
    inv = load_inventory(REPO / "inventory.yaml")
    assert [(d.name, d.transport) for d in inv.devices] == [("local", "local")]
