"""The nightly verdict as JUnit XML, the format every CI system can display.

One test suite per device; one test case per device x series x metric (classname
``device.model.variant.runtime.scenario``, name the metric), plus one "device" case per device
for its health. Regressions and jobs that now fail are failures; farm problems are errors;
new baselines and comparisons without enough data are skipped; the rest pass, with their
numbers in system-out so a CI page shows them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from rigbench.controller.nightly.evaluate import BAD_DEVICE_STATES, Comparison, NightlyReport
from rigbench.controller.nightly.verdicts import Outcome
from rigbench.reports.nightly_markdown import METRIC_LABEL, details, fmt_change, title

SKIPPED = (Outcome.NEW_BASELINE, Outcome.NOT_ENOUGH_DATA)


def _part(text: str) -> str:
    return text.replace(".", "_") or "_"


def classname(c: Comparison) -> str:
    return ".".join(_part(p) for p in (c.device, c.model, c.variant, c.runtime_name, c.scenario))


def _case(parent: ET.Element, c: Comparison) -> str:
    """Append one test case; returns its kind: passed, failure, error or skipped."""
    case = ET.SubElement(parent, "testcase", classname=classname(c), name=c.metric, time="0")
    text = "\n".join([title(c), *details(c)])
    headline = f"{c.outcome.value}: {title(c)}" + (f" {fmt_change(c)}" if fmt_change(c) else "")
    if c.outcome in (Outcome.REGRESSION, Outcome.FAILED):
        kind = "failure"
        ET.SubElement(case, "failure", type=c.outcome.value, message=headline).text = text
    elif c.outcome is Outcome.ERROR:
        kind = "error"
        ET.SubElement(case, "error", type="farm", message=headline).text = text
    elif c.outcome is Outcome.NOT_ENOUGH_EVIDENCE:
        kind = "error"
        ET.SubElement(case, "error", type="noisy", message=headline).text = text
    elif c.outcome in SKIPPED:
        kind = "skipped"
        ET.SubElement(case, "skipped", message=f"{c.outcome.value}: {c.message}")
    else:
        kind = "passed"
    ET.SubElement(case, "system-out").text = text
    return kind


def _counts(kinds: Iterable[str]) -> dict[str, str]:
    ks = list(kinds)
    return {
        "tests": str(len(ks)),
        "failures": str(ks.count("failure")),
        "errors": str(ks.count("error")),
        "skipped": str(ks.count("skipped")),
    }


def render_junit(report: NightlyReport) -> str:
    """The XML document, with a declaration."""
    root = ET.Element("testsuites", name=f"rigbench nightly {report.plan_name}")
    all_kinds: list[str] = []
    devices = sorted({c.device for c in report.comparisons} | {d.device for d in report.devices})
    states = {d.device: d for d in report.devices}
    stamp = report.started_at.isoformat(timespec="seconds") if report.started_at else ""
    for device in devices:
        suite = ET.SubElement(
            root, "testsuite", name=f"rigbench.nightly.{_part(device)}", timestamp=stamp
        )
        props = ET.SubElement(suite, "properties")
        for name, value in (
            ("run_id", report.run_id),
            ("plan", report.plan_name),
            ("pinned_run", report.pinned_run or ""),
            ("canary_run_id", report.canary_run_id or ""),
        ):
            ET.SubElement(props, "property", name=name, value=value)
        kinds: list[str] = []
        state = states.get(device)
        if state is not None:
            case = ET.SubElement(
                suite, "testcase", classname=_part(device), name="device", time="0"
            )
            text = f"{state.state}: {state.message}".strip()
            if state.state in BAD_DEVICE_STATES:
                ET.SubElement(case, "error", type=state.state, message=text).text = text
                kinds.append("error")
            else:
                kinds.append("passed")
            ET.SubElement(case, "system-out").text = text
        for c in report.comparisons:
            if c.device == device:
                kinds.append(_case(suite, c))
        for k, v in _counts(kinds).items():
            suite.set(k, v)
        all_kinds += kinds
    for k, v in _counts(all_kinds).items():
        root.set(k, v)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


__all__ = ["METRIC_LABEL", "classname", "render_junit"]
