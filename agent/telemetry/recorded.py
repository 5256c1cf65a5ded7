"""Recorded devices: a sysfs tree and command replays built from the captured fixtures.

An agent pointed at a recorded root (`SensorEnv(root=..., run=RecordedCommandRunner(root),
simulated=True)`, or `recorded_env(root)`) runs end to end on real formats from real hardware
this lab may not have: a Pi 5 under load, a Pi 3B+ hitting its soft temperature limit, Jetson
AGX Orin and Nano, an Intel laptop with RAPL, an AMD desktop, a GeForce. Every value written
comes from a capture in `fixtures/telemetry/`; the parsers below read the capture formats
(grep dumps, `find -exec cat`, `powercap-info`, `ls -la`, shell transcripts).
Describe marks these sources `simulated`, so a report never mistakes them for measurements.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rigbench.agent.telemetry.base import SensorEnv
from rigbench.agent.telemetry.hwmon import parse_sensors
from rigbench.agent.telemetry.jetson import parse_jetson_clocks_show, parse_tegrastats_log
from rigbench.agent.telemetry.nvml import QUERY_FIELDS
from rigbench.errors import TelemetryError

MANIFEST = ".recorded.json"


# --- capture formats --------------------------------------------------------------------------


def parse_grep_dump(text: str) -> dict[str, str]:
    """`grep -r . /sys/...` output: `<path>:<value>` (directory names may contain ':')."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(/\S*/[^/:\s]+):(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def parse_find_cat(text: str) -> dict[str, str | None]:
    """`find ... -exec cat` dumps: a path line, then its content; `cat: ...` errors -> None.

    Accepts both the plain `path`/`value` lines and the `---`/`path`/`---`/`value` framing.
    """
    out: dict[str, str | None] = {}
    path: str | None = None
    body: list[str] = []
    error = False

    def flush() -> None:
        if path is not None:
            out[path] = None if error else "\n".join(body)

    for line in text.splitlines():
        if line.startswith("/sys/"):
            flush()
            path, body, error = line.strip(), [], False
        elif line.strip() == "---" or path is None:
            continue
        elif line.startswith("cat: "):
            error = True
        else:
            body.append(line)
    flush()
    return out


def parse_powercap_info(text: str) -> dict[str, dict[str, str]]:
    """`powercap-info` output: zone id (`0`, `0:1`) -> sysfs file name -> value."""
    zones: dict[str, dict[str, str]] = {}
    zone: str | None = None
    constraint: tuple[int, str] | None = None  # (indent, number)
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if m := re.fullmatch(r"Zone ([\d:]+)", stripped):
            zone, constraint = m.group(1), None
            zones[zone] = {}
            continue
        if m := re.fullmatch(r"Constraint (\d+)", stripped):
            constraint = (indent, m.group(1))
            continue
        key, sep, value = stripped.partition(": ")
        if not sep or zone is None:
            continue
        if constraint is not None and indent <= constraint[0]:
            constraint = None
        name = f"constraint_{constraint[1]}_{key}" if constraint else key
        zones[zone][name] = value.strip()
    return zones


def parse_ls_la(text: str) -> dict[str, dict[str, str]]:
    """`ls -la` listings: directory ('' for the first) -> entry name -> mode string."""
    out: dict[str, dict[str, str]] = {}
    current = ""
    for line in text.splitlines():
        if m := re.fullmatch(r"'?([^']+)'?:", line.strip()):
            current = m.group(1)
            continue
        parts = line.split()
        if len(parts) >= 9 and re.fullmatch(r"[-dlrwxst]{10}", parts[0]):
            name = parts[8]
            if name not in (".", ".."):
                out.setdefault(current, {})[name] = parts[0]
    return out


def mode_bits(mode: str) -> int:
    """`-r--r--r--` -> 0o444."""
    bits = 0
    for i, ch in enumerate(mode[1:10]):
        if ch != "-":
            bits |= 1 << (8 - i)
    return bits


