# The two commands of the README's Quickstart, and a few conveniences.
PYTHON ?= python3
PIP := $(PYTHON) -m pip install --quiet --disable-pip-version-check

.PHONY: app app-gpu test test-fast test-min deps deps-gpu deps-dev browser lint bench

app: deps  ## install and start the app
	$(PYTHON) -m streamlit run streamlit_app.py

# tensorflow-cpu and tensorflow install the same `tensorflow` package: the CPU build goes first.
app-gpu: deps-gpu  ## with an NVIDIA GPU: TensorFlow with CUDA instead of tensorflow-cpu, then the app
	$(PYTHON) -m streamlit run streamlit_app.py

deps-gpu:
	$(PYTHON) -m pip uninstall --quiet --yes tensorflow-cpu
	$(PIP) -r requirements-gpu.txt

# Two worker processes (pytest-xdist): most tests wait on subprocesses, TensorFlow's import
# and AppTest reruns, so two of them share the 2 cores well. PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 2

test: deps-dev browser  ## install everything and run the whole test suite
	$(PYTHON) -m pytest -n $(PYTEST_WORKERS) --dist worksteal

# Everyday lane: every test that trains no real model and drives no browser (under 3 min).
test-fast: deps-dev  ## the fast tests only: pytest -m "not slow and not e2e"
	$(PYTHON) -m pytest -n $(PYTEST_WORKERS) --dist worksteal -m "not slow and not e2e"

# The lowest version of every requirement (its ">=" bound), in a venv outside the
# repository, then the fast tests: the floors in requirements*.txt are ones the code runs on.
MIN_VENV ?= $(or $(TMPDIR),/tmp)/deepfake-venv-min
MIN_TESTS ?= -m "not slow and not e2e"

test-min:  ## install the lowest allowed versions into $(MIN_VENV) and run the fast tests
	$(PYTHON) -m venv $(MIN_VENV)
	sed -nE 's/^([A-Za-z0-9_.-]+)>=([0-9][0-9.]*).*/\1==\2/p' requirements.txt requirements-dev.txt \
		> $(MIN_VENV)/lowest.txt
	$(MIN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-r requirements-dev.txt -c $(MIN_VENV)/lowest.txt
	$(MIN_VENV)/bin/python -m pip list --format=freeze > $(MIN_VENV)/installed.txt
	$(MIN_VENV)/bin/python -m pytest $(MIN_TESTS)

deps:
	$(PIP) -r requirements.txt

deps-dev:
	$(PIP) -r requirements-dev.txt

browser:  ## Debian's Chromium (+ emoji font) for the browser test; Playwright cannot download its own here
	@dpkg -s chromium fonts-noto-color-emoji >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-noto-color-emoji; }

lint: deps-dev  ## ruff: lint (with Google-style docstring rules) and format check
	$(PYTHON) -m ruff check . && $(PYTHON) -m ruff format --check .
