"""The DuckDB store: one file holds runs, devices, artifacts, jobs, results and samples."""

from rigbench.controller.store.db import Store

__all__ = ["Store"]
