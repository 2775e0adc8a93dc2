# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

# The intake's hot path is compiled with mypyc (setup.py): an edit to a source the build depends
# on, or another CLAIMS_ENGINE_COMPILE, rebuilds it, so that `make test` tests what is installed.
BUILD_SOURCES := $(shell $(PYTHON) -c 'import sys; sys.path.insert(0, "claims_engine/runtime"); import compiled, pathlib; print(*(compiled.source_path(pathlib.Path("."), n) for n in compiled.BUILD_INPUTS))')
COMPILE_SETTING := $(VENV)/.compile-$(or $(CLAIMS_ENGINE_COMPILE),1)

$(VENV)/.compile-%:
	mkdir -p $(VENV)
	rm -f $(VENV)/.compile-*
	touch $@

$(STAMP): pyproject.toml setup.py $(BUILD_SOURCES) $(COMPILE_SETTING)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@test "$(or $(CLAIMS_ENGINE_COMPILE),1)" = 0 || test -f claims_engine/_compiled.json || echo 'make: the intake was not compiled: it runs as pure Python (run pip install -v -e . to see why)' >&2
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/claims-engine demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# pytest exits 5 when it collected no test: make treats that as the failure it is. The
# slowest tests are named at the end (the suite is to stay under 15 minutes on 2 cores).
test: lint
	tests/services.sh
	$(BIN)/pytest --durations=15

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py

clean:
	rm -rf $(VENV) var build *.egg-info .mypy_cache .ruff_cache .pytest_cache claims_engine/_compiled.json
	find claims_engine -name '*.so' -delete
