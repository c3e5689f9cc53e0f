# The two commands: `make demo` and `make test` (ruff, mypy, pytest). Each creates .venv when it
# is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
EXTRAS ?= dev,dist,train,atoms,md,homcloud,baselines,docs
# One BLAS/torch thread per process: parallelism comes from worker processes.
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: demo test lint bench docs clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first and pinned, so nothing later can pull a newer (CUDA) build in its place.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]" "torch==$(TORCH_VERSION)"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/topophys demo

# Lint, format, types (mypy reads [tool.mypy] in pyproject.toml), then the tests.
test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The quick subset: lint and format only.
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

docs: $(VENV)/.installed
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/tdgl.py

clean-venv:
	rm -rf $(VENV)
