# `make run` and `make test` are the two commands README.md gives for a fresh machine.
# Both create .venv when it is missing (or older than pyproject.toml/requirements.lock)
# and install the pinned environment into it; later calls reuse it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DO_NOT_TRACK := true
export KEDRO_DISABLE_TELEMETRY := true

.PHONY: setup run test test-all repro-check lock clean-data bench bench-gpu mutate

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --constraint requirements.lock -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

# The stand-ins, then the whole chain (ingest, pretrain, evaluate, adapt) for every target:
# every dataset of datasets/registry.py (read when `run` starts, after setup).
TARGETS ?= $(shell $(BIN)/python -m adaptpose_pipeline.datasets.registry)
run: setup
	$(BIN)/kedro run --pipeline=standin
	for t in $(TARGETS); do $(BIN)/kedro run --pipeline=chain --params target=$$t || exit 1; done

# The fast tests, then the reproducibility check (CI runs exactly this). The tests run
# on two worker processes (pytest-xdist) with one torch thread each: most of their time
# is kedro runs in subprocesses, which then start side by side.
test: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2
	$(BIN)/python -m adaptpose_pipeline.repro --control-seed 1

# The slow end-to-end tests too.
test-all: setup
	$(BIN)/python -m pytest -m "slow or not slow"

# Run a small configuration twice and compare the hashes of every artifact
# (exit 1 naming those that differ), plus a control run with another seed that
# must differ (exit 2 if it does not).
repro-check: setup
	$(BIN)/python -m adaptpose_pipeline.repro --control-seed 1

# Rewrite the lock file from the current environment (after changing pyproject.toml).
lock: setup
	$(BIN)/python -m pip freeze --exclude-editable | sed -E 's/^(torch==[^+]+)\+.*/\1/' > requirements.lock

# Mutation testing (not in CI: about 1.5 hours on 2 cores): mutmut mutates core/adapt.py,
# losses.py, generator.py and metrics.py ([tool.mutmut] in pyproject.toml) and runs
# their fast tests against each mutant, one at a time, in a fresh copy (mutants/); then
# benchmarks/results/mutation.json gets the score per module and the survivors.
# MUTANTS narrows the run, e.g. MUTANTS='adaptpose_pipeline.core.metrics*'.
MUTANTS ?=
mutate: setup
	rm -rf mutants
	OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children 1 $(MUTANTS)
	$(BIN)/python -m benchmarks.mutation

clean-data:
	find data -type f ! -name .gitkeep -delete

# Benchmarks (benchmarks/README.md), one after another: figures into benchmarks/results/
# (one JSON each, summary.md rebuilt). About an hour on 2 CPU cores.
bench: setup
	$(BIN)/python -m benchmarks.generator_throughput
	$(BIN)/python -m benchmarks.epoch_memory
	$(BIN)/python -m benchmarks.lifter_throughput
	$(BIN)/python -m benchmarks.end_to_end
	$(BIN)/python -m benchmarks.scaling --pretrain
	$(BIN)/python -m benchmarks.adaptation_gain
	$(BIN)/python -m benchmarks.ablation_ordering

# Throughput and one paper-size adaptation epoch on CUDA (conf/paper); each says
# "skipped" and exits 0 where CUDA is absent.
bench-gpu: setup
	$(BIN)/python -m benchmarks.generator_throughput --device cuda --env paper
	$(BIN)/python -m benchmarks.lifter_throughput --device cuda --env paper
	$(BIN)/python -m benchmarks.end_to_end --device cuda --env paper
