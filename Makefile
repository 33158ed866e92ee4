# Everything runs from the project's own .venv, created on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: preview test bench typecheck schema policy-docs clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# Checkov's pins conflict with pulumi's: it gets a virtualenv of its own.
.venv-checkov/.installed: requirements-checkov.txt
	test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

## The main job: offline preview of both stacks, plan files in build/.
preview: $(VENV)/.installed
	$(PY) -m tools.preview dev --json build/plan-dev.json
	$(PY) -m tools.preview prod --json build/plan-prod.json

## The whole test suite. pytest's exit 5 (no tests collected) counts as a failure.
test: $(VENV)/.installed .venv-checkov/.installed
	$(PY) -m pytest -q tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "error: no tests ran"; exit 1; fi; exit $$rc

## Preview wall time and resource count per stack, beside the bare-registration floor.
bench: $(VENV)/.installed
	$(PY) -m tools.bench

typecheck: $(VENV)/.installed
	$(VENV)/bin/pyright components stacks

## Check the plan files' azure-native inputs against the SDK's type metadata (needs ../shared).
schema: preview
	$(PY) ../shared/tools/schema_check.py build/plan-dev.json
	$(PY) ../shared/tools/schema_check.py build/plan-prod.json

clean:
	rm -rf build .pytest_cache

## Regenerate the policy table in policies/README.md from the rules.
policy-docs: $(VENV)/.installed
	$(PY) -m tools.policy_docs
