"""Where the repository and the shared fixtures are, for tests in any working directory."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# CI clones the repo with ../shared beside it; the captured telemetry formats live there.
SHARED = REPO.parent / "shared"
TELEMETRY_FIXTURES = SHARED / "fixtures" / "telemetry"
