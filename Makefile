VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo demo-quick lint test test-quick bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/grainseg demo --out demo_out

demo-quick: $(STAMP)
	$(VENV)/bin/grainseg demo --quick --out demo_out

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

test: lint
	$(PY) -m pytest -q

# Everything but the tests marked slow: a first check while working.
test-quick: lint
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf demo_out .pytest_cache build dist
