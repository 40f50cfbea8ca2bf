# The README's commands. Each creates .venv on first use (fresh machine: Python 3.11 + pip).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: verify verify-quick test lint figures bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU build of torch first (pinned), so nothing later pulls a CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
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

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The documentation site (docs/_build/html): warnings are errors; executes the notebooks.
$(VENV)/.installed-docs: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

docs: $(VENV)/.installed-docs
	$(BIN)/python -m sphinx -b html -W --keep-going -j 1 docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info docs/_build docs/api docs/notebooks
