"""The Odoo database initialisation step (ODOO_INIT_SH) against real PostgreSQL servers of every supported major.

Odoo itself cannot run here, so ODOO_BIN points at a test double: a shell script that records its
arguments and leaves behind what `odoo -i` would for this script's purposes, the ir_module_module rows
of the requested modules (state 'installed') and Odoo 17's ir_config_parameter table. Everything else is
real: each database is made as ARM makes it (owned by the Azure-like server admin), handed to its tenant
role by the real BOOTSTRAP_SH, and ODOO_INIT_SH runs as that tenant role over TCP with a password file.
"""
import itertools
import os
import stat
import subprocess

import pytest

from components.db_bootstrap import BOOTSTRAP_SH, BOOTSTRAP_SQL, ODOO_CONF_PATH, ODOO_INIT_SH, ODOO_REQUIRED_MODULES
from tests.postgres_servers import AZURE_ADMIN, AZURE_ADMIN_PASSWORD, PostgresServer, client_path, postgres  # noqa: F401

TENANT_PASSWORD = "tenant-Password_9.z~"
MODULES = ODOO_REQUIRED_MODULES  # base,web,session_redis,attachment_azure
_names = itertools.count(1)

# TEST DOUBLE for the odoo binary, not Odoo: records argv (one argument a line, then a line "--") in
# $ODOO_DOUBLE_CALLS; exits 1 when $ODOO_DOUBLE_EXIT says so; otherwise marks the modules given to -i
# (minus $ODOO_DOUBLE_SKIP) installed, in tables shaped like Odoo 17's, through the PG* environment.
ODOO_TEST_DOUBLE = r"""#!/bin/sh
set -eu
{ for a in "$@"; do printf '%s\n' "$a"; done; echo --; } >> "$ODOO_DOUBLE_CALLS"
if [ "${ODOO_DOUBLE_EXIT:-0}" != 0 ]; then echo "odoo test double: failing on purpose" >&2; exit "$ODOO_DOUBLE_EXIT"; fi
modules=
while [ $# -gt 0 ]; do
  case "$1" in -i) modules="$2"; shift ;; esac
  shift
done
psql -X -q -v ON_ERROR_STOP=1 -v modules="$modules" -v skip="${ODOO_DOUBLE_SKIP:-}" <<'SQL'
CREATE TABLE IF NOT EXISTS ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE, state varchar);
CREATE TABLE IF NOT EXISTS ir_config_parameter (
  id serial PRIMARY KEY, key varchar NOT NULL CONSTRAINT ir_config_parameter_key_uniq UNIQUE, value text NOT NULL,
  create_uid integer, create_date timestamp, write_uid integer, write_date timestamp);
INSERT INTO ir_module_module (name, state)
  SELECT name, 'installed' FROM unnest(string_to_array(:'modules', ',')) AS name WHERE name <> :'skip'
  ON CONFLICT (name) DO UPDATE SET state = 'installed';
SQL
"""


