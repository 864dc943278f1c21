# xner: `make demo` runs the main job, `make test` runs the tests. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch first and pinned to the CPU wheel: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: demo test lint bench bench-quick clean fuzz binary wheelhouse

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[export,train,test,freeze]"
	touch $(STAMP)

# The demo bundle has random weights (mechanics only); building it needs torch, the demo does not.
demo: $(STAMP)
	$(BIN)/python examples/build_demo_bundle.py build/demo-bundle
	$(BIN)/python examples/demo.py build/demo-bundle

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q tests

# Fuzzing (issue 10): >= 10,000 generated inputs over the readers, the manifest loader, the
# projection methods and the CLI; counts per target in build/fuzz-counts.json and in the statistics.
FUZZ_EXAMPLES ?= 1500
fuzz: $(STAMP)
	mkdir -p build && rm -f build/fuzz-counts.json
	XNER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) XNER_FUZZ_COUNTS=build/fuzz-counts.json \
		$(BIN)/python -m pytest -q -p no:cacheprovider -k fuzz --hypothesis-show-statistics \
		tests/test_fuzz.py $(wildcard tests/test_bundle_schema.py)
	cat build/fuzz-counts.json

# Field delivery (issue 11, packaging/): the frozen one-folder app + archive + SHA256SUMS in dist/,
# and every runtime wheel (no torch) with a hashed requirements.txt in dist/wheelhouse/.
binary: $(STAMP)
	$(BIN)/python packaging/build_binary.py --dist dist --work build/binary

wheelhouse: $(STAMP)
	$(BIN)/python packaging/wheelhouse.py --out dist/wheelhouse

# ruff on everything; mypy (pyproject.toml: strict on runtime/ and cli/) through a folder of links
# that gives the sources their import names (xner.runtime, xner.export, xner.train, xner.cli).
TYPECHECK := build/typecheck
lint: $(STAMP)
	$(BIN)/ruff check export train runtime cli tests bench examples packaging
	$(BIN)/ruff format --check export train runtime cli tests bench examples packaging
	mkdir -p $(TYPECHECK)/xner
	for part in runtime export train cli; do ln -sfn ../../../$$part $(TYPECHECK)/xner/$$part; done
	cd $(TYPECHECK) && ../../$(BIN)/mypy --config-file ../../pyproject.toml \
		-p xner.runtime -p xner.cli -p xner.export -p xner.train

# Benchmarks against transformers + simalign (bench/run_bench.py; models cached in ~/.cache/xner-bench).
bench: $(STAMP)
	$(BIN)/python bench/run_bench.py --readme
	$(BIN)/python bench/bench_projection.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run_bench.py --quick

clean:
	rm -rf $(VENV) build *.egg-info
