"""How results measured on an emulated device are labelled, in every view, in one wording.

An agent under qemu-user (an emulated arm64 board on an x86 machine) measures correct
outputs at a speed that says nothing about real hardware: 100-1000x slower, with the host's
or qemu's CPU, memory and load. Its accuracy and behaviour are real; its figures are not.
"""

from __future__ import annotations

EMULATED_TAG = "(emulated)"  # next to the device name wherever a result is shown
EMULATED_NOTE = (
    f"{EMULATED_TAG}: the agent runs under user-mode emulation (qemu-user on another "
    "architecture): its latency, throughput, memory and load are the emulator's, not a real "
    "device's; only its outputs (accuracy) and behaviour mean something"
)


def device_label(device: str, emulated: bool) -> str:
    return f"{device} {EMULATED_TAG}" if emulated else device
