"""The whole-run report as JSON, for machines: rankings, histograms and soak timelines."""

from __future__ import annotations

import json
from typing import Any

from rigbench.controller.ranking.bundle import ModelSection, ReportBundle
from rigbench.reports.rank_format import clean, ranking_dict


def _section(s: ModelSection) -> dict[str, Any]:
    return {
        "ranking": ranking_dict(s.ranking),
        "latency_histograms": {
            "edges_ms": s.histograms.edges_ms,
            "counts": s.histograms.counts,
        },
        "soak_timelines": [
            {
                "job_id": t.job_id,
                "device": t.device,
                "variant": t.variant,
                "runtime_name": t.runtime_name,
                "simulated": t.simulated,
                "temperature_c": [
                    {"label": x.label, "t_s": x.t_s, "values": x.values} for x in t.temperature
                ],
                "power_w": [{"label": x.label, "t_s": x.t_s, "values": x.values} for x in t.power],
                "windows": t.windows,
            }
            for t in s.timelines
        ],
    }


def bundle_dict(bundle: ReportBundle) -> dict[str, Any]:
    return clean(
        {
            "run": bundle.run.to_dict(),
            "generated_at": bundle.generated_at.isoformat(),
            "notes": bundle.notes,
            "failed_jobs": [f.to_dict() for f in bundle.failed],
            "not_measured": [f.to_dict() for f in bundle.skipped],
            "models": [_section(s) for s in bundle.sections],
        }
    )


def render_bundle_json(bundle: ReportBundle) -> str:
    return json.dumps(bundle_dict(bundle), indent=2, default=str)
