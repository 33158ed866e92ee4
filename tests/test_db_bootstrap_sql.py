"""The tenant-role bootstrap script against real PostgreSQL servers of every supported major, in Azure's model.

On Azure Flexible Server the server admin is no superuser: LOGIN, CREATEROLE, CREATEDB, member of
azure_pg_admin; ARM creates each database owned by that admin. The script runs as that admin, over TCP
with a password, exactly as the Job runs it (BOOTSTRAP_SH calling psql on BOOTSTRAP_SQL). One run hands the
tenant role its database and its drill database (`<database>_drill`, the scratch database restore drills use).
"""
import os
import stat
import subprocess
from typing import Optional

import pytest

from components.db_bootstrap import BOOTSTRAP_SH, BOOTSTRAP_SQL, DRILL_SUFFIX, drill_database
from components.naming import NameRuleError, TenantNames
from tests.postgres_servers import AZURE_ADMIN, AZURE_ADMIN_PASSWORD, PostgresServer, postgres, psql_binary  # noqa: F401

TENANT = "odoo_gc_dev"  # role and database, as TenantNames makes them
OTHER = "odoo_xy_dev"  # another tenant on the same server
TENANT_DRILL = TENANT + DRILL_SUFFIX
OTHER_DRILL = OTHER + DRILL_SUFFIX
FIRST_PASSWORD = "first-Password_1.x~"
SECOND_PASSWORD = "second-Password_2.y~"


def bootstrap(server: PostgresServer, role: str, password: str, database: str, drill: Optional[str] = "") -> subprocess.CompletedProcess:
    """Run the shipped BOOTSTRAP_SH as the Job does, psql on PATH wrapped to record every argv it gets.
    `drill`: TENANT_DRILL_DATABASE, by default `database` + DRILL_SUFFIX as the Job sets it; None leaves it unset."""
    work = server.workdir()
    files = {
        "bootstrap.sql": BOOTSTRAP_SQL, "bootstrap.sh": BOOTSTRAP_SH, "tenant-password": password, "admin-password": AZURE_ADMIN_PASSWORD,
        # records each psql argv, one argument per line, then runs the real psql
        "bin/psql": f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done >> "{work}/psql-argv"\nexec "{psql_binary()}" "$@"\n',
    }
    for name, content in files.items():
        path = os.path.join(work, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
    os.chmod(os.path.join(work, "bin/psql"), stat.S_IRWXU)
    env = {
        "PATH": f"{work}/bin:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": work,
        "PGHOST": "127.0.0.1",
        "PGPORT": str(server.port),
        "PGSSLMODE": "disable",  # the local server has no certificate; the shipped default stays `require`
        "PGADMIN": AZURE_ADMIN,
        "TENANT_ROLE": role,
        "TENANT_DATABASE": database,
        **({} if drill is None else {"TENANT_DRILL_DATABASE": drill or database + DRILL_SUFFIX}),
        "TENANT_PASSWORD_FILE": os.path.join(work, "tenant-password"),
        "ADMIN_PASSWORD_FILE": os.path.join(work, "admin-password"),
        "BOOTSTRAP_SQL": os.path.join(work, "bootstrap.sql"),
    }
    # A new session has no controlling terminal, like a Job's container: \password then reads stdin.
    result = subprocess.run(["sh", os.path.join(work, "bootstrap.sh")], env=env, capture_output=True, text=True, timeout=60, start_new_session=True)
    with open(os.path.join(work, "psql-argv"), encoding="utf-8") as f:
        result.psql_argv = f.read()  # type: ignore[attr-defined]
    return result


@pytest.fixture(scope="module")
def tenants(postgres: PostgresServer) -> PostgresServer:
    """Two tenants' databases and drill databases made the Azure way (owned by the admin); only TENANT is bootstrapped first."""
    for db in (TENANT, TENANT_DRILL, OTHER, OTHER_DRILL):
        if postgres.sql(f"SELECT count(*) FROM pg_database WHERE datname = '{db}'") == "0":
            postgres.create_database_as_admin(db)
    return postgres


def owner(server: PostgresServer, db: str) -> str:
    return server.sql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db}'")


def assert_isolated(server: PostgresServer, role: str, db: str) -> None:
    """`db` as the bootstrap leaves it: owned by `role`, schema public too, nothing for PUBLIC."""
    assert owner(server, db) == role
    assert server.sql("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'", db=db) == role
    assert server.sql(f"SELECT has_database_privilege('{role}', '{db}', 'CONNECT, TEMPORARY, CREATE')") == "t"
    # PUBLIC keeps no CONNECT (nor TEMPORARY) on the database
    assert server.sql(f"SELECT count(*) FROM pg_database, aclexplode(datacl) a WHERE datname = '{db}' AND a.grantee = 0") == "0"


