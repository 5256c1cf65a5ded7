"""`rigbench run` with OpenVINO beside ONNX Runtime, profiled, then `rigbench ops` and `rank`.

A spawned local agent, real gRPC, a real DuckDB file; the generated CNN and magika's
file-type classifier (a pinned PyPI wheel). The OpenVINO IR variant travels as two files.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from rigbench.agent.runtimes.openvino import import_openvino
from rigbench.controller.cli import app
from tests.thirdparty import thirdparty_model

pytestmark = pytest.mark.e2e
if import_openvino() is None:  # imported with its usage telemetry off
    pytest.skip("OpenVINO is not installed", allow_module_level=True)

PLAN = """\
name: ov
models:
  - name: cnn
    generate: {{size: small, seed: 0}}
    variants: [fp32, int8-dynamic, openvino-ir]
    accuracy: {{samples: 4}}
  - name: magika
    path: {magika}
    inputs: {{bytes: {{shape: [1, 2048], range: [0, 256]}}}}
    variants: [fp32, openvino-ir]
    accuracy: {{samples: 4}}
runtimes:
  - {{name: ort, runtime: onnxruntime, threads: 1, profile: true}}
  - {{name: ov, runtime: openvino, threads: 1, profile: true,
      options: {{inference_precision: f32}}}}
measurement: {{min_iterations: 20, min_duration_s: 0, warmup_iterations: 2}}
telemetry: {{enabled: false}}
"""


def cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, [*args, "--store", str(tmp_path / "rb.duckdb")])
    return r.exit_code, r.output


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("ov")
    plan = tmp / "plan.yaml"
    plan.write_text(PLAN.format(magika=thirdparty_model("magika")))
    r = CliRunner().invoke(
        app,
        ["run", str(plan), "--store", str(tmp / "rb.duckdb"), "--work", str(tmp / "work")],
    )
    assert r.exit_code == 0, r.output
    return tmp


def rows(tmp: Path, sql: str) -> list[dict]:
    con = duckdb.connect(str(tmp / "rb.duckdb"), read_only=True)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


def job(tmp: Path, model: str, variant: str, runtime: str) -> str:
    (r,) = rows(
        tmp,
        f"SELECT job_id FROM results WHERE model = '{model}' AND variant = '{variant}' "
        f"AND runtime_name = '{runtime}'",
    )
    return str(r["job_id"])


def test_openvino_runs_the_onnx_file_and_the_ir_with_onnxruntime_s_answers(ran: Path) -> None:
    got = rows(
        ran,
        "SELECT r.model, r.variant, r.runtime_name, r.providers_used, a.max_rel_err "
        "FROM results r JOIN accuracy a ON a.job_id = r.job_id AND a.output = '*'",
    )
    seen = {(g["model"], g["variant"], g["runtime_name"]): g for g in got}
    assert set(seen) == {
        ("cnn", "fp32", "ort"),
        ("cnn", "int8-dynamic", "ort"),
        ("cnn", "fp32", "ov"),
        ("cnn", "openvino-ir", "ov"),
        ("cnn", "int8-dynamic", "ov"),
        ("magika", "fp32", "ort"),
        ("magika", "fp32", "ov"),
        ("magika", "openvino-ir", "ov"),
    }
    for model in ("cnn", "magika"):
        for variant in ("fp32", "openvino-ir"):
            g = seen[(model, variant, "ov")]
            assert g["providers_used"] == "CPU"
            assert g["max_rel_err"] < 1e-4, g  # the same network, f32 kernels


def test_the_ir_weights_are_stored_as_a_companion_of_the_graph(ran: Path) -> None:
    (xml,) = rows(
        ran,
        "SELECT sha256 FROM artifacts "
        "WHERE model = 'cnn' AND variant = 'openvino-ir' AND format = 'openvino-ir'",
    )
    (part,) = rows(ran, "SELECT * FROM artifacts WHERE transform = 'companion' AND model = 'cnn'")
    assert part["source_sha256"] == xml["sha256"]
    assert json.loads(part["params_json"]) == {"name": "model.bin"}


def test_every_profiled_job_has_operator_rows_whose_shares_sum_to_one(ran: Path) -> None:
    heads = rows(ran, "SELECT * FROM op_profiles")
    assert len(heads) == 8
    for h in heads:
        (s,) = rows(
            ran,
            f"SELECT sum(share) AS s, count(*) AS n FROM op_rows WHERE job_id = '{h['job_id']}'",
        )
        assert s["n"] > 3 and s["s"] == pytest.approx(1.0), h
        assert h["off_unit_time_share"] == 0.0 and h["wall_ns"] > 0


def test_ops_lists_a_job_s_operators_by_a_short_prefix(ran: Path) -> None:
    jid = job(ran, "cnn", "openvino-ir", "ov")
    code, out = cli(ran, "ops", jid.split(".")[1][:8], "--top", "3")
    assert code == 0, out
    assert jid in out and "kernel" in out and "placement: requested CPU" in out
    assert "off the requested unit: none" in out
    code, out = cli(ran, "ops", jid, "--format", "json")
    data = json.loads(out)
    assert len(data) == 15 or len(data) == len(
        rows(ran, f"SELECT 1 FROM op_rows WHERE job_id = '{jid}'")
    )
    assert {"node", "op_type", "exec_unit", "kernel", "share_pct"} <= set(data[0])


def test_ops_compare_shows_what_int8_dynamic_spends_its_time_on(ran: Path) -> None:
    fp32, int8 = job(ran, "cnn", "fp32", "ort"), job(ran, "cnn", "int8-dynamic", "ort")
    code, out = cli(ran, "ops", fp32, "--compare", int8, "--format", "json")
    assert code == 0, out
    by_type = {r["op_type"]: r for r in json.loads(out)}
    assert (
        "ConvInteger" in by_type or "QLinearConv" in by_type or "DynamicQuantizeLinear" in by_type
    )
    assert by_type["Conv"]["ms_b"] is None or by_type["Conv"]["ms_b"] < by_type["Conv"]["ms_a"]


def test_ops_errors_are_one_line(ran: Path) -> None:
    code, out = cli(ran, "ops", "nosuchjob")
    assert code == 2 and out.startswith("error: no job matches 'nosuchjob'")
    assert out.count("\n") == 1
    run_prefix = job(ran, "cnn", "fp32", "ort").split(".")[0]
    code, out = cli(ran, "ops", run_prefix)
    assert code == 2 and "is ambiguous" in out
    code, out = cli(ran, "ops", job(ran, "cnn", "fp32", "ort"), "--top", "-3")
    assert code == 2 and out.startswith("error: ") and "--top" in out and out.count("\n") == 1


def test_rank_shows_the_share_of_time_off_the_requested_unit(ran: Path) -> None:
    code, out = cli(ran, "rank", "--model", "cnn")
    assert code == 0, out
    header = next(line for line in out.splitlines() if line.startswith("rank"))
    assert "% time off unit" in header


def test_the_html_report_draws_operator_bars_for_the_top_choices(ran: Path) -> None:
    out = ran / "report.html"
    code, text = cli(ran, "report", "--model", "cnn", "--html", str(out))
    assert code == 0, text
    html = out.read_text()
    assert html.count("<h3>Where the time goes") == 1
    assert 1 <= html.count("Top operators of") <= 3 * 2  # svg label + caption per choice
    assert "% time off unit" in html and "ms per inference" in html
