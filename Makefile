# The two commands of the README:
#   make demo   set up (first time) and run `oauth1-proxy demo`
#   make test   set up (first time) and run the whole test suite
# Both find a Python 3.12 (PATH, then pyenv), make .venv and install the project.

PYTHON ?= $(shell command -v python3.12 2>/dev/null || ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup system-deps lint

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 was not found on PATH nor in pyenv; install it (e.g. pyenv install 3.12) or run make PYTHON=/path/to/python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/.installed

system-deps:
	sh scripts/system-deps

demo: setup
	$(BIN)/oauth1-proxy demo

test: setup system-deps
	$(BIN)/python -m pytest
	$(BIN)/ruff check addon tests
	$(BIN)/mypy

lint: setup
	$(BIN)/ruff check addon tests
	$(BIN)/mypy
