# Everything runs from a project-local virtual environment in .venv.
#   make lecture   set up .venv, then JupyterLab on notebooks/ (extra args: JUPYTER_ARGS=...)
#   make test      set up .venv, then every test, notebooks included (extra args: PYTEST_ARGS=...)
#   make bench     set up .venv, then benchmarks/run.py (make bench-all: every benchmark)
#   make browser   install Debian's Chromium for the browser tests (root; skipped if present)
#   make clean     remove .venv and its install stamp (experiment output is kept)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Written after a complete install; a second `make test` skips pip entirely
# unless pyproject.toml or this Makefile changed.
STAMP  := $(VENV)/.install-stamp

D2L_VERSION := 1.0.3
JUPYTER_ARGS ?=
PYTEST_ARGS  ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup lecture test bench bench-all browser clean

setup: $(STAMP)

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
	  || { echo "asha_lesson needs Python 3.10+; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# d2l goes in last and without dependencies: 1.0.3 pins exact 2023 releases that conflict
# with the current ones installed here; what it imports is covered by the [train] extra.
$(STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[test,dev]'
	$(PIP) install --no-deps d2l==$(D2L_VERSION)
	touch $@

# Jupyter refuses to start as root (containers, CI) unless told to.
ROOT_ARGS := $(if $(filter 0,$(shell id -u)),--allow-root)

lecture: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/ $(ROOT_ARGS) $(JUPYTER_ARGS)

# Notebooks run in quick mode under nbval; --nbval-lax fails a notebook on any cell error.
test: $(STAMP)
	ASHA_LESSON_QUICK=1 $(PY) -m pytest --nbval-lax tests notebooks $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run.py

# Everything BENCHMARKS.md reports (about 40 minutes; the table recording is separate:
# benchmarks/record_table.py, about 20 minutes on two cores).
bench-all: bench
	$(PY) benchmarks/threads.py
	for seed in 0 1 2; do $(PY) benchmarks/seed_lecture.py --seed $$seed \
	  --out benchmarks/results/seed_lecture_$$seed.json; done
	$(PY) benchmarks/time_to_target.py
	@if $(PY) -c "import syne_tune, optuna" 2>/dev/null; then $(PY) benchmarks/peers.py; \
	else echo "peers skipped (keeps results/peers.json): they need pip install -e '.[bench-peers]'"; fi

browser:
	@if [ -x /usr/bin/chromium ]; then \
	  echo "Chromium already installed: /usr/bin/chromium"; \
	elif [ "$$(id -u)" -ne 0 ]; then \
	  echo "make browser installs Debian's chromium with apt-get: run it as root." >&2; exit 1; \
	else \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi

clean:
	rm -rf $(VENV) *.egg-info build .pytest_cache .ruff_cache
