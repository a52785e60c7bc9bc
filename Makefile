# One set of commands for humans and CI (.ci/run calls these targets).
#   make test      the fast loop: lint, Rust tests at a fraction of their property cases, pytest
#                  without the slow (multi-process) tests in parallel, on an incremental build
#   make test-all  everything CI runs: lint, the docs, every Rust and Python test, real LeRobot
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
# Fraction of every Rust property's full case count that `make test` runs (test-all: all).
FAST_PROPTEST_SCALE ?= 0.02
# pytest-xdist processes for `make test` (the slow tests, which start processes, run serially).
PYTEST_WORKERS ?= 2

.PHONY: install develop wheel install-check demo docs test test-all test-rust test-rust-fast \
	test-python test-python-fast test-lerobot lerobot-envs lint format bench bench-rust \
	bench-python bench-compare bench-mixtures clean

## install: build the extension (release) in place with the test dependencies
install:
	$(PIP) install -e ".[test,dev]"

## develop: the extension built in place with Cargo's `develop` profile (optimised, incremental,
## no LTO: an edit rebuilds in seconds), and the test dependencies when they are missing
develop:
	@if $(PYTHON) -c "import maturin, xdist, hypothesis, torchdata, accelerate, mypy, ruff" \
	    2>/dev/null; then \
	  MATURIN_PEP517_ARGS="--profile develop" $(PIP) install -q -e . --no-deps --no-build-isolation; \
	else \
	  MATURIN_PEP517_ARGS="--profile develop" $(PIP) install -q -e ".[test,dev]"; \
	fi

## wheel: the abi3 release wheel, once, into target/wheels (CI installs it everywhere)
wheel:
	rm -rf target/wheels
	$(PYTHON) -m maturin build --release --locked --out target/wheels

## demo: the main job, a short demo and benchmark on synthetic episodes
demo: install
	$(PYTHON) -m episampler

## test: the fast loop: lint, Rust tests at a fraction of their property cases, pytest without the
## slow tests, on a `develop` build (see README for its time)
test: develop lint test-rust-fast test-python-fast

## test-all: everything CI runs (see .ci/run, which calls these stages one by one)
test-all: install lint docs test-rust test-python test-lerobot

test-rust:
	cargo test --locked

test-rust-fast:
	EPISAMPLER_PROPTEST_SCALE=$(FAST_PROPTEST_SCALE) cargo test --locked

## test-python: every test, on PYTEST_WORKERS processes (the thread and Ctrl-C tests' bounds are
## medians sized for a loaded 2-core machine)
test-python:
	$(PYTHON) -m pytest -n $(PYTEST_WORKERS) --durations=10

test-python-fast:
	$(PYTHON) -m pytest -m "not slow" -n $(PYTEST_WORKERS)

## lerobot-envs: virtualenvs with LeRobot 0.6.1 (Python 3.12), 0.3.3 (Python 3.11) and LeRobot's
## main snapshot, 0.6.2 (Python 3.12), FFmpeg libs
lerobot-envs:
	PYTHON=$(PYTHON) bash .ci/lerobot-envs

## test-lerobot: tests/real_lerobot, timed, in parallel: the whole suite with LeRobot 0.6.1; with
## main (0.6.2) the tests of what differs between versions (marked `lerobot_versions`); with
## 0.3.3 those that apply to it (the v2.1 format). A missing virtualenv is skipped with the
## reason; with EPISAMPLER_REQUIRE_LEROBOT=1, as in CI, it is a failure.
test-lerobot: lerobot-envs
	@for env in 0.6:0.6: 0.3:0.3: main:0.6:lerobot_versions; do \
	  name=$${env%%:*}; rest=$${env#*:}; series=$${rest%%:*}; marker=$${rest#*:}; \
	  venv=.venv-lerobot-$$name; \
	  if [ -x $$venv/bin/python ]; then \
	    echo "== tests/real_lerobot with lerobot $$series.x ($$venv) $${marker:+-m $$marker}"; \
	    start=$$(date +%s); \
	    EPISAMPLER_EXPECT_LEROBOT=$$series $$venv/bin/python -m pytest tests/real_lerobot \
	      -n $(PYTEST_WORKERS) --durations=10 $${marker:+-m $$marker} || exit 1; \
	    echo "tests/real_lerobot in $$venv took $$(( $$(date +%s) - start )) s"; \
	  elif [ -n "$$EPISAMPLER_REQUIRE_LEROBOT" ]; then \
	    echo "error: $$venv is missing but EPISAMPLER_REQUIRE_LEROBOT is set"; exit 1; \
	  else \
	    echo "skipped tests/real_lerobot in $$venv: it could not be built"; \
	  fi; \
	done

lint:
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	$(PYTHON) -m ruff check python tests benches examples
	$(PYTHON) -m ruff format --check python tests benches examples
	$(PYTHON) -m mypy --strict python/episampler
	$(PYTHON) -m mypy --strict --follow-imports=silent --no-warn-unused-configs tests/typing/usage.py
	$(PYTHON) -m mypy.stubtest episampler._core

format:
	cargo fmt --all
	$(PYTHON) -m ruff format python tests benches examples
	$(PYTHON) -m ruff check --fix python tests benches examples

## docs: the documentation site (mkdocs, API reference from the docstrings) into site/, strict
docs:
	$(PIP) install -q "mkdocs>=1.6,<2" "mkdocs-material>=9.5,<10" "mkdocstrings[python]>=0.26"
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict

## install-check: the abi3 wheel (target/wheels, built by `make wheel` if missing) and the sdist,
## each installed in a fresh virtualenv (the wheel with no Rust on PATH) and smoke-tested there
install-check:
	PYTHON=$(PYTHON) bash .ci/install-check

## bench: the Rust benchmark binary (see README for options)
bench:
	cargo run --locked --release --bin episampler-bench

## bench-rust: criterion benchmarks of the core
bench-rust:
	cargo bench --locked -p episampler-core --bench core

## bench-compare: episampler vs torch.randperm and a LeRobot 0.6 style sampler, 1e6..1e8 frames
bench-compare:
	$(PYTHON) -m benches.compare

## bench-mixtures: MixtureSampler and WeightedEpisodeSampler against their baselines (~4 min)
bench-mixtures:
	$(PYTHON) benches/mixtures.py --markdown benches/results_mixtures.md

## bench-python: pytest-benchmark groups: episampler against torch.randperm, LeRobot 0.6 style, list
bench-python:
	$(PYTHON) -m pytest benches --benchmark-only --benchmark-columns=min,median,max

clean:
	cargo clean
	rm -rf .pytest_cache .hypothesis .benchmarks .ruff_cache
