# Two commands: `make run` (set up, train on the built-in data, serve on 127.0.0.1:8000) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
ARTIFACTS ?= artifacts
HOST ?= 127.0.0.1
PORT ?= 8000
TRAIN_ARGS ?=

.PHONY: install run train serve test lint

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

train: install
	$(BIN)/recsys-train --artifacts $(ARTIFACTS) $(TRAIN_ARGS)

serve: install
	$(BIN)/recsys-serve --artifacts $(ARTIFACTS) --host $(HOST) --port $(PORT)

run: train serve

lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest
