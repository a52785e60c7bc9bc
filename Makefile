# One set of commands for humans and CI (.ci/run calls these targets).
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install demo test test-rust test-python lint format bench bench-rust bench-python bench-compare clean

## install: build the extension (release) in place with the test dependencies
install:
	$(PIP) install -e ".[test,dev]"

## demo: the main job, a short demo and benchmark on synthetic episodes
demo: install
	$(PYTHON) -m episampler

## test: everything CI runs: lint, Rust tests, Python tests
test: install lint test-rust test-python

test-rust:
	cargo test --locked

test-python:
	$(PYTHON) -m pytest

lint:
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	$(PYTHON) -m ruff check python tests benches
	$(PYTHON) -m ruff format --check python tests benches

format:
	cargo fmt --all
	$(PYTHON) -m ruff format python tests benches
	$(PYTHON) -m ruff check --fix python tests benches

## bench: the Rust benchmark binary (see README for options)
bench:
	cargo run --locked --release --bin episampler-bench

## bench-rust: criterion benchmarks of the core
bench-rust:
	cargo bench --locked -p episampler-core --bench core

## bench-compare: episampler vs torch.randperm and a LeRobot 0.6 style sampler, 1e6..1e8 frames
bench-compare:
	$(PYTHON) -m episampler.bench

## bench-python: pytest-benchmark groups: episampler against torch.randperm, LeRobot 0.6 style, list
bench-python:
	$(PYTHON) -m pytest benches --benchmark-only --benchmark-columns=min,median,max

clean:
	cargo clean
	rm -rf .pytest_cache .hypothesis .benchmarks .ruff_cache
