# The two commands of the README: `make demo` and `make test`.
# Both create the virtual environment in .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
# Use the shared data of the original work when it sits beside the checkout.
ifneq ($(wildcard ../shared/data),)
export TORCHXAI_DATA ?= $(abspath ../shared/data)
endif

.PHONY: demo test lint

$(VENV)/.installed: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/torchxai demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check torchxai tests benchmarks scripts
	$(VENV)/bin/ruff format --check torchxai tests benchmarks scripts
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -q -p no:cacheprovider
