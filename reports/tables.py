"""Render rows as a terminal table, JSON or CSV: the formats every CLI listing offers."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

NOT_AVAILABLE = "n/a"


def _cell(v: Any, digits: int = 3) -> str:
    if v is None:
        return NOT_AVAILABLE
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, dict)):
        return json.dumps(v, default=str)
    if isinstance(v, float):
        if math.isnan(v):
            return NOT_AVAILABLE
        if v != 0 and (abs(v) < 10**-digits or abs(v) >= 1e6):
            return f"{v:.{digits}g}"
        return f"{v:.{digits}f}"
    return str(v)


def to_text(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    title: str | None = None,
    max_width: int | None = None,
    uncut: Sequence[str] = (),
) -> str:
    """A plain aligned table; missing figures print as n/a, never 0.

    With ``max_width``, the widest text columns are cut (ending in "~") until the table fits;
    numbers, and the columns named in ``uncut`` (ids a reader types back), never are.
    """
    header = [h for _, h in columns]
    body = [[_cell(r.get(k)) for k, _ in columns] for r in rows]
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)
    ]
    if max_width is not None:
        keep = {i for i, (k, _) in enumerate(columns) if k in uncut}
        widths = _fit(widths, body, max_width, keep)
        body = [[_cut(c, w) for c, w in zip(b, widths)] for b in body]
        header = [_cut(h, w) for h, w in zip(header, widths)]
    lines = []
    if title:
        lines.append(title)
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    for b in body:
        lines.append(
            "  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(b, widths)).rstrip()
        )
    return "\n".join(lines)


def _fit(widths: list[int], body: list[list[str]], max_width: int, keep: set[int]) -> list[int]:
    """Narrow the widest text columns (never below 6 characters) until the table fits."""
    widths = list(widths)
    text = [
        i for i in range(len(widths)) if i not in keep and not all(_numeric(b[i]) for b in body)
    ]
    while sum(widths) + 2 * (len(widths) - 1) > max_width:
        wide = [i for i in text if widths[i] > 6]
        if not wide:
            break
        i = max(wide, key=lambda k: widths[k])
        widths[i] -= 1
    return widths


def _cut(s: str, width: int) -> str:
    return s if len(s) <= width else s[: width - 1] + "~"


def _numeric(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _jsonable(v: Any) -> Any:
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"  # JSON has no infinity; an SNR of equal outputs is
    return v


def _json_default(v: Any) -> Any:
    """Values DuckDB returns that JSON has no type for: numbers stay numbers."""
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, timedelta):
        return v.total_seconds()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return str(v)  # UUID, and anything else: its text


def to_json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(
        [{k: _jsonable(v) for k, v in r.items()} for r in rows], indent=2, default=_json_default
    )


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``outer.inner`` columns, lists as JSON text: one CSV cell each."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, f"{name}."))
        elif isinstance(v, (list, tuple)):
            out[name] = json.dumps(v, default=str)
        else:
            out[name] = v
    return out


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV with every column any row has, in first-seen order."""
    if not rows:
        return ""
    names = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=names)
    w.writeheader()
    for r in rows:
        w.writerow({k: _jsonable(v) for k, v in r.items()})
    return buf.getvalue()


def render(
    rows: Sequence[dict[str, Any]],
    fmt: str,
    columns: Sequence[tuple[str, str]],
    title: str | None = None,
) -> str:
    if fmt == "json":
        return to_json(rows)
    if fmt == "csv":
        return to_csv(rows)
    return to_text(rows, columns, title)