def test_drill_database_names():
    assert drill_database(TenantNames("gc", "prod")) == "odoo_gc_prod_drill"
    assert drill_database(TenantNames("gc", "dev")) == TENANT_DRILL
    # the longest names config allows (unit: 8 characters, environment: 10) stay far below PostgreSQL's 63 bytes
    assert len(drill_database(TenantNames("a" * 8, "b" * 10)).encode()) == 30
    with pytest.raises(NameRuleError, match="at most 63"):
        drill_database(TenantNames("u" * 28, "e" * 28))


def test_the_server_is_azure_like(tenants):
    assert tenants.version.split(".")[0] == str(tenants.major)
    assert tenants.sql(f"SELECT rolsuper, rolcreaterole, rolcreatedb, pg_has_role('{AZURE_ADMIN}', 'azure_pg_admin', 'MEMBER') FROM pg_roles WHERE rolname = '{AZURE_ADMIN}'") == "f|t|t|t"
    assert owner(tenants, TENANT) == owner(tenants, TENANT_DRILL) == AZURE_ADMIN


def test_creates_a_plain_login_role_owning_its_database_and_drill_database(tenants):
    result = bootstrap(tenants, TENANT, FIRST_PASSWORD, TENANT)
    assert result.returncode == 0, result.stderr
    assert tenants.sql(f"SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles WHERE rolname = '{TENANT}'") == "f|f|f|t"
    for db in (TENANT, TENANT_DRILL):
        assert_isolated(tenants, TENANT, db)
    assert tenants.sql(f"SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE pg_get_userbyid(datdba) = '{TENANT}'") == f"{TENANT},{TENANT_DRILL}"
    assert tenants.sql(f"SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = '{TENANT}'") == "t"
    assert FIRST_PASSWORD not in result.stdout + result.stderr


def test_the_tenant_logs_in_to_its_own_databases_only(tenants):
    for db in (TENANT, TENANT_DRILL):
        own = tenants.login(TENANT, FIRST_PASSWORD, db, "CREATE TABLE probe (id int); DROP TABLE probe; SELECT current_user")
        assert own.returncode == 0, own.stderr
        assert own.stdout.strip() == TENANT
    assert tenants.login(TENANT, "wrong-password", TENANT).returncode != 0
    # ARM's databases still let PUBLIC connect until the other tenant's bootstrap revokes it
    for foreign in (OTHER, OTHER_DRILL):
        assert tenants.login(TENANT, FIRST_PASSWORD, foreign).returncode == 0
    other = bootstrap(tenants, OTHER, SECOND_PASSWORD, OTHER)
    assert other.returncode == 0, other.stderr
    for role, password, foreigns in ((TENANT, FIRST_PASSWORD, (OTHER, OTHER_DRILL)), (OTHER, SECOND_PASSWORD, (TENANT, TENANT_DRILL))):
        for foreign in foreigns:
            assert tenants.sql(f"SELECT has_database_privilege('{role}', '{foreign}', 'CONNECT')") == "f"
            refused = tenants.login(role, password, foreign)
            assert refused.returncode != 0
            assert "permission denied for database" in refused.stderr
    for db in (OTHER, OTHER_DRILL):
        assert tenants.login(OTHER, SECOND_PASSWORD, db).returncode == 0


def test_the_tenant_empties_its_drill_database_but_creates_no_database(tenants):
    emptied = tenants.login(
        TENANT, FIRST_PASSWORD, TENANT_DRILL,
        "CREATE TABLE leftover (id int); DROP SCHEMA public CASCADE; CREATE SCHEMA public; CREATE TABLE public.restored (id int); SELECT current_user",
    )
    assert emptied.returncode == 0, emptied.stderr
    assert tenants.sql("SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'", db=TENANT_DRILL) == "restored"
    assert_isolated(tenants, TENANT, TENANT_DRILL)
    refused = tenants.login(TENANT, FIRST_PASSWORD, TENANT_DRILL, "CREATE DATABASE odoo_gc_dev_scratch")
    assert refused.returncode != 0
    assert "permission denied to create database" in refused.stderr
    # a drill stopped between DROP SCHEMA and CREATE SCHEMA: the next bootstrap makes schema public again
    assert tenants.login(TENANT, FIRST_PASSWORD, TENANT_DRILL, "DROP SCHEMA public CASCADE").returncode == 0
    again = bootstrap(tenants, TENANT, FIRST_PASSWORD, TENANT)
    assert again.returncode == 0, again.stderr
    for db in (TENANT, TENANT_DRILL):
        assert_isolated(tenants, TENANT, db)