def parse_cat_transcript(text: str) -> dict[str, str]:
    """Shell transcripts of `cat <path>`: the path and the output lines that follow it."""
    out: dict[str, str] = {}
    path: str | None = None
    body: list[str] = []
    for line in text.splitlines() + [""]:
        m = re.match(r"^(?:\S*[$#] )?cat (/\S+)\s*$", line)
        if m or not line.strip():
            if path is not None and body:
                out[path] = "\n".join(body)
            path, body = (m.group(1), []) if m else (None, [])
            continue
        if path is not None:
            body.append(line.strip())
    return out


def parse_ls_then_cat_star(text: str) -> dict[str, str]:
    """`ls` then `cat *` in one directory: file names (glob order) paired with output lines."""
    lines = text.splitlines()
    names: list[str] = []
    values: list[str] = []
    for i, line in enumerate(lines):
        if line.rstrip().endswith("$ ls") and i + 1 < len(lines):
            names = sorted(lines[i + 1].split())
        if line.rstrip().endswith("$ cat *"):
            values = [v.strip() for v in lines[i + 1 : i + 1 + len(names)]]
    return dict(zip(names, values, strict=False))


def parse_zone_types(text: str) -> dict[int, str]:
    """`/sys/class/thermal/thermal_zoneN: TYPE` listings."""
    out = {}
    for m in re.finditer(r"thermal_zone(\d+): (\S+)", text):
        out[int(m.group(1))] = m.group(2)
    return out


def parse_zone_listing(text: str) -> list[tuple[str, float]]:
    """Script listings of `<type>  <temp> C` lines (temps in degrees C)."""
    return [
        (m.group(1), float(m.group(2)))
        for m in re.finditer(r"^([\w-]+-therm\w*|[\w-]+-thermal)\s+(-?[\d.]+) C$", text, re.M)
    ]


def _sysfs_stem(driver: str, label: str, position: int) -> str | None:
    """The hwmon file stem `sensors` printed a label for, by the drivers' numbering."""
    if re.fullmatch(r"(temp|power|in|curr|fan|energy)(\d+)", label):
        return label
    if driver == "coretemp":
        if label.startswith("Package id"):
            return "temp1"
        if m := re.fullmatch(r"Core (\d+)", label):
            return f"temp{int(m.group(1)) + 2}"
    if driver == "k10temp":
        if m := re.fullmatch(r"Tccd(\d+)", label):
            return f"temp{int(m.group(1)) + 2}"
        if label == "Tdie":
            return "temp2"
        if position == 0:
            return "temp1"  # Tctl, possibly relabelled by sensors.conf
    return None


def hwmon_files_from_sensors(text: str) -> dict[str, str]:
    """A /sys/class/hwmon tree (relative paths -> content) from `sensors` or `sensors -u`.

    Temperatures become millidegree `temp*_input`, watts microwatt `power*_input`; `N/A`
    values get no input file (the real file fails to read), labels are kept as printed.
    """
    files: dict[str, str] = {}
    for i, chip in enumerate(parse_sensors(text)):
        base = f"sys/class/hwmon/hwmon{i}"
        files[f"{base}/name"] = chip.driver
        for position, v in enumerate(chip.values):
            stem = v.sysfs or _sysfs_stem(chip.driver, v.label, position)
            if stem is None or v.value is None:
                continue
            scale = {"temp": 1000, "power": 1_000_000, "in": 1000, "curr": 1000}.get(
                re.sub(r"\d+$", "", stem), 1
            )
            files[f"{base}/{stem}_input"] = str(round(v.value * scale))
            if v.label != stem:
                files[f"{base}/{stem}_label"] = v.label
    return files


# --- replaying commands -----------------------------------------------------------------------


