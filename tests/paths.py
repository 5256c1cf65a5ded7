"""Where the repository and its test fixtures are, for tests in any working directory."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Captured telemetry formats from real hardware (provenance in the folder's README.md).
TELEMETRY_FIXTURES = REPO / "tests" / "fixtures" / "telemetry"
