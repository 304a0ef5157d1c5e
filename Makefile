# The README's commands. Each sets itself up on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install lint bench clean

$(BIN)/kgbridge: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,demo]'
	@touch $@

install: $(BIN)/kgbridge

## run: the service on the embedded default (fake kintone/GMO Sign/G-Staff, in-process Redis)
run: install
	$(BIN)/kgbridge embedded

## test: the whole test suite (starts its own redis-server when none is configured)
test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -q

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