class RecordedLineStream:
    """Replays recorded tegrastats lines, one per `latest()`, then repeats the last."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self._i = 0

    def latest(self, wait_s: float = 0.0) -> str | None:
        if not self._lines:
            return None
        line = self._lines[min(self._i, len(self._lines) - 1)]
        self._i += 1
        return line

    def close(self) -> None:
        self._i = len(self._lines)


class RecordedCommandRunner:
    """A `CommandRunner` answering from a recorded root's manifest.

    Each argv has a list of outputs, returned in order and then the last one again, so a
    recording can move from idle to throttled. An unknown program is "not installed"; a known
    program with an unrecorded argument fails like an unsupported subcommand.
    """

    def __init__(self, root: Path) -> None:
        try:
            manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        self._commands: dict[str, list[str]] = manifest.get("commands", {})
        self._streams: dict[str, list[str]] = manifest.get("streams", {})
        self._calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, argv: Sequence[str], timeout_s: float) -> str:
        key = " ".join(argv)
        with self._lock:
            outputs = self._commands.get(key)
            if outputs is None:
                if not any(k.split(" ", 1)[0] == argv[0] for k in self._commands):
                    raise TelemetryError(f"{argv[0]} is not installed (not on PATH)")
                raise TelemetryError(f"{key} exited with status 1: not in this recording")
            i = self._calls.get(key, 0)
            self._calls[key] = i + 1
            return outputs[min(i, len(outputs) - 1)]

    def spawn(self, argv: Sequence[str]) -> RecordedLineStream:
        lines = self._streams.get(argv[0])
        if lines is None:
            raise TelemetryError(f"{argv[0]} is not installed (not on PATH)")
        return RecordedLineStream(list(lines))


def recorded_env(root: Path) -> SensorEnv:
    """A SensorEnv that reads a recorded root and replays its commands."""
    runner = RecordedCommandRunner(root)
    return SensorEnv(root=root, run=runner, simulated=True)


# --- building recorded roots ------------------------------------------------------------------


@dataclass
class _Tree:
    """Files to write below the root, plus the command manifest."""

    files: dict[str, str] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    streams: dict[str, list[str]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def put(self, path: str, value: str) -> None:
        self.files[path] = value


def _read(fixtures: Path, rel: str, tree: _Tree) -> str:
    tree.sources.append(rel)
    return (fixtures / rel).read_text(encoding="utf-8")


def _strip_comment_prefix(text: str) -> str:
    """The slowrunner Pi 5 capture was pasted as shell comments: drop the `# `."""
    return "\n".join(line.removeprefix("# ").removeprefix("#") for line in text.splitlines())


def _line(text: str, prefix: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(prefix):
            return stripped.split("  #", 1)[0].strip()  # drop an author's inline annotation
    raise TelemetryError(f"capture has no line starting with {prefix!r}")


def _build_rpi5(fixtures: Path, tree: _Tree) -> None:
    stress = _strip_comment_prefix(
        _read(fixtures, "rpi/vcgencmd_pi5_8gb_stress_slowrunner.txt", tree)
    )
    tree.commands["vcgencmd measure_temp"] = [_line(stress, "temp=") + "\n"]
    tree.commands["vcgencmd measure_clock arm"] = [_line(stress, "frequency(") + "\n"]
    tree.commands["vcgencmd get_throttled"] = [_line(stress, "throttled=") + "\n"]
    pmic = _read(fixtures, "rpi/vcgencmd_pmic_read_adc_pi5_2gb_load_zeus.txt", tree)
    tree.commands["vcgencmd pmic_read_adc"] = [pmic]


def _build_rpi3(fixtures: Path, tree: _Tree) -> None:
    idle = _read(fixtures, "rpi/vcgencmd_pi3bplus_idle_slowrunner.txt", tree)
    hot = _read(fixtures, "rpi/vcgencmd_pi3bplus_soft_temp_limit_0x80008_slowrunner.txt", tree)
    for argv, prefix in (
        ("vcgencmd measure_temp", "temp="),
        ("vcgencmd measure_clock arm", "frequency("),
        ("vcgencmd get_throttled", "throttled="),
    ):
        tree.commands[argv] = [_line(idle, prefix) + "\n", _line(hot, prefix) + "\n"]


def _build_jetson_agx_orin(fixtures: Path, tree: _Tree) -> None:
    audit = _read(
        fixtures, "jetson/thermal_zones_and_tegrastats_agx_orin_64gb_jp6.2.1_audit_unresolved.txt",
        tree,
    )
    for i, (kind, temp_c) in enumerate(parse_zone_listing(audit)):
        tree.put(f"sys/class/thermal/thermal_zone{i}/type", kind)
        tree.put(f"sys/class/thermal/thermal_zone{i}/temp", str(round(temp_c * 1000)))
    tree.streams["tegrastats"] = [
        line for line in audit.splitlines() if parse_tegrastats_log(line)
    ]
    clocks = parse_jetson_clocks_show(
        _read(fixtures, "jetson/jetson_clocks_show_agx_orin_64gb_jp5_catid_unresolved.txt", tree)
    )
    for cpu, rng in clocks.cpus_khz.items():
        base = f"sys/devices/system/cpu/{cpu}/cpufreq"
        tree.put(f"{base}/scaling_cur_freq", str(rng.current))
        tree.put(f"{base}/scaling_max_freq", str(rng.max))
        tree.put(f"{base}/scaling_min_freq", str(rng.min))
    ina = parse_find_cat(
        _read(fixtures, "jetson/ina3221_hwmon_agx_orin_1-0041_find_cat_partial_alumet212.txt", tree)
    )
    for path, value in ina.items():
        if value is not None:  # a read that failed with EIO in the capture stays absent
            tree.put(path.lstrip("/"), value)


def _build_jetson_nano(fixtures: Path, tree: _Tree) -> None:
    text = _read(fixtures, "jetson/tegrastats_nano_jp4_sudo_datadog.txt", tree)
    sample = parse_tegrastats_log(text)[0]
    # tegrastats prints the JP4 iio `in_power<n>_input` files; write them back in print order.
    dev = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    for n, rail in enumerate(sample.rails):
        tree.put(f"{dev}/rail_name_{n}", rail.name)
        tree.put(f"{dev}/in_power{n}_input", str(int(rail.power_mw)))
    types = parse_zone_types(_read(fixtures, "jetson/thermal_zone_types_nano_2gb_jp4.txt", tree))
    for n, kind in types.items():
        tree.put(f"sys/class/thermal/thermal_zone{n}/type", kind)  # no temp was captured
    tree.streams["tegrastats"] = [text.strip()]


def _build_x86_rapl(fixtures: Path, tree: _Tree) -> None:
    info = parse_powercap_info(
        _read(fixtures, "x86/rapl_powercap_info_laptop_excerpt_mangohud1776.txt", tree)
    )
    base = "sys/devices/virtual/powercap/intel-rapl"
    for zone_id, files in info.items():
        parts = zone_id.split(":")
        rel = "/".join(f"intel-rapl:{':'.join(parts[: i + 1])}" for i in range(len(parts)))
        for name, value in files.items():
            tree.put(f"{base}/{rel}/{name}", value)
        tree.links[f"sys/class/powercap/intel-rapl:{zone_id}"] = f"{base}/{rel}"
    listing = parse_ls_la(
        _read(fixtures, "x86/rapl_ls_permissions_excerpt_thermald401.txt", tree)
    )
    for name, mode in listing.get("/sys/class/powercap/intel-rapl/intel-rapl:0", {}).items():
        if not mode.startswith("d"):
            tree.modes[f"{base}/intel-rapl:0/{name}"] = mode_bits(mode)
    for path, value in parse_grep_dump(
        _read(fixtures, "x86/thermal_zone0_acpitz_grep_excerpt_thermald231.txt", tree)
    ).items():
        if "/power/" not in path:
            tree.put(path.lstrip("/"), value)
    # the zone's hwmon mirror is also listed under /sys/class/hwmon
    tree.links["sys/class/hwmon/hwmon0"] = "sys/class/thermal/thermal_zone0/hwmon0"
    tree.put("sys/class/thermal/thermal_zone0/type", "acpitz")  # hwmon0/name in the capture
    krun = _read(fixtures, "x86/thermal_throttle_zero_and_trm_interrupts_krun349.txt", tree)
    for name, value in parse_ls_then_cat_star(krun).items():
        tree.put(f"sys/devices/system/cpu/cpu0/thermal_throttle/{name}", value)
    tree.put("proc/interrupts", _line(krun, "TRM:") + "\n")


def _build_x86_amd(fixtures: Path, tree: _Tree) -> None:
    text = _read(fixtures, "x86/sensors_u_k10temp_tctl_tdie_lmsensors339.txt", tree)
    for rel, value in hwmon_files_from_sensors(text).items():
        tree.put(rel, value)
    # energymon found "No RAPL zones" on this AMD generation: no powercap tree is written.
    _read(fixtures, "x86/turbostat_amd_family1a_rapl_units_excerpt_energymon53.txt", tree)


def _build_x86_nvidia(fixtures: Path, tree: _Tree) -> None:
    text = _read(fixtures, "nvml/nvidia_smi_query_csv_driver520_ksysguard27.txt", tree)
    header, *rows = [ln for ln in text.splitlines() if ln.strip()]
    # The capture queried these columns; the replay answers the agent's own query with them.
    argv = f"nvidia-smi --query-gpu={','.join(QUERY_FIELDS)} --format=csv"
    tree.commands[argv] = [f"{header}\n{row}\n" for row in rows]


Builder = Callable[[Path, _Tree], None]
KINDS: dict[str, tuple[str, Builder]] = {
    "rpi5": ("Raspberry Pi 5 under load: vcgencmd temp/clock/throttled (8 GB, slowrunner) + "
             "pmic_read_adc (2 GB, zeus)", _build_rpi5),
    "rpi3": ("Raspberry Pi 3B+ going from idle to the 60 C soft limit (0x80008, 1.2 GHz)",
             _build_rpi3),
    "jetson-orin": ("AGX Orin 64 GB JP6.2.1: thermal zones + tegrastats (audit capture), "
                    "cpufreq from jetson_clocks --show (JP5), INA3221 1-0041 partial dump",
                    _build_jetson_agx_orin),
    "jetson-nano": ("Jetson Nano JP4: INA3221 iio rails as tegrastats printed them, zone types",
                    _build_jetson_nano),
    "x86-rapl": ("Intel laptop: powercap package-0/core/uncore (powercap-info), file modes "
                 "(thermald #401), acpitz zone + hwmon (thermald #231), throttle counters "
                 "and TRM (krun #349)", _build_x86_rapl),
    "x86-amd": ("AMD desktop: k10temp Tctl/Tdie (sensors -u), no RAPL zone (energymon #53)",
                _build_x86_amd),
    "x86-nvidia": ("GeForce on driver 520: nvidia-smi CSV rows replayed in order",
                   _build_x86_nvidia),
}


def build_recorded_root(kind: str, fixtures: Path, out: Path) -> Path:
    """Write the recorded device `kind` below `out` and return the root to read it from."""
    if kind not in KINDS:
        raise ValueError(f"unknown recorded device {kind!r}; known: {', '.join(KINDS)}")
    tree = _Tree()
    KINDS[kind][1](fixtures, tree)
    out.mkdir(parents=True, exist_ok=True)
    for rel, value in tree.files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value if value.endswith("\n") else value + "\n", encoding="utf-8")
    for rel, mode in tree.modes.items():
        if (out / rel).exists():
            (out / rel).chmod(mode)
    for rel, target in tree.links.items():
        link = out / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():  # relative: the root can be copied elsewhere (onto a board)
            link.symlink_to(os.path.relpath(out / target, link.parent), target_is_directory=True)
    manifest = {
        "kind": kind,
        "description": KINDS[kind][0],
        "fixtures": tree.sources,
        "commands": tree.commands,
        "streams": tree.streams,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out
