# `make test` and `make demo` create .venv when missing. torch is installed first, pinned to
# 2.13.0: on CPU-only machines that resolves to the local CPU wheel, while an unpinned torch
# would download gigabytes of CUDA libraries.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo-out
# Extras installed with the package. `make demo` and `make install` stay ORT-only (the demo needs
# no 2 GB LiteRT converter); `make test` (what the README and CI run) adds [litert], so that the
# LiteRT tests run instead of skipping. torch==2.13.0 is installed first, so no extra can pull a
# CUDA torch.
EXTRAS ?= dev
TEST_EXTRAS ?= dev,litert
comma := ,
STAMP := $(VENV)/.mnas-pred-installed-$(subst $(comma),-,$(EXTRAS))
TEST_STAMP := $(VENV)/.mnas-pred-installed-$(subst $(comma),-,$(TEST_EXTRAS))

.PHONY: install test lint demo bench clean

install: $(STAMP)

# $(1): the extras to install with the project.
define install_venv
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[$(1)]'
	# The real adb binary for the highest-fidelity phone tests; --no-deps because its Python
	# client's dependencies (requests, Pillow, ...) are not needed to run the binary.
	$(PY) -m pip install --quiet --no-deps 'adbutils>=2.12'
	touch $@
endef

$(STAMP): pyproject.toml
	$(call install_venv,$(EXTRAS))

ifneq ($(TEST_STAMP),$(STAMP))
$(TEST_STAMP): pyproject.toml
	$(call install_venv,$(TEST_EXTRAS))
endif

test: $(TEST_STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

demo: $(STAMP)
	DEMO_DIR=$(DEMO_DIR) bash scripts/demo.sh

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
