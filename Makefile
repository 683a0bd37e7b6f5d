# Two entry points (see README):  `make reproduce`  and  `make test`.
# Both create the virtual environment on first use (torch pinned, everything else from pyproject.toml).
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: env reproduce notebooks test test-all clean-env

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PINS)
	$(PY) -m pip install --quiet -e ".[notebooks,train,deploy,dev]"
	touch $@

# Quick reproduction: executes every notebook in quick mode (CPU) and writes figures/.
reproduce: env
	$(PY) -m decomr reproduce --quick

# The committed notebooks with their outputs: quick mode, in order, made light (<= 3 MB each).
notebooks: env
	$(PY) -m decomr reproduce --commit-outputs

# The test suite (CPU only; notebooks executed in quick mode).
test: env
	$(PY) -m pytest -q

# Everything, including the slow checks.
test-all: env
	$(PY) -m pytest -q --runslow

clean-env:
	rm -rf $(VENV)
