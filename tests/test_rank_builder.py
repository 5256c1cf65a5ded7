"""The ranking builder (tests/builders/ranking.py) stores what the results query reads."""

from __future__ import annotations

from pathlib import Path

from tests.builders.ranking import PI_COST, RunBuilder, lognormal_ns, new_store


def test_builder_stores_results_that_the_results_query_reads(tmp_path: Path) -> None:
    from rigbench.controller.store import queries

    store = new_store(tmp_path)
    b = RunBuilder(store).device("pi", PI_COST)
    b.result("pi", "fp32", lognormal_ns(2.0), power_mw=5000, energy_source="rpi:total")
    b.finish()
    rows = queries.results(store, "run-1")
    assert [(r["device"], r["variant"]) for r in rows] == [("pi", "fp32")]
    assert abs(rows[0]["p50_ms"] - 2.0) < 0.05
