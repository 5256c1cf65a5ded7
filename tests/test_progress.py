"""What a user sees while jobs run: every job that measures says so, then at a bounded rate."""

from __future__ import annotations

import io

from controller.progress import ProgressPrinter


def printer() -> tuple[ProgressPrinter, io.StringIO]:
    out = io.StringIO()
    return ProgressPrinter(stream=out, every_s=3600.0), out


def test_a_job_shorter_than_the_progress_interval_still_says_it_measured():
    p, out = printer()
    p.job_started("board", "cnn/fp32 on ort", 1)
    p.job_progress("board", "cnn/fp32 on ort", "loading", 0, 0)
    p.job_progress("board", "cnn/fp32 on ort", "measuring", 120, 500_000_000)
    assert "[board] cnn/fp32 on ort: measuring, 120 iterations in 0.5 s" in out.getvalue()


def test_measuring_progress_after_the_first_line_is_rate_limited():
    p, out = printer()
    p.job_started("board", "m", 1)
    for n in range(1, 50):
        p.job_progress("board", "m", "measuring", n, n * 1_000_000)
    assert out.getvalue().count("measuring") == 1


def test_a_retried_job_says_again_that_it_measures():
    p, out = printer()
    p.job_started("board", "m", 1)
    p.job_progress("board", "m", "measuring", 0, 0)
    p.job_started("board", "m", 2)
    p.job_progress("board", "m", "measuring", 5, 1_000_000)
    assert out.getvalue().count("measuring") == 2
