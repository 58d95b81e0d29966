# `make test` and `make demo` create .venv when missing. torch is installed first, pinned to
# 2.13.0: on CPU-only machines that resolves to the local CPU wheel, while an unpinned torch
# would download gigabytes of CUDA libraries.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo-out
# Extras installed with the package. The default stays ORT-only (make demo needs no 2 GB LiteRT
# converter); CI (.ci/run) sets EXTRAS=dev,litert so that the LiteRT tests run.
EXTRAS ?= dev
comma := ,
STAMP := $(VENV)/.mnas-pred-installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: install test lint demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	# The real adb binary for the highest-fidelity phone tests; --no-deps because its Python
	# client's dependencies (requests, Pillow, ...) are not needed to run the binary.
	$(PY) -m pip install --quiet --no-deps 'adbutils>=2.12'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

demo: $(STAMP)
	DEMO_DIR=$(DEMO_DIR) bash scripts/demo.sh

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
