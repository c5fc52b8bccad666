# Two entry points for a fresh machine (see README): `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYPROJECT_SUM := $(shell cksum pyproject.toml | cut -d' ' -f1)
STAMP := $(VENV)/.installed-$(PYPROJECT_SUM)
# What the Slicer extension installs must run on Python 3.9 (Slicer 5.6 / 5.8 embed 3.9.10).
SLICER_SIDE := cerebro CerebroLib CerebroCompress CerebroSegment CerebroBenchmark
# A Python 3.9 for `test39`: on the PATH, else the newest pyenv one; none found: test39 says so and is skipped.
PY39 ?= $(shell for p in $$(command -v python3.9) $$(ls -d $$HOME/.pyenv/versions/3.9*/bin/python3.9 2>/dev/null); do "$$p" -c "" 2>/dev/null && { echo "$$p"; break; }; done)
VENV39 ?= .venv39
# A Python 3.12 for `test312` (Slicer 5.10 / 5.12 embed 3.12): on the PATH, else the newest pyenv one.
PY312 ?= $(shell for p in $$(command -v python3.12) $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -V -r); do "$$p" -c "" 2>/dev/null && { echo "$$p"; break; }; done)
VENV312 ?= .venv312

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

# The suite on another Python: $(1) the target, $(2) its venv, $(3) that Python (empty: none found, the target says so
# and passes), $(4) the variable naming what to install in the venv, $(5) what the skip message adds.
define OTHER_PYTHON_SUITE
$(2)/.installed-$(PYPROJECT_SUM): pyproject.toml
	$(3) -m venv $(2)
	$(2)/bin/python -m pip install -q --upgrade pip
	$(2)/bin/python -m pip install -q --prefer-binary $$($(4))
	rm -f $(2)/.installed-* && touch $(2)/.installed-$(PYPROJECT_SUM)

ifeq ($(3),)
$(1):
	@echo "$(1): no such Python found (on the PATH or in pyenv); skipped.$(5)"
else
$(1): $(2)/.installed-$(PYPROJECT_SUM)
	$(2)/bin/python -m pytest -q -n 2 -p no:cacheprovider --disable-warnings
endif
endef

# The suite under a real Python 3.9 with the packages that exist for it (no torch or slicer-core wheels
# here: the test files that need them are left out, see Testing/conftest.py).
TEST39_PACKAGES := -e ".[codecs,analysis]" "pytest>=8" "pytest-xdist>=3" "hypothesis>=6.100"
$(eval $(call OTHER_PYTHON_SUITE,test39,$(VENV39),$(PY39),TEST39_PACKAGES, vermin still checks the 3.9 floor.))

# The suite under Python 3.12, the Python of Slicer 5.10 / 5.12, with slicer-core (the Slicer-side logic and the
# panels on Slicer 5.6.2's parameter-node wrapper) and the newest codec libraries that exist for 3.12. No torch:
# PyPI's Linux torch wheels are multi-GB CUDA builds (the CPU build on disk is for 3.11), so what needs torch
# runs on 3.11 above and is skipped here.
TEST312_PACKAGES := -e ".[codecs,analysis]" "slicer-core>=5.8" "pytest>=8" "pytest-xdist>=3" "hypothesis>=6.100"
$(eval $(call OTHER_PYTHON_SUITE,test312,$(VENV312),$(PY312),TEST312_PACKAGES,))

clean:
	rm -rf $(VENV) $(VENV39) $(VENV312) .pytest_cache .ruff_cache
