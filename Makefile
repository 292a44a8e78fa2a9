# PHIdesk: two commands. `make run` serves the demo; `make test` runs every check.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test install lint typecheck imports pytest system-deps node-deps bench clean

$(STAMP): requirements/lock.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: install
	PHIDESK_ENV=development $(BIN)/phidesk migrate --noinput
	PHIDESK_ENV=development $(BIN)/phidesk demo
	PHIDESK_ENV=development $(BIN)/phidesk serve --host 127.0.0.1 --port 8443

system-deps:
	bash scripts/system-deps.sh

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch node_modules/.stamp

node-deps: node_modules/.stamp

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	PHIDESK_ENV=test $(BIN)/mypy phidesk

imports: install
	$(BIN)/lint-imports

# pytest exits 5 when it collected no tests: that is a broken setup, never a pass.
pytest: install system-deps node-deps
	PHIDESK_ENV=test $(BIN)/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test: lint typecheck imports pytest

bench: install
	PHIDESK_ENV=test $(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache
