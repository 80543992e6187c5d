# `make run` and `make test` are the two commands README.md gives for a fresh machine.
# Both create .venv when it is missing (or older than pyproject.toml/requirements.lock)
# and install the pinned environment into it; later calls reuse it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DO_NOT_TRACK := true
export KEDRO_DISABLE_TELEMETRY := true

.PHONY: setup run test test-all repro-check lock clean-data

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --constraint requirements.lock -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

# The stand-ins, then the whole chain (ingest, pretrain, evaluate, adapt) for every target.
TARGETS ?= h36m 3dhp 3dpw ski
run: setup
	$(BIN)/kedro run --pipeline=standin
	for t in $(TARGETS); do $(BIN)/kedro run --pipeline=chain --params target=$$t || exit 1; done

test: setup
	$(BIN)/python -m pytest

# The slow end-to-end tests too.
test-all: setup
	$(BIN)/python -m pytest -m "slow or not slow"

# Run a small configuration twice and compare the hashes of every artifact
# (exit 1 naming those that differ); --seed-b makes it fail on purpose.
repro-check: setup
	$(BIN)/python -m adaptpose_pipeline.repro

# Rewrite the lock file from the current environment (after changing pyproject.toml).
lock: setup
	$(BIN)/python -m pip freeze --exclude-editable | sed -E 's/^(torch==[^+]+)\+.*/\1/' > requirements.lock

clean-data:
	find data -type f ! -name .gitkeep -delete