def test_rerunning_is_safe_and_applies_a_changed_password(tenants):
    again = bootstrap(tenants, TENANT, FIRST_PASSWORD, TENANT)
    assert again.returncode == 0, again.stderr
    assert tenants.sql(f"SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles WHERE rolname = '{TENANT}'") == "f|f|f|t"
    rotated = bootstrap(tenants, TENANT, SECOND_PASSWORD, TENANT)
    assert rotated.returncode == 0, rotated.stderr
    assert tenants.login(TENANT, SECOND_PASSWORD, TENANT).returncode == 0
    assert tenants.login(TENANT, SECOND_PASSWORD, TENANT_DRILL).returncode == 0
    assert tenants.login(TENANT, FIRST_PASSWORD, TENANT).returncode != 0
    assert tenants.sql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{TENANT}'") == "1"
    for db in (TENANT, TENANT_DRILL):
        assert_isolated(tenants, TENANT, db)
    # the other tenant's databases are untouched by this tenant's runs
    for db in (OTHER, OTHER_DRILL):
        assert_isolated(tenants, OTHER, db)
    # the admin may act as the tenant role (SET) and holds its privileges (INHERIT), nothing else changed
    if tenants.major >= 16:
        assert tenants.sql(f"SELECT pg_has_role('{AZURE_ADMIN}', '{TENANT}', 'SET'), pg_has_role('{AZURE_ADMIN}', '{TENANT}', 'USAGE')") == "t|t"
    assert tenants.sql(f"SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = '{AZURE_ADMIN}'") == "f|t|t"
    # restore the first password for the tests that follow
    assert bootstrap(tenants, TENANT, FIRST_PASSWORD, TENANT).returncode == 0


def test_the_password_is_in_no_argv_no_variable_and_no_server_log(tenants):
    result = bootstrap(tenants, TENANT, SECOND_PASSWORD, TENANT)
    assert result.returncode == 0, result.stderr
    argv = result.psql_argv  # type: ignore[attr-defined]
    assert {f"role={TENANT}", f"db={TENANT}", f"drill_db={TENANT_DRILL}"} <= set(argv.splitlines())  # the wrapper did record psql's arguments
    assert SECOND_PASSWORD not in argv
    assert not any(line.startswith("pw=") or "PASSWORD" in line.upper() for line in argv.splitlines())
    log = tenants.log()  # the test servers log every statement (log_statement = all)
    for password in (FIRST_PASSWORD, SECOND_PASSWORD):
        assert password not in log
    assert f"ALTER USER {TENANT} PASSWORD 'SCRAM-SHA-256$" in log  # what psql's \password sends: a SCRAM verifier
    assert bootstrap(tenants, TENANT, FIRST_PASSWORD, TENANT).returncode == 0


def test_fails_loudly_when_the_database_is_missing(tenants):
    result = bootstrap(tenants, "odoo_missing_dev", "x-Password_3", "odoo_missing_dev")
    assert result.returncode != 0
    assert 'database "odoo_missing_dev" does not exist' in result.stderr
    assert tenants.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'odoo_missing_dev'") == "0"  # checked before any role is touched


def test_fails_naming_a_missing_drill_database_and_changes_nothing(tenants):
    """A stack that has not made the drill database yet: the Job fails (and is retried) rather than succeed without it."""
    name, password = "odoo_nodrill_dev", "nodrill-Password_4"
    if tenants.sql(f"SELECT count(*) FROM pg_database WHERE datname = '{name}'") == "0":
        tenants.create_database_as_admin(name)
    missing = bootstrap(tenants, name, password, name)
    assert missing.returncode != 0
    assert f'drill database "{name}_drill" does not exist' in missing.stderr
    assert "pulumi up" in missing.stderr  # the HINT says what makes it
    assert tenants.sql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{name}'") == "0"
    assert owner(tenants, name) == AZURE_ADMIN
    # a caller naming no drill database (TENANT_DRILL_DATABASE unset) gets the tenant database only
    alone = bootstrap(tenants, name, password, name, drill=None)
    assert alone.returncode == 0, alone.stderr
    assert_isolated(tenants, name, name)
    tenants.create_database_as_admin(name + DRILL_SUFFIX)
    both = bootstrap(tenants, name, password, name)
    assert both.returncode == 0, both.stderr
    for db in (name, name + DRILL_SUFFIX):
        assert_isolated(tenants, name, db)
    refused = tenants.login(TENANT, FIRST_PASSWORD, name + DRILL_SUFFIX)
    assert refused.returncode != 0 and "permission denied for database" in refused.stderr
