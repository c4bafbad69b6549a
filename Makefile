# Two commands: `make run` (set up, train on the built-in data, serve on 127.0.0.1:8000) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
ARTIFACTS ?= artifacts
HOST ?= 127.0.0.1
PORT ?= 8000
TRAIN_ARGS ?=
EVENTS_TOKEN_FILE ?= .events-token
# The locks pin every package (and the build backend) to one version with the hashes of its files;
# `make lock` regenerates them from pyproject.toml's ranges. Linux x86_64 and aarch64 share them.
LOCK_PLATFORM ?= x86_64-manylinux_2_28
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform $(LOCK_PLATFORM) --no-header --annotation-style line

.PHONY: install run train serve test lint lock

install: $(VENV)/.installed

# pip checks every hash, and refuses anything the lock does not list; the project itself goes on top
# without touching the dependencies, built by the locked setuptools.
$(VENV)/.installed: requirements-dev.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

lock: install
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')" \
		| $(UV_COMPILE) pyproject.toml - -o requirements.lock
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')" \
		| $(UV_COMPILE) pyproject.toml - --extra dev --constraint requirements.lock -o requirements-dev.lock

train: install
	$(BIN)/recsys-train --artifacts $(ARTIFACTS) $(TRAIN_ARGS)

# POST /events needs a token: a local development one is made once, kept in $(EVENTS_TOKEN_FILE) (not
# committed) and printed, unless RECSYS_EVENTS_TOKEN or RECSYS_EVENTS_TOKEN_FILE is set. The demo page
# (and its route to every user's history) is on here, for development; the server's default is off.
serve: install
	@if [ -z "$$RECSYS_EVENTS_TOKEN$$RECSYS_EVENTS_TOKEN_FILE" ]; then \
		test -s $(EVENTS_TOKEN_FILE) || $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(24))" \
			> $(EVENTS_TOKEN_FILE); \
		echo "events token for POST /events (development): $$(cat $(EVENTS_TOKEN_FILE))"; \
		echo "  export RECSYS_EVENTS_TOKEN=$$(cat $(EVENTS_TOKEN_FILE))"; \
	fi
	@echo "the demo page: http://$(HOST):$(PORT)/ (RECSYS_DEMO_PAGE=false turns it off)"
	@if [ -z "$$RECSYS_EVENTS_TOKEN$$RECSYS_EVENTS_TOKEN_FILE" ]; then \
		export RECSYS_EVENTS_TOKEN_FILE=$(EVENTS_TOKEN_FILE); fi; \
	RECSYS_DEMO_PAGE=$${RECSYS_DEMO_PAGE:-true} $(BIN)/recsys-serve --artifacts $(ARTIFACTS) --host $(HOST) --port $(PORT)

run: train serve

lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest
