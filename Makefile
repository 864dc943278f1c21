# xner: `make demo` runs the main job, `make test` runs the tests. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch first and pinned to the CPU wheel: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: demo test lint bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[export,test]"
	touch $(STAMP)

# The demo bundle has random weights (mechanics only); building it needs torch, the demo does not.
demo: $(STAMP)
	$(BIN)/python examples/build_demo_bundle.py build/demo-bundle
	$(BIN)/python examples/demo.py build/demo-bundle

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q tests

lint: $(STAMP)
	$(BIN)/ruff check export runtime cli tests bench examples
	$(BIN)/ruff format --check export runtime cli tests bench examples

# Benchmarks against transformers + simalign (bench/run_bench.py; models cached in ~/.cache/xner-bench).
bench: $(STAMP)
	$(BIN)/python bench/run_bench.py --readme
	$(BIN)/python bench/bench_projection.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run_bench.py --quick

clean:
	rm -rf $(VENV) build *.egg-info
