"""A device's sensor settings: one `sensors:` mapping, checked by each source's own schema,
carried to the agent as `--sensor SOURCE.KEY=VALUE` options and reported back by Describe.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigbench.agent.cli import build_parser, config_from_args
from rigbench.agent.telemetry.base import SensorEnv, SourceStatus
from rigbench.agent.telemetry.external import ExternalMeterSource
from rigbench.agent.telemetry.settings import check_settings, from_options, to_options
from rigbench.controller.inventory import load_inventory
from rigbench.errors import AgentError, InventoryError

METER = {"external": {"command": "echo 23.4"}}


def test_a_configured_meter_reaches_the_source_through_the_environment():
    env = SensorEnv(settings=check_settings(METER))
    assert ExternalMeterSource.probe(env).status is SourceStatus.AVAILABLE


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"wallplug": {"command": "x"}}, "no configurable sensor source 'wallplug'; sources: "
         "external"),
        ({"rapl": {"x": "1"}}, "no configurable sensor source 'rapl'"),
        ({"external": {"cmd": "x"}}, "external takes command, not 'cmd'"),
        ({"external": {"command": "  "}}, "external.command is empty"),
        ({"external": {"command": "meter 'unclosed"}}, "cannot be split into words"),
    ],
)
def test_a_setting_no_source_takes_is_refused_naming_what_is_taken(settings, message):
    with pytest.raises(ValueError, match=message):
        check_settings(settings)


def test_equal_settings_compare_equal_whatever_their_order():
    a = check_settings({"external": {"command": "m"}})
    assert a == check_settings(dict(reversed(list({"external": {"command": "m"}}.items()))))
    assert check_settings({"external": {}}) == {}


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1)
       .filter(lambda t: t.strip()).filter(lambda t: _splits(t)))
def test_settings_survive_the_trip_through_agent_options(command: str):
    settings = {"external": {"command": command}}
    options = to_options(settings)
    assert options[0] == "--sensor"
    assert from_options(options[1::2]) == settings
    args = build_parser().parse_args(["--home", "/tmp/x", *options])
    assert config_from_args(args).sensor_settings == settings


def _splits(text: str) -> bool:
    try:
        shlex.split(text)
    except ValueError:
        return False
    return True


def test_the_agents_external_meter_option_is_the_same_setting():
    args = build_parser().parse_args(["--external-meter", "echo 5"])
    assert config_from_args(args).sensor_settings == {"external": {"command": "echo 5"}}


@pytest.mark.parametrize("word", ["external", "external=1", ".command=x", "external.=x"])
def test_a_malformed_sensor_option_is_one_line_with_the_form(word: str):
    args = build_parser().parse_args(["--sensor", word])
    with pytest.raises(AgentError, match=r"--sensor takes SOURCE\.KEY=VALUE"):
        config_from_args(args)


def test_the_inventory_gives_each_device_its_sensors(tmp_path: Path):
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "devices:\n"
        "  - name: pc\n    class: x86\n    grpc: {address: '127.0.0.1:1'}\n"
        "    sensors: {external: {command: 'tplink --watts'}}\n"
        "  - name: me\n    class: local\n"
    )
    devices = load_inventory(inv)
    assert devices.get("pc").sensors == {"external": {"command": "tplink --watts"}}
    assert devices.get("me").sensors == {}


def test_a_bad_sensor_setting_in_the_inventory_names_file_line_and_the_fix(tmp_path: Path):
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "devices:\n  - name: pc\n    class: local\n    sensors:\n      external: {cmd: x}\n"
    )
    with pytest.raises(InventoryError) as e:
        load_inventory(inv)
    assert f"{inv}:" in str(e.value) and "external takes command, not 'cmd'" in str(e.value)


def test_the_old_external_meter_field_says_where_it_moved(tmp_path: Path):
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "devices:\n  - name: pc\n    class: local\n    local: {external_meter: 'm --watts'}\n"
    )
    with pytest.raises(InventoryError, match=r"sensors: \{external: \{command: \.\.\.\}\}"):
        load_inventory(inv)
