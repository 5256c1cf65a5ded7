"""inventory.yaml and plan files: errors that name file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rigbench.controller.inventory import DEFAULT_INVENTORY, load_inventory
from rigbench.controller.plan import load_plan
from rigbench.controller.yamlfile import load_yaml
from rigbench.errors import ConfigError, InventoryError, PlanError


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text).lstrip("\n"))
        return p

    return write


def inventory_error(path: Path) -> str:
    with pytest.raises(InventoryError) as e:
        load_inventory(path)
    return str(e.value)


def plan_error(path: Path) -> str:
    with pytest.raises(PlanError) as e:
        load_plan(path)
    return str(e.value)


MINIMAL_PLAN = """
name: p
models:
  - name: m
    path: models/m.onnx
runtimes:
  - name: ort
    runtime: onnxruntime
"""

# --- yamlfile ---------------------------------------------------------------------------------


def test_yaml_keys_map_to_their_lines(write) -> None:  # type: ignore[no-untyped-def]
    p = write("f.yaml", "a: 1\nb:\n  - x: 2\n    y: 3\n")
    data, lines = load_yaml(p)
    assert data == {"a": 1, "b": [{"x": 2, "y": 3}]}
    assert lines[("a",)] == 1
    assert lines[("b", 0)] == 3
    assert lines[("b", 0, "y")] == 4


def test_bad_yaml_syntax_names_file_and_line(write) -> None:  # type: ignore[no-untyped-def]
    p = write("inventory.yaml", "devices:\n  - name: a\n\tclass: local\n")
    with pytest.raises(ConfigError, match=r"inventory\.yaml:3: not valid YAML"):
        load_inventory(p)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_yaml(tmp_path / "nope.yaml")


def test_empty_file_reports_the_missing_top_level_field(write) -> None:  # type: ignore[no-untyped-def]
    msg = inventory_error(write("inventory.yaml", ""))
    assert "inventory.yaml" in msg and "devices: Field required" in msg


# --- inventory --------------------------------------------------------------------------------


def test_valid_inventory_loads(write) -> None:  # type: ignore[no-untyped-def]
    inv = load_inventory(
        write(
            "inventory.yaml",
            """
            devices:
              - name: box
                class: local
                tags: [ci]
              - name: pi
                class: rpi
                ssh: {host: pi.lab, user: bench}
                cost: {purchase_usd: 80}
            """,
        )
    )
    assert inv.names() == ["box", "pi"]
    assert inv.get("box").transport == "local"
    assert inv.get("pi").transport == "ssh"


def test_misspelt_field_names_file_line_and_suggests_the_field(write) -> None:  # type: ignore[no-untyped-def]
    p = write(
        "inventory.yaml",
        """
        devices:
          - name: a
            class: local
            tgas: [x]
        """,
    )
    msg = inventory_error(p)
    assert f"{p}:4: devices[0].tgas: unknown field (did you mean 'tags'?)" in msg


def test_misspelt_nested_field_suggests_the_nested_name(write) -> None:  # type: ignore[no-untyped-def]
    p = write(
        "inventory.yaml",
        """
        devices:
          - name: pi
            class: rpi
            ssh:
              host: pi.lab
              usr: bench
        """,
    )
    msg = inventory_error(p)
    assert f"{p}:6: devices[0].ssh.usr: unknown field (did you mean 'user'?)" in msg


def test_misspelt_aliased_field_suggests_the_name_used_in_the_file(write) -> None:  # type: ignore[no-untyped-def]
    p = write(
        "inventory.yaml",
        """
        devices:
          - name: a
            clas: local
        """,
    )
    msg = inventory_error(p)
    assert "devices[0].clas: unknown field (did you mean 'class'?)" in msg
    assert "device_class" not in msg


def test_missing_required_field_names_the_item_line(write) -> None:  # type: ignore[no-untyped-def]
    p = write(
        "inventory.yaml",
        """
        devices:
          - name: a
            class: local
          - class: local
        """,
    )
    assert f"{p}:4: devices[1].name: Field required" in inventory_error(p)


def test_wrong_value_names_the_field_and_line(write) -> None:  # type: ignore[no-untyped-def]
    p = write(
        "inventory.yaml",
        """
        devices:
          - name: a
            class: mainframe
        """,
    )
    msg = inventory_error(p)
    assert f"{p}:3: devices[0].class:" in msg
    assert "'rpi'" in msg


def test_two_transports_are_refused(write) -> None:  # type: ignore[no-untyped-def]
    p = write(
        "inventory.yaml",
        """
        devices:
          - name: a
            class: x86
            grpc: {address: "a.lab:50151"}
            ssh: {host: a.lab, user: u}
        """,
    )
    assert f"{p}:2: devices[0]: Value error, choose one transport, not grpc and ssh" in (
        inventory_error(p)
    )


def test_no_transport_is_refused_for_a_remote_class(write) -> None:  # type: ignore[no-untyped-def]
    p = write("inventory.yaml", "devices:\n  - name: pi\n    class: rpi\n")
    assert "devices[0]: Value error, a device needs a transport: local, grpc or ssh" in (
        inventory_error(p)
    )


def test_local_class_without_transport_is_local(write) -> None:  # type: ignore[no-untyped-def]
    inv = load_inventory(write("inventory.yaml", "devices:\n  - name: me\n    class: local\n"))
    assert inv.get("me").transport == "local"


def test_duplicate_device_names_are_refused(write) -> None:  # type: ignore[no-untyped-def]
    p = write(
        "inventory.yaml",
        "devices:\n  - {name: a, class: local}\n  - {name: a, class: local}\n",
    )
    assert "device name 'a' is used twice" in inventory_error(p)


def test_invalid_device_name_is_refused(write) -> None:  # type: ignore[no-untyped-def]
    p = write("inventory.yaml", "devices:\n  - {name: ../a, class: local}\n")
    assert "devices[0].name" in inventory_error(p)


def test_both_prices_are_refused(write) -> None:  # type: ignore[no-untyped-def]
    p = write(
        "inventory.yaml",
        "devices:\n  - name: a\n    class: local\n    cost: {hourly_usd: 1, purchase_usd: 9}\n",
    )
    assert f"{p}:4: devices[0].cost: Value error, give either hourly_usd" in inventory_error(p)


def test_default_inventory_is_one_local_device(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    inv = load_inventory(None)
    assert inv is DEFAULT_INVENTORY
    assert [(d.name, d.transport) for d in inv.devices] == [("local", "local")]


def test_inventory_yaml_in_the_working_folder_is_used(write, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    write("inventory.yaml", "devices:\n  - {name: here, class: local}\n")
    monkeypatch.chdir(tmp_path)
    assert load_inventory(None).names() == ["here"]


def test_unknown_device_in_selection_names_it_and_the_known_ones() -> None:
    with pytest.raises(InventoryError, match=r"unknown device 'nope'; the inventory has: local"):
        DEFAULT_INVENTORY.select(names=["nope"])


def test_unknown_device_class_in_selection_lists_the_classes() -> None:
    with pytest.raises(InventoryError, match=r"unknown device class 'gpu'; classes: local, x86"):
        DEFAULT_INVENTORY.select(classes=["gpu"])


def test_selection_by_name_tag_or_class(write) -> None:  # type: ignore[no-untyped-def]
    inv = load_inventory(
        write(
            "inventory.yaml",
            """
            devices:
              - {name: a, class: local, tags: [fast]}
              - {name: b, class: rpi, ssh: {host: b, user: u}}
              - {name: c, class: jetson, tags: [gpu], grpc: {address: "c:1"}}
            """,
        )
    )
    assert [d.name for d in inv.select()] == ["a", "b", "c"]
    assert [d.name for d in inv.select(names=["b"])] == ["b"]
    assert [d.name for d in inv.select(tags=["gpu"])] == ["c"]
    assert [d.name for d in inv.select(classes=["rpi"], tags=["fast"])] == ["a", "b"]


# --- plan -------------------------------------------------------------------------------------


def test_minimal_plan_loads_with_paths_relative_to_the_plan(write, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plan = load_plan(write("plan.yaml", MINIMAL_PLAN))
    assert plan.models[0].path == tmp_path.resolve() / "models" / "m.onnx"
    assert plan.runtimes[0].config().runtime == "onnxruntime"


def test_misspelt_plan_field_names_line_and_suggests(write) -> None:  # type: ignore[no-untyped-def]
    p = write("plan.yaml", MINIMAL_PLAN + "    provider: [cpu]\n")
    assert f"{p}:8: runtimes[0].provider: unknown field (did you mean 'providers'?)" in (
        plan_error(p)
    )


def test_misspelt_measurement_field_suggests(write) -> None:  # type: ignore[no-untyped-def]
    p = write("plan.yaml", MINIMAL_PLAN + "measurement:\n  min_iteration: 5\n")
    assert f"{p}:9: measurement.min_iteration: unknown field (did you mean 'min_iterations'?)" in (
        plan_error(p)
    )


def test_unknown_runtime_lists_the_known_ones(write) -> None:  # type: ignore[no-untyped-def]
    p = write("plan.yaml", MINIMAL_PLAN.replace("runtime: onnxruntime", "runtime: tensorrt"))
    msg = plan_error(p)
    assert f"{p}:7: runtimes[0].runtime:" in msg
    assert "unknown runtime 'tensorrt'; known runtimes: onnxruntime, litert" in msg


def test_model_needs_exactly_one_source(write) -> None:  # type: ignore[no-untyped-def]
    p = write("plan.yaml", MINIMAL_PLAN.replace("    path: models/m.onnx\n", ""))
    assert "give exactly one of path (a model file) or generate" in plan_error(p)
    p = write("plan.yaml", MINIMAL_PLAN + "    generate: {size: tiny}\n")
    # The generate key lands after runtimes[0]: it is a runtime field there, not a model's.
    assert "runtimes[0].generate: unknown field" in plan_error(p)


def test_duplicate_model_names_are_refused(write) -> None:  # type: ignore[no-untyped-def]
    p = write(
        "plan.yaml",
        MINIMAL_PLAN.replace("runtimes:", "  - name: m\n    generate: {size: tiny}\nruntimes:"),
    )
    assert "model name(s) used twice: m" in plan_error(p)


def test_plan_needs_a_model_and_a_runtime(write) -> None:  # type: ignore[no-untyped-def]
    msg = plan_error(write("plan.yaml", "name: p\nmodels: []\nruntimes: []\n"))
    assert "models:" in msg and "runtimes:" in msg


def test_out_of_range_setting_names_the_field(write) -> None:  # type: ignore[no-untyped-def]
    p = write("plan.yaml", MINIMAL_PLAN + "measurement:\n  ci_confidence: 1.5\n")
    assert f"{p}:9: measurement.ci_confidence:" in plan_error(p)


def test_plan_errors_are_plan_errors_and_bad_yaml_names_the_plan(write) -> None:  # type: ignore[no-untyped-def]
    p = write("plan.yaml", "name: p\nmodels: [\n")
    with pytest.raises(ConfigError, match=r"plan\.yaml:\d+: not valid YAML"):
        load_plan(p)
