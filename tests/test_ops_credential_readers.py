"""The jobs that read the tenant database credential keep working after a rotation (ops/rotate/credential.py).

Once rotated, the Key Vault secret holds `<login>:<password>` of the tenant role or of its second login `<role>_b`
(a member acting as the role). Here the second login is made by the rotation's own code (ops/rotate/postgres.py), the
tenant role's own password is removed, and the password file the CSI driver would mount holds `<role>_b:<password>`:
a backup, a drill into the drill database and a refresh import must log in as `<role>_b` on a real PostgreSQL 17.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import uuid

import pytest

from ops import odoo_sample
from ops.backup import cli as backup_cli
from ops.backup.errors import EXIT_FAILED, EXIT_OK
from ops.refresh import cli as refresh_cli
from ops.rotate import postgres as rotate_pg
from ops.rotate.credential import Credential, new_password
from tests.object_servers import azurite, s3  # noqa: F401  (fixtures)
from tests.postgres_servers import AZURE_ADMIN, AZURE_ADMIN_PASSWORD, server
from tests.test_ops_backup import KEY, Run, Tenant, make_tenant, run

SMALL = odoo_sample.SampleSize(partners=40, moves=120, lines_per_move=3, messages=40, tasks=20, attachments=4, attachment_bytes=64 * 1024)


@pytest.fixture(scope="module")
def rotated(request, azurite, s3, tmp_path_factory):  # noqa: F811
    """A tenant whose credential was rotated to its second login; the tenant role itself can no longer log in."""
    t = make_tenant(server(17, request.config), azurite, s3, data=False)
    with t.connect() as conn:
        odoo_sample.create(conn, SMALL, t.filestore)
    # The Azure admin holds the tenant role WITH ADMIN OPTION, as the bootstrap leaves it (components/db_bootstrap.py).
    t.pg.sql(f"GRANT {t.role} TO {AZURE_ADMIN} WITH ADMIN OPTION")
    credential = Credential(f"{t.role}_b", new_password())
    admin = rotate_pg.Server("127.0.0.1", t.pg.port, AZURE_ADMIN, AZURE_ADMIN_PASSWORD, sslmode="disable")
    rotate_pg.prepare_login(admin, t.role, credential, t.role)
    rotate_pg.retire_login(admin, t.role)
    assert t.pg.login(t.role, KEY, t.role).returncode != 0  # only the second login works now
    path = tmp_path_factory.mktemp("secrets") / "db-password"
    path.write_text(credential.text() + "\n", encoding="utf-8")  # the CSI driver's file: the secret's value
    return t, credential, str(path)


def _sessions_of(t: Tenant, login: str) -> int:
    return int(t.pg.sql(f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{login}'"))


def test_backup_and_drill_log_in_as_the_login_the_file_names(rotated, monkeypatch):
    t, credential, path = rotated
    wrong = {"PGPASSWORD": "not-the-password", "DRILL_PGPASSWORD": "not-the-password"}
    backup = run(t, [*t.backup_args(), "--db-password-file", path], monkeypatch, **wrong)
    assert backup.code == EXIT_OK, backup.stderr
    # the drill as the platform's CronJob runs it: the tenant credential, into the drill database owned by the role
    drill_db = f"{t.role}_drill"
    t.pg.sql(f"CREATE DATABASE {drill_db} OWNER {t.role}")
    args = t.drill_args("--scratch-database", drill_db, "--scratch-password-file", path)
    args[args.index("--scratch-user") + 1] = t.role
    drill = run(t, args, monkeypatch, **wrong)
    assert drill.code == EXIT_OK, drill.stderr
    assert drill.record["verdict"] == "pass" and drill.record["set_id"] == backup.record["set_id"]
    assert {c["name"]: c for c in drill.record["checks"]}["row_counts"]["ok"]
    # what the second login made in the drill database belonged to the tenant role, and nothing is left open
    assert t.pg.sql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{drill_db}'") == t.role
    assert _sessions_of(t, credential.login) == 0


def test_refresh_import_logs_in_as_the_login_the_file_names(rotated, monkeypatch):
    """No export yet: the import reads the environment's refresh record first (a login), then finds nothing to
    import (exit 1, not a login fault)."""
    t, _, path = rotated
    exports = t.azurite.container("exports")
    argv = ["import", "--target", "gc/dev", "--exports-connection-string", t.azurite.connection_string(), "--exports-container",
            exports.container_name, "--db-host", "127.0.0.1", "--db-port", str(t.pg.port), "--db-user", t.role, "--db-name", t.role,
            "--db-sslmode", "disable", "--db-password-file", path, "--retries", "0"]
    monkeypatch.setenv("PGPASSWORD", "not-the-password")
    result = run_refresh(argv)
    assert result.code == EXIT_FAILED, result.stderr
    assert result.record["error"].startswith("select-export"), result.record


def run_refresh(argv: list[str]) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = refresh_cli.main(argv)
    stderr = err.getvalue()
    return Run(code, [json.loads(line) for line in out.getvalue().splitlines()], [json.loads(line) for line in stderr.splitlines()], stderr)


@pytest.mark.parametrize("value, login, password", [
    ("Pulumi-first_version.~0", "odoo_gc_dev", "Pulumi-first_version.~0"),  # Pulumi's first version: the role's password
    ("odoo_gc_dev_b:s3cret-_.~", "odoo_gc_dev_b", "s3cret-_.~"),
    ("odoo_gc_dev:a:b", "odoo_gc_dev", "a:b"),  # the first ':' ends the login
])
def test_a_credential_file_in_either_format(tmp_path, value, login, password):
    path = tmp_path / "db-password"
    path.write_text(value + "\n", encoding="utf-8")
    assert backup_cli._login("odoo_gc_dev", str(path), "PGPASSWORD", False, "database password") == (login, password)


def test_without_a_file_the_user_and_the_environment_password_stay(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "user:from-env")  # an environment password is never split
    assert backup_cli._login("odoo_gc_dev", None, "PGPASSWORD", False, "database password") == ("odoo_gc_dev", "user:from-env")


def test_refresh_export_reads_its_scratch_credential_the_same_way(tmp_path, monkeypatch):
    from ops.refresh import export

    path = tmp_path / "db-password"
    path.write_text("odoo_gc_prod_b:pw-" + uuid.uuid4().hex, encoding="utf-8")
    key = tmp_path / "key"
    key.write_text("a-masking-key-of-32-characters..", encoding="utf-8")
    seen: dict[str, argparse.Namespace] = {}

    def capture(tenant, target, source, scratch, *rest):
        seen["scratch"] = scratch
        return {"event": "refresh-export"}, EXIT_OK

    monkeypatch.setattr(export, "run_export", capture)
    argv = ["export", "--target", "gc/dev", "--exports-connection-string", "UseDevelopmentStorage=true", "--tenant", "gc-prod",
            "--azure-connection-string", "UseDevelopmentStorage=true", "--scratch-host", "db", "--scratch-user", "odoo_gc_prod",
            "--scratch-password-file", str(path), "--scratch-database", "odoo_gc_prod_refresh", "--key-file", str(key)]
    assert run_refresh(argv).code == EXIT_OK
    assert (seen["scratch"].user, seen["scratch"].password) == ("odoo_gc_prod_b", path.read_text().split(":", 1)[1])
