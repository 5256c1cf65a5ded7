"""`rigbench nightly`: canary first, then the plan, then the comparison with the baselines.

``run_nightly`` is the library entry point the CLI wraps; ``canary`` holds the known model
every device must answer correctly before its numbers are trusted.
"""

from rigbench.controller.nightly.runner import NightlyOptions, NightlyResult, run_nightly

__all__ = ["NightlyOptions", "NightlyResult", "run_nightly"]