class Tenant:
    """One tenant database and role on one server, bootstrapped like production."""

    def __init__(self, server: PostgresServer):
        self.server = server
        self.name = f"odoo_init{next(_names)}_dev"
        self.work = server.workdir()
        server.create_database_as_admin(self.name)
        self._write("bootstrap.sql", BOOTSTRAP_SQL)
        self._write("bootstrap.sh", BOOTSTRAP_SH)
        self._write("tenant-password", TENANT_PASSWORD)
        self._write("admin-password", AZURE_ADMIN_PASSWORD)
        self._write("odoo-init.sh", ODOO_INIT_SH)
        self._write("odoo-test-double", ODOO_TEST_DOUBLE)
        os.chmod(os.path.join(self.work, "odoo-test-double"), stat.S_IRWXU)
        env = {
            **os.environ, "PATH": client_path(), "PGHOST": "127.0.0.1", "PGPORT": str(server.port), "PGSSLMODE": "disable", "PGADMIN": AZURE_ADMIN,
            "TENANT_ROLE": self.name, "TENANT_DATABASE": self.name, "TENANT_PASSWORD_FILE": self._path("tenant-password"),
            "ADMIN_PASSWORD_FILE": self._path("admin-password"), "BOOTSTRAP_SQL": self._path("bootstrap.sql"),
        }
        done = subprocess.run(["sh", self._path("bootstrap.sh")], env=env, capture_output=True, text=True, timeout=60, start_new_session=True)
        assert done.returncode == 0, done.stderr

    def _path(self, name: str) -> str:
        return os.path.join(self.work, name)

    def _write(self, name: str, content: str) -> None:
        with open(self._path(name), "w", encoding="utf-8") as f:
            f.write(content)

    def init(self, password_file: str = "tenant-password", **double: str) -> subprocess.CompletedProcess:
        """Run the shipped ODOO_INIT_SH as the tenant, as the Odoo pod would; `double` sets ODOO_DOUBLE_*."""
        env = {
            "PATH": client_path(), "HOME": self.work,
            "PGHOST": "127.0.0.1", "PGPORT": str(self.server.port), "PGDATABASE": self.name, "PGUSER": self.name,
            "PGSSLMODE": "disable", "DB_PASSWORD_FILE": self._path(password_file), "ODOO_REQUIRED_MODULES": MODULES,
            "ODOO_BIN": self._path("odoo-test-double"), "ODOO_DOUBLE_CALLS": self._path("odoo-calls"),
            **{f"ODOO_DOUBLE_{key.upper()}": value for key, value in double.items()},
        }
        return subprocess.run(["sh", self._path("odoo-init.sh")], env=env, capture_output=True, text=True, timeout=60)

    def odoo_calls(self) -> list[list[str]]:
        if not os.path.exists(self._path("odoo-calls")):
            return []
        with open(self._path("odoo-calls"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        calls, current = [], []
        for line in lines:
            if line == "--":
                calls.append(current)
                current = []
            else:
                current.append(line)
        return calls

    def sql(self, statement: str) -> str:
        return self.server.sql(statement, db=self.name)

    def location(self) -> str:
        if self.sql("SELECT to_regclass('ir_config_parameter') IS NULL") == "t":
            return "<no table>"
        return self.sql("SELECT coalesce((SELECT value FROM ir_config_parameter WHERE key = 'ir_attachment.location'), '<unset>')")


@pytest.fixture(scope="module")
def installed(postgres: PostgresServer) -> Tenant:
    """A tenant database after the step's first run; every test using it leaves it in that state."""
    tenant = Tenant(postgres)
    tenant.first_run = tenant.init()  # type: ignore[attr-defined]
    return tenant


@pytest.fixture()
def fresh(postgres: PostgresServer) -> Tenant:
    return Tenant(postgres)


def expected_call(tenant: Tenant) -> list[str]:
    return ["-c", ODOO_CONF_PATH, "-d", tenant.name, "-i", MODULES, "--stop-after-init", "--without-demo=all"]


def move_call(tenant: Tenant) -> list[str]:
    """After an install: what it stored in the local filestore moves to the object store (force_storage)."""
    return ["shell", "-c", ODOO_CONF_PATH, "-d", tenant.name]


def test_first_run_installs_the_modules_once_and_stores_attachments_on_azure(installed):
    assert installed.first_run.returncode == 0, installed.first_run.stderr
    assert installed.odoo_calls()[:2] == [expected_call(installed), move_call(installed)]
    assert installed.location() == "azure"
    assert installed.sql("SELECT string_agg(name || '=' || state, ',' ORDER BY name) FROM ir_module_module") == (
        "attachment_azure=installed,base=installed,session_redis=installed,web=installed"
    )
    # the tenant role made every table: the step runs as the tenant, not as the admin
    assert installed.sql("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relname IN ('ir_module_module', 'ir_config_parameter')") == installed.name
    assert installed.sql("SELECT create_uid, write_uid, create_date IS NOT NULL FROM ir_config_parameter WHERE key = 'ir_attachment.location'") == "1|1|t"


def test_a_second_run_does_not_call_odoo(installed):
    calls = len(installed.odoo_calls())
    written = installed.sql("SELECT write_date FROM ir_config_parameter WHERE key = 'ir_attachment.location'")
    again = installed.init()
    assert again.returncode == 0, again.stderr
    assert len(installed.odoo_calls()) == calls
    assert installed.location() == "azure"
    assert installed.sql("SELECT count(*) FROM ir_config_parameter WHERE key = 'ir_attachment.location'") == "1"
    assert installed.sql("SELECT write_date FROM ir_config_parameter WHERE key = 'ir_attachment.location'") == written  # untouched


def test_a_file_location_becomes_azure_without_calling_odoo(installed):
    calls = len(installed.odoo_calls())
    installed.sql("UPDATE ir_config_parameter SET value = 'file' WHERE key = 'ir_attachment.location'")
    again = installed.init()
    assert again.returncode == 0, again.stderr
    assert installed.location() == "azure"
    assert len(installed.odoo_calls()) == calls


def test_an_uninstalled_attachment_azure_triggers_an_install(installed):
    calls = len(installed.odoo_calls())
    installed.sql("UPDATE ir_module_module SET state = 'uninstalled' WHERE name = 'attachment_azure'")
    again = installed.init()
    assert again.returncode == 0, again.stderr
    assert installed.odoo_calls()[calls:] == [expected_call(installed), move_call(installed)]
    assert installed.sql("SELECT state FROM ir_module_module WHERE name = 'attachment_azure'") == "installed"
    assert installed.location() == "azure"


def test_no_odoo_call_when_the_database_cannot_be_reached(installed):
    calls = len(installed.odoo_calls())
    with open(os.path.join(installed.work, "wrong-password"), "w", encoding="utf-8") as f:
        f.write("not-the-password")
    result = installed.init(password_file="wrong-password")
    assert result.returncode != 0
    assert "password authentication failed" in result.stderr
    assert len(installed.odoo_calls()) == calls


def test_a_failing_odoo_fails_the_step_and_leaves_the_parameter_unset(fresh):
    failed = fresh.init(exit="1")
    assert failed.returncode != 0
    assert "odoo failed" in failed.stderr
    assert fresh.odoo_calls() == [expected_call(fresh)]
    assert fresh.location() == "<no table>"
    # odoo -i only warns about a module it cannot find and exits 0: the step checks the outcome itself
    incomplete = fresh.init(skip="attachment_azure")
    assert incomplete.returncode != 0
    assert "still lacks" in incomplete.stderr
    assert fresh.location() == "<unset>"
    # with Odoo's tables there, a failing odoo still leaves no parameter behind
    assert fresh.init(exit="1").returncode != 0
    assert fresh.location() == "<unset>"
    assert len(fresh.odoo_calls()) == 3


def test_the_script_passes_values_to_sql_only_as_psql_variables():
    for statement_part in ("ir_attachment.location", "azure"):
        assert f"'{statement_part}'" not in ODOO_INIT_SH  # never spliced into SQL text as a literal
    assert ":'key'" in ODOO_INIT_SH and ":'value'" in ODOO_INIT_SH and ":'modules'" in ODOO_INIT_SH
    assert "<<SQL" not in ODOO_INIT_SH and ODOO_INIT_SH.count("<<'SQL'") == 2  # quoted here-documents: the shell expands nothing in SQL
