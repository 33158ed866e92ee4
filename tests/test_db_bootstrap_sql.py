"""The tenant-role bootstrap script against a real PostgreSQL server: right privileges, idempotent, password rotation."""
import glob
import os
import shutil
import subprocess
import tempfile

import pytest

from components.db_bootstrap import BOOTSTRAP_SH, BOOTSTRAP_SQL

ADMIN = "odooplatformadmin"


def _server_binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        pytest.fail(f"{name} not found: .ci/run installs Debian's postgresql package")
    return found


@pytest.fixture(scope="module")
def server():
    """A throwaway server on a private Unix socket (no TCP), run as the postgres user (initdb refuses root)."""
    base = tempfile.mkdtemp(prefix="odoo-bootstrap-", dir="/tmp")
    os.chmod(base, 0o777)
    data, sockets = os.path.join(base, "data"), os.path.join(base, "sockets")
    os.makedirs(sockets, mode=0o777)
    os.chmod(sockets, 0o777)
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*as_postgres, _server_binary("initdb"), "-D", data, "-U", "postgres", "--auth=trust"], check=True, capture_output=True)
    subprocess.run(
        [*as_postgres, _server_binary("pg_ctl"), "-D", data, "-w", "-l", os.path.join(base, "log"), "-o", f"-c listen_addresses='' -k {sockets}", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield {"host": sockets, "base": base}
    finally:
        subprocess.run([*as_postgres, _server_binary("pg_ctl"), "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def sql(server, statement: str, user: str = "postgres", db: str = "postgres") -> str:
    result = subprocess.run(
        ["psql", f"host={server['host']} dbname={db} user={user}", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", statement],
        capture_output=True, text=True, check=True,
    )
    return result.stdout.strip()


@pytest.fixture(scope="module")
def azure_like(server):
    """Like Azure: the server admin may create roles and databases but is no superuser; ARM made the database."""
    sql(server, f"CREATE ROLE {ADMIN} LOGIN CREATEROLE CREATEDB")
    sql(server, "CREATE DATABASE odoo_gc_dev", user=ADMIN)
    sql(server, "CREATE ROLE intruder LOGIN")
    return server


def bootstrap(server, password: str, database: str = "odoo_gc_dev") -> subprocess.CompletedProcess:
    work = tempfile.mkdtemp(dir=server["base"])
    files = {"bootstrap.sql": BOOTSTRAP_SQL, "bootstrap.sh": BOOTSTRAP_SH, "tenant-password": password, "admin-password": "unused-with-trust-auth"}
    for name, content in files.items():
        with open(os.path.join(work, name), "w", encoding="utf-8") as f:
            f.write(content)
    env = {
        **os.environ,
        "PGHOST": server["host"],
        "PGADMIN": ADMIN,
        "TENANT_ROLE": "odoo_gc_dev",
        "TENANT_DATABASE": database,
        "TENANT_PASSWORD_FILE": os.path.join(work, "tenant-password"),
        "ADMIN_PASSWORD_FILE": os.path.join(work, "admin-password"),
        "BOOTSTRAP_SQL": os.path.join(work, "bootstrap.sql"),
    }
    return subprocess.run(["sh", os.path.join(work, "bootstrap.sh")], env=env, capture_output=True, text=True)


def role(server) -> str:
    return sql(server, "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles WHERE rolname = 'odoo_gc_dev'")


def password_hash(server) -> str:
    return sql(server, "SELECT rolpassword FROM pg_authid WHERE rolname = 'odoo_gc_dev'")


def test_creates_a_plain_login_role_owning_only_its_database(azure_like):
    result = bootstrap(azure_like, "first-Password_1")
    assert result.returncode == 0, result.stderr
    assert role(azure_like) == "f|f|f|t"
    assert sql(azure_like, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'odoo_gc_dev'") == "odoo_gc_dev"
    assert sql(azure_like, "SELECT count(*) FROM pg_database WHERE pg_get_userbyid(datdba) = 'odoo_gc_dev'") == "1"
    assert sql(azure_like, "SELECT has_database_privilege('intruder', 'odoo_gc_dev', 'CONNECT')") == "f"
    assert sql(azure_like, "SELECT has_database_privilege('odoo_gc_dev', 'odoo_gc_dev', 'CREATE')") == "t"
    assert password_hash(azure_like).startswith("SCRAM-SHA-256$")
    assert "first-Password_1" not in result.stdout + result.stderr


def test_rerunning_is_safe_and_rotates_the_password(azure_like):
    before = password_hash(azure_like)
    again = bootstrap(azure_like, "first-Password_1")
    assert again.returncode == 0, again.stderr
    assert role(azure_like) == "f|f|f|t"
    rotated = bootstrap(azure_like, "second-Password_2")
    assert rotated.returncode == 0, rotated.stderr
    assert password_hash(azure_like) != before
    assert sql(azure_like, "SELECT count(*) FROM pg_roles WHERE rolname = 'odoo_gc_dev'") == "1"


def test_fails_loudly_when_the_database_is_missing(azure_like):
    result = bootstrap(azure_like, "x", database="odoo_missing_dev")
    assert result.returncode != 0
    assert 'database "odoo_missing_dev" does not exist' in result.stderr
