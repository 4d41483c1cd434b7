# The two commands of the README's Quickstart, and a few conveniences.
PYTHON ?= python3
PIP := $(PYTHON) -m pip install --quiet --disable-pip-version-check

.PHONY: app test deps deps-dev browser lint bench

app: deps  ## install and start the app
	$(PYTHON) -m streamlit run streamlit_app.py

test: deps-dev browser  ## install everything and run the whole test suite
	$(PYTHON) -m pytest

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
