# Two commands on a fresh machine with Python 3.11+ and make: `make demo` and `make test`.
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
UV_VERSION := 0.13.9
PORT ?= 8000

.PHONY: demo test check bench install clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --compile-bytecode
	touch $@

install: $(VENV)/.synced

# The demo keeps its own pod (see `healthpod demo -h`), never the one `healthpod init` makes.
demo: install
	$(VENV)/bin/healthpod demo --port $(PORT)

test: install
	scripts/check
	scripts/test

check: install
	scripts/check

bench: install
	$(VENV)/bin/python bench/import_apple.py

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
