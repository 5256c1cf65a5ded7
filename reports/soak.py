"""What a soak run says: does the device hold its speed under sustained load?"""

from __future__ import annotations

import json
from typing import Any


def soak_summary(windows_json: str | None, telemetry_json: str | None) -> dict[str, Any]:
    """Initial and sustained throughput, their ratio, time to first throttle, peak temperature.

    Initial is the first full window, sustained the last full one (a partial last window is
    scaled by the time it covered when it was measured). Figures that cannot be known are None.
    """
    windows = json.loads(windows_json) if windows_json else []
    tel = json.loads(telemetry_json) if telemetry_json else {}
    out: dict[str, Any] = {
        "windows": len(windows),
        "initial_ips": None,
        "sustained_ips": None,
        "sustained_ratio": None,
        "first_throttle_s": None,
        "peak_temp_c": None,
        "throttled": tel.get("throttled"),
        "simulated": bool(tel.get("simulated")),
    }
    if windows:
        out["initial_ips"] = windows[0]["throughput_ips"]
        out["sustained_ips"] = windows[-1]["throughput_ips"]
        if out["initial_ips"]:
            out["sustained_ratio"] = out["sustained_ips"] / out["initial_ips"]
    if tel.get("first_throttle_ns") is not None:
        out["first_throttle_s"] = tel["first_throttle_ns"] / 1e9
    if tel.get("peak_temp_mc") is not None:
        out["peak_temp_c"] = tel["peak_temp_mc"] / 1000
    return out
