# codelab_ext: the two commands of the README, and the steps they are made of.
#   make demo   set up, then run JupyterLab with the extension on the embedded ModelArts emulator
#   make test   set up, then run every lint and every test (Python, TypeScript, browser, wheel check)
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
PORT ?= 8888
# JupyterLab refuses to run as root unless told: containers and CI machines often are root
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
export PATH := $(BIN):$(PATH)

.PHONY: demo test system-deps setup lint translations test-python test-js test-ui check-wheel bench emulator clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# editable install: builds the frontend with jlpm and links it into the venv's JupyterLab
$(VENV)/.installed: $(BIN)/python pyproject.toml package.json
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/jupyter-builder develop --overwrite .
	$(BIN)/jupyter server extension enable --sys-prefix codelab_ext
	touch $@

# the production build: what the wheel ships, what the demo, the tests and the benchmarks use
setup: $(VENV)/.installed
	$(BIN)/jlpm build:prod

# the setup's output goes to a log (shown only if it fails): the demo itself prints one line, the URL last
demo:
	@log="$${TMPDIR:-/tmp}/codelab-demo-setup.log"; \
	$(MAKE) --no-print-directory setup > "$$log" 2>&1 || { cat "$$log"; exit 1; }
	@$(BIN)/jupyter codelab demo --port $(PORT) --ServerApp.ip=127.0.0.1 $(ROOT_FLAG) $(DEMO_ARGS)

emulator: $(VENV)/.installed
	$(BIN)/jupyter codelab emulator

lint: setup
	$(BIN)/ruff check codelab_ext tests scripts $(wildcard benchmarks) conftest.py
	$(BIN)/ruff format --check codelab_ext tests scripts $(wildcard benchmarks) conftest.py
	$(BIN)/mypy
	$(BIN)/jlpm lint:check
	$(BIN)/jlpm typecheck
	$(BIN)/python scripts/translations.py check

# extract every string of the panel, the server and the CLI into the zh_CN catalogue and compile it
# (codelab_ext/locale/zh_CN/LC_MESSAGES/codelab_ext.{po,json,mo}); see scripts/translations.py
translations: $(VENV)/.installed
	$(BIN)/python scripts/translations.py update

test-python: setup system-deps
	$(BIN)/python -m pytest --cov=codelab_ext --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

test-js: setup
	$(BIN)/jlpm test

system-deps:
	tests/install_system_deps.sh

# two passes: the panel specs without instance servers, then the workspace and kernel specs together
# on one server with them (.ONESHELL: one shell for the recipe, so every line names the folder it runs in)
test-ui: setup system-deps
	cd $(CURDIR)/ui-tests && $(BIN)/jlpm install && $(BIN)/jlpm playwright test
	cd $(CURDIR)/ui-tests && CODELAB_EMULATOR_INSTANCE_SERVERS=1 $(BIN)/jlpm playwright test

check-wheel: setup
	tests/check_wheel.sh

test: system-deps lint test-js test-python check-wheel test-ui

# click_to_running and footprint drive Chromium through ui-tests' playwright: install what the scripts need
# (.ONESHELL: every line names its folder)
bench: setup system-deps
	cd $(CURDIR)/ui-tests && $(BIN)/jlpm install
	cd $(CURDIR) && $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) node_modules lib codelab_ext/labextension ui-tests/node_modules dist tsconfig.tsbuildinfo
