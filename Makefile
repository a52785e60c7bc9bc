# One set of commands for humans and CI (.ci/run calls these targets).
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install install-check demo docs test test-rust test-python test-lerobot lerobot-envs lint format bench bench-rust bench-python bench-compare bench-mixtures clean

## install: build the extension (release) in place with the test dependencies
install:
	$(PIP) install -e ".[test,dev]"

## demo: the main job, a short demo and benchmark on synthetic episodes
demo: install
	$(PYTHON) -m episampler

## test: everything CI runs: lint, the docs' strict build, Rust tests, Python tests, real LeRobot
test: install lint docs test-rust test-python test-lerobot

test-rust:
	cargo test --locked

test-python:
	$(PYTHON) -m pytest

## lerobot-envs: virtualenvs with LeRobot 0.6.1 (Python 3.12), 0.3.3 (Python 3.11) and LeRobot's
## main snapshot, 0.6.2 (Python 3.12), FFmpeg libs
lerobot-envs:
	PYTHON=$(PYTHON) bash .ci/lerobot-envs

## test-lerobot: tests/real_lerobot in each LeRobot virtualenv, timed (a missing one is skipped
## with the reason; with EPISAMPLER_REQUIRE_LEROBOT=1, as in CI, it is a failure)
test-lerobot: lerobot-envs
	@for env in 0.6:0.6 0.3:0.3 main:0.6; do \
	  name=$${env%%:*}; series=$${env##*:}; venv=.venv-lerobot-$$name; \
	  if [ -x $$venv/bin/python ]; then \
	    echo "== tests/real_lerobot with lerobot $$series.x ($$venv)"; \
	    start=$$(date +%s); \
	    EPISAMPLER_EXPECT_LEROBOT=$$series $$venv/bin/python -m pytest tests/real_lerobot || exit 1; \
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
	$(PYTHON) -m mypy --strict --follow-imports=silent tests/typing/usage.py

format:
	cargo fmt --all
	$(PYTHON) -m ruff format python tests benches examples
	$(PYTHON) -m ruff check --fix python tests benches examples

## docs: the documentation site (mkdocs, API reference from the docstrings) into site/, strict
docs:
	$(PIP) install -q "mkdocs>=1.6,<2" "mkdocs-material>=9.5,<10" "mkdocstrings[python]>=0.26"
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict

## install-check: the abi3 wheel and the sdist built by maturin, each installed in a fresh
## virtualenv (the wheel with no Rust on PATH) and smoke-tested there
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
	$(PYTHON) -m episampler.bench

## bench-mixtures: MixtureSampler and WeightedEpisodeSampler against their baselines (~4 min)
bench-mixtures:
	$(PYTHON) benches/mixtures.py --markdown benches/results_mixtures.md

## bench-python: pytest-benchmark groups: episampler against torch.randperm, LeRobot 0.6 style, list
bench-python:
	$(PYTHON) -m pytest benches --benchmark-only --benchmark-columns=min,median,max

clean:
	cargo clean
	rm -rf .pytest_cache .hypothesis .benchmarks .ruff_cache
