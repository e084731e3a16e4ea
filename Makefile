# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LLM_STAMP := $(VENV)/.installed-llm
# llama-cpp-python compiles from source (minutes); its wheel is kept outside the checkout for every later set-up.
# Built for portable AVX2, not -march=native: on Sapphire Rapids (AMX_INT8) a native build repacks Q4_K weights for
# llama.cpp's AMX backend, which segfaults on the first completion (ggml-org/llama.cpp#20824; the LLM tests died so in CI).
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
WHEELS ?= $(HOME)/.cache/autocode/wheels-avx2
LLAMA := llama-cpp-python==0.3.36

.PHONY: setup setup-llm browser demo lint test bench clean

setup: $(STAMP)
setup-llm: $(LLM_STAMP)

# torch==2.13.0 goes in first: it is a CPU build pip takes from local disk; resolving a plain
# `torch` through sentence-transformers would pull a CUDA build of several GB. Then MiniLM is exported to ONNX
# (fp32 and int8) from the installed package's weights, so no run waits for it (autocode.embeddings.onnx_export).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m autocode.embeddings.onnx_export
	touch $(STAMP)

# The [llm] and [ray] extras: the tests (and the adjudicator's server, the Ray engine) need them; `make demo` does not.
$(LLM_STAMP): $(STAMP)
	CMAKE_ARGS='$(LLAMA_CMAKE)' $(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir $(WHEELS) --find-links $(WHEELS) '$(LLAMA)'
	$(BIN)/python -m pip install --quiet --find-links $(WHEELS) -e '.[dev,llm,ray]'
	touch $(LLM_STAMP)

demo: $(STAMP)
	$(BIN)/autocode demo

# ruff over the whole checkout; mypy over the installed package layout (scripts/typecheck.py says why it needs one).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python scripts/typecheck.py

# The review page's tests drive a real headless Chromium: Debian's package (Playwright's own browser download is
# not used; nothing is fetched but the package). Root installs it; elsewhere install `chromium` first.
browser:
	command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends chromium)

test: lint $(LLM_STAMP) browser
	$(BIN)/python -m pytest

# The pytest-benchmark suites (JSON in .benchmarks/), then the performance table (python -m benchmarks; JSON beside it).
bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks/test_micro.py --benchmark-enable --benchmark-json=.benchmarks/pytest-benchmark.json -q
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info
