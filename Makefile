# Two entry points for a fresh machine (see README): `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# What the Slicer extension installs must run on Python 3.9 (Slicer 5.6 / 5.8 embed 3.9.10).
SLICER_SIDE := cerebro CerebroLib CerebroCompress CerebroSegment CerebroBenchmark
# A Python 3.9 for `test39`: on the PATH, else the newest pyenv one; none found: test39 says so and is skipped.
PY39 ?= $(shell for p in $$(command -v python3.9) $$(ls -d $$HOME/.pyenv/versions/3.9*/bin/python3.9 2>/dev/null); do "$$p" -c "" 2>/dev/null && { echo "$$p"; break; }; done)
VENV39 ?= .venv39
STAMP39 := $(VENV39)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# A Python 3.12 for `test312` (Slicer 5.10 / 5.12 embed 3.12): on the PATH, else the newest pyenv one.
PY312 ?= $(shell for p in $$(command -v python3.12) $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -V -r); do "$$p" -c "" 2>/dev/null && { echo "$$p"; break; }; done)
VENV312 ?= .venv312
STAMP312 := $(VENV312)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: setup demo test lint py39-gate test39 test312 clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all,test]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/cerebro demo

test: setup
	$(VENV)/bin/ruff check .
	$(MAKE) --no-print-directory py39-gate
	$(PY) -m pytest -q -n 2 --durations=15
	$(MAKE) --no-print-directory test39
	$(MAKE) --no-print-directory test312

lint: setup
	$(VENV)/bin/ruff check .

# Fails on syntax and APIs newer than Python 3.9 (zip(strict=), match, X | Y in evaluated annotations, ...);
# test39 runs the suite on a real 3.9 for what vermin cannot see (X | Y aliases, libraries that differ on 3.9).
py39-gate: setup
	$(VENV)/bin/vermin -q -t=3.9- --no-tips --violations --eval-annotations $(SLICER_SIDE)
	@echo "vermin: $(SLICER_SIDE) run on Python 3.9"

# The suite under a real Python 3.9 with the packages that exist for it (no torch or slicer-core wheels
# here: the test files that need them are left out, see Testing/conftest.py).
$(STAMP39): pyproject.toml
	$(PY39) -m venv $(VENV39)
	$(VENV39)/bin/python -m pip install -q --upgrade pip
	$(VENV39)/bin/python -m pip install -q --prefer-binary -e ".[codecs,analysis]" "pytest>=8" "pytest-xdist>=3" "hypothesis>=6.100"
	rm -f $(VENV39)/.installed-* && touch $(STAMP39)

ifeq ($(PY39),)
test39:
	@echo "test39: no Python 3.9 found (python3.9 or pyenv); skipped. vermin still checks the 3.9 floor."
else
test39: $(STAMP39)
	$(VENV39)/bin/python -m pytest -q -n 2 -p no:cacheprovider --disable-warnings
endif

# The suite under Python 3.12, the Python of Slicer 5.10 / 5.12, with slicer-core (the Slicer-side logic and the
# panels on Slicer 5.6.2's parameter-node wrapper) and the newest codec libraries that exist for 3.12. No torch:
# PyPI's Linux torch wheels are multi-GB CUDA builds (the CPU build on disk is for 3.11), so what needs torch
# runs on 3.11 above and is skipped here.
$(STAMP312): pyproject.toml
	$(PY312) -m venv $(VENV312)
	$(VENV312)/bin/python -m pip install -q --upgrade pip
	$(VENV312)/bin/python -m pip install -q --prefer-binary -e ".[codecs,analysis]" "slicer-core>=5.8" "pytest>=8" "pytest-xdist>=3" "hypothesis>=6.100"
	rm -f $(VENV312)/.installed-* && touch $(STAMP312)

ifeq ($(PY312),)
test312:
	@echo "test312: no Python 3.12 found (python3.12 or pyenv); skipped."
else
test312: $(STAMP312)
	$(VENV312)/bin/python -m pytest -q -n 2 -p no:cacheprovider --disable-warnings
endif

clean:
	rm -rf $(VENV) $(VENV39) $(VENV312) .pytest_cache .ruff_cache
