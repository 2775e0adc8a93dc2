# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

# The intake's hot path is compiled with mypyc (setup.py): an edit to one of those sources
# rebuilds it, so that `make test` tests what is installed.
COMPILED_SOURCES := $(shell $(PYTHON) -c 'import sys; sys.path.insert(0, "claims_engine"); import compiled, pathlib; print(*(compiled.source_path(pathlib.Path("."), n) for n in compiled.COMPILED))')

$(STAMP): pyproject.toml setup.py claims_engine/compiled.py $(COMPILED_SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/claims-engine demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# pytest exits 5 when it collected no test: make treats that as the failure it is.
test: lint
	tests/services.sh
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py

clean:
	rm -rf $(VENV) var build *.egg-info .mypy_cache .ruff_cache .pytest_cache
