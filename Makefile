PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test docs fuzz lint format bench clean

venv: $(STAMP)

# torch==2.13.0 first: the CPU build that lies on this machine's disk. Any other
# version (or an unpinned range resolved from scratch) pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[all]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cfensemble demo

# The suite, then every docstring example in the package (Examples sections).
test: $(STAMP)
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest --doctest-modules src/cfensemble

# The documentation site, offline, warnings as errors; the gallery runs every example.
docs: $(STAMP)
	rm -rf docs/_build docs/api/generated docs/auto_examples docs/measured docs/sg_execution_times.rst
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html
	@echo "Open docs/_build/html/index.html"

# The property-based fuzzers of tests/test_fuzz.py, long: FUZZ_EXAMPLES per property
# (random, not derandomized as in make test); prints how many examples each ran. 6000 ran
# 10 min 3 s (30,000 examples) on the shared 2-core machine.
FUZZ_EXAMPLES ?= 6000
fuzz: $(STAMP)
	CFENSEMBLE_FUZZ=long CFENSEMBLE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest \
		tests/test_fuzz.py -p no:cacheprovider --hypothesis-show-statistics

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples docs/conf.py
	$(BIN)/ruff format --check src tests benchmarks examples docs/conf.py

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks examples docs/conf.py
	$(BIN)/ruff check --fix src tests benchmarks examples docs/conf.py

bench: $(STAMP)
	-$(BIN)/pip install -q "implicit>=0.7"  # peer in als_speed.py; skipped there if absent
	$(BIN)/python benchmarks/als_speed.py
	$(BIN)/python benchmarks/als_extrapolation.py
	$(BIN)/python benchmarks/als_init.py
	$(BIN)/python benchmarks/scaling.py
	$(BIN)/python benchmarks/pytorch_vs_als.py
	$(BIN)/python benchmarks/varpro_speed.py
	$(BIN)/python benchmarks/real_data.py
	$(BIN)/python benchmarks/synthetic_aggregators.py
	$(BIN)/python benchmarks/feature_views.py
	$(BIN)/python benchmarks/big_fit.py  # n = 10^7: ~12 GB of memory
	$(BIN)/cfensemble benchmark --config benchmarks/config.json --out benchmarks/results/benchmark

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache docs/_build docs/api/generated \
		docs/auto_examples docs/measured
