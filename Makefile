# sijscan: the two set-up commands are `make demo` and `make test`.
# torch is pinned in constraints.txt (the one place); everything else comes from pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sijscan-installed
PYTEST_ARGS ?=

.PHONY: test test-fast demo venv bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,app,onnx,cohort,dicom-seg]'
	@touch $(STAMP)

test: $(STAMP)
	PYTHONUTF8=1 $(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	PYTHONUTF8=1 $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

demo: $(STAMP)
	$(VENV)/bin/sijscan demo

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
