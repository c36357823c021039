# Set-up and everyday commands. Every target creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.perspicio-installed
# torch and torchvision come from this machine's wheel cache; a matching pair is required
# (PyPI's torchvision does not load beside another torch build).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: install test demo bench bench-docs lint clean browser docs docs-check lxt-fixtures

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet -e ".[all,dev,distributed,docs]" $(TORCH_PINS)
	$(MAKE) browser
	touch $(STAMP)

# The browser test drives Debian's Chromium with Python Playwright (never `playwright install`).
browser:
	test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| { echo "Chromium could not be installed: the browser tests skip here, and fail in CI"; \
		     test -z "$$CI"; }

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/perspicio app --address 127.0.0.1 --port 8501

# The documentation site: every guide and gallery script runs; a failing cell, a broken
# reference or a missing page fails the build. Output in docs/_build/html (ignored).
docs: $(STAMP)
	rm -rf docs/_build docs/api docs/auto_examples docs/jupyter_execute docs/sg_execution_times.rst
	$(BIN)/python -m sphinx -W --keep-going -b html -j 1 docs docs/_build/html
	$(MAKE) docs-check

# The built site as a reader sees it: links, images, search (a real browser).
docs-check:
	PERSPICIO_SITE_TESTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -m site tests/docs

# Every benchmark suite, printed (3 repeats); bench-docs also writes docs/benchmarks.md from
# the same run (its prose: benchmarks/report.py). Run it on a quiet machine.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --repeats 3

bench-docs: $(STAMP)
	$(BIN)/python -m benchmarks.run --repeats 3 --write docs/benchmarks.md

# Reference AttnLRP relevances from LXT 2.1 (tests/fixtures/attnlrp/, see its README.md). LXT 2.1
# patches transformers 4.x internals and does not import under transformers 5, so it runs in a
# venv of its own, never the project's; --no-deps skips LXT's extras (bitsandbytes, zennit, ...).
LXT_VENV ?= /tmp/venv-lxt
LXT_PINS := transformers==4.53.3 safetensors==0.8.0

lxt-fixtures:
	test -x $(LXT_VENV)/bin/python || $(PYTHON) -m venv $(LXT_VENV)
	$(LXT_VENV)/bin/python -m pip install --quiet $(TORCH_PINS)
	$(LXT_VENV)/bin/python -m pip install --quiet $(LXT_PINS) $(TORCH_PINS)
	$(LXT_VENV)/bin/python -m pip install --quiet --no-deps lxt==2.1
	$(LXT_VENV)/bin/python tests/fixtures/attnlrp/record_lxt.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) build dist *.egg-info docs/_build docs/api docs/auto_examples docs/jupyter_execute
