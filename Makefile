# The README's commands. Each creates .venv on first use (fresh machine: Python 3.11 + pip).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: verify verify-quick test lint figures bench bench-record gpu-check gpu-check-dry fuzz-report docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU build of torch first (pinned), so nothing later pulls a CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev,hf]"
	touch $(STAMP)

verify: $(STAMP)
	$(BIN)/rkbs verify --json verify.json

verify-quick: $(STAMP)
	$(BIN)/rkbs verify --quick

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

figures: $(STAMP)
	$(BIN)/rkbs figures --out figures

# Tables into ./bench-out (scratch, ignored by git); the committed record is untouched.
bench: $(STAMP)
	$(BIN)/rkbs bench

# Full run that replaces the record (BENCHMARKS.md, benchmarks/results/*.md).
bench-record: $(STAMP)
	$(BIN)/rkbs bench --update-record

# On a machine with a CUDA GPU: every CUDA test (pytest -m cuda) and the GPU tables
# (< 8 min), written to benchmarks/results/gpu.md and BENCHMARKS.md. Refuses without CUDA.
gpu-check: $(STAMP)
	$(BIN)/python -m benchmarks.gpu_check --update-record

# The same script on the CPU with tiny sizes (tests the script; writes bench-out/gpu.md).
gpu-check-dry: $(STAMP)
	$(BIN)/python -m benchmarks.gpu_check --dry-run

fuzz-report: $(STAMP)
	RKBS_FUZZ_REPORT=tests/fuzz_report.md $(BIN)/python -m pytest -q -s tests/test_fuzz_entrypoints.py

# The documentation site (docs/_build/html): warnings are errors; executes the notebooks.
$(VENV)/.installed-docs: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

docs: $(VENV)/.installed-docs
	$(BIN)/python -m sphinx -b html -W --keep-going -j 1 docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info bench-out .rkbs-cache docs/_build docs/api docs/notebooks
