# The README's commands. Each sets itself up on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install lint bench clean lock

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

## lock: pin the production dependencies (what the Dockerfile installs) in requirements.lock
lock:
	rm -rf .lock-venv && $(PY) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet .
	( echo "# The production dependencies of kgbridge, pinned: \`make lock\` writes this file."; \
	  .lock-venv/bin/pip freeze --exclude kgbridge --exclude pip --exclude setuptools --exclude wheel ) > requirements.lock
	rm -rf .lock-venv

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
