# Reserver: `make run` and `make test` work on a fresh machine with only Python 3.11+.
# Every target sets itself up first: it finds uv (or installs it into .tools/) and syncs
# .venv with uv.lock (every package editable, plus the dev group).
.POSIX:

PYTHON = python3
UV = .tools/bin/uv
RUN = $(UV) run --no-sync
DB = data/reserver.db
PYTEST_ARGS =

help:
	@echo 'make run      start the server on http://127.0.0.1:8000 (SQLite in data/, demo data)'
	@echo 'make test     run the whole test suite (PostgreSQL tests skip without a server)'
	@echo 'make check    lint + types + layers + test'
	@echo 'make lint     ruff check and ruff format --check'
	@echo 'make format   ruff format and ruff check --fix'
	@echo 'make types    mypy --strict over every package'
	@echo 'make layers   import-linter: the core imports no adapter, adapters are independent'
	@echo 'make test-core  tests/core with only reserver-core[testing] installed'
	@echo 'make bench    run the benchmarks (BENCH_ARGS=--quick for a smoke run)'
	@echo 'make build    build every package into dist/'
	@echo 'make clean    remove .venv, .tools, caches and dist/ (keeps data/)'

# uv from PATH when there is one (linked, so that every recipe names the same path),
# otherwise a private copy installed with pip into the .tools/ virtualenv.
$(UV):
	@if command -v uv >/dev/null 2>&1; then \
		mkdir -p .tools/bin && ln -sf "$$(command -v uv)" $(UV); \
	else \
		echo 'uv is not on PATH: installing it into .tools/ with pip'; \
		rm -f $(UV); \
		$(PYTHON) -m venv .tools || { \
			echo 'error: "$(PYTHON) -m venv" failed; on Debian/Ubuntu: apt-get install python3-venv' >&2; \
			exit 1; }; \
		.tools/bin/pip install --quiet --disable-pip-version-check uv; \
	fi

sync: $(UV)
	$(UV) sync --all-packages

run: sync
	$(RUN) reserver-serve --data data

test: sync
	$(RUN) pytest $(PYTEST_ARGS)

# Proves tests/core needs nothing but reserver-core[testing]: a throwaway environment
# without the dev group and without any adapter package.
test-core: $(UV)
	$(UV) run --isolated --package reserver-core --no-dev --extra testing pytest tests/core

lint: sync
	$(RUN) ruff check
	$(RUN) ruff format --check

format: sync
	$(RUN) ruff format
	$(RUN) ruff check --fix

types: sync
	$(RUN) mypy

layers: sync
	$(RUN) lint-imports

check: lint types layers test

BENCH_ARGS =
bench: sync
	$(RUN) python bench/run_all.py $(BENCH_ARGS)

build: $(UV)
	$(UV) build --all-packages --out-dir dist

clean:
	rm -rf .venv .tools dist .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

.PHONY: help sync run test test-core lint format types layers check bench build clean
