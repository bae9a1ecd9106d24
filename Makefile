# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/harness: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# An editable install leaves our sources uncompiled (pip compiles only what it copies):
	# without this, every loop, agent and CLI call compiles them again (~80 ms a process),
	# always so where PYTHONDONTWRITEBYTECODE is set. Python ignores a .pyc older than its source.
	$(BIN)/python -m compileall -q harness
	touch $(BIN)/harness

demo: $(BIN)/harness
	$(BIN)/harness demo

test: $(BIN)/harness
	bash .ci/machine-setup.sh
	$(BIN)/ruff check harness tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -q

lint: $(BIN)/harness
	$(BIN)/ruff check harness tests benchmarks
	$(BIN)/mypy

bench: $(BIN)/harness
	$(BIN)/python -m benchmarks.locks

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
