"""The tenant's two login roles on the server, handled as the Azure server admin (CREATEROLE, no superuser).

A password is set as a SCRAM verifier computed here (libpq's PQencryptPasswordConn, psycopg `encrypt_password`):
the clear password is in no statement the server could log. A retired login keeps its role (it may own nothing,
or own the database, for the tenant role) and loses its password (`PASSWORD NULL`): no new session, while its open
sessions run to their end. PostgreSQL checks a password only when a session starts, so changing or removing it
never cuts a session already open (docs: ALTER ROLE, "client authentication").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from ops.backup.errors import OpsError, first_line

from .credential import Credential


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    admin: str
    admin_password: str
    sslmode: str = "require"
    connect_timeout: int = 10

    def connect(self, user: str, password: str, dbname: str, step: str) -> Any:
        try:
            return psycopg.connect(host=self.host, port=self.port, user=user, password=password, dbname=dbname, sslmode=self.sslmode,
                                   connect_timeout=self.connect_timeout, application_name="ops.rotate", autocommit=True)
        except psycopg.Error as error:
            raise OpsError(step, first_line(error), obj=f"{user}@{dbname}", target="database") from None

    def admin_connection(self, step: str) -> Any:
        return self.connect(self.admin, self.admin_password, "postgres", step)


def prepare_login(server: Server, base_role: str, credential: Credential, database: str) -> None:
    """Make `credential.login` a login acting as `base_role` with `credential.password`, then prove it by logging in."""
    step = "prepare-login"
    with server.admin_connection(step) as conn:
        try:
            _ensure_login(conn, base_role, credential.login)
            verifier = conn.pgconn.encrypt_password(credential.password.encode(), credential.login.encode(), b"scram-sha-256")
            conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(sql.Identifier(credential.login), sql.Literal(verifier.decode())))
        except psycopg.Error as error:
            raise OpsError(step, first_line(error), obj=credential.login, target="database") from None
    with server.connect(credential.login, credential.password, database, "verify-login") as conn:
        acting = conn.execute("SELECT current_user").fetchone()[0]
    if acting != base_role:
        raise OpsError("verify-login", f"sessions act as {acting!r}, not {base_role!r}", obj=credential.login, target="database")


def _ensure_login(conn: Any, base_role: str, login: str) -> None:
    if login == base_role:
        return
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone()
    if not exists:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB NOCREATEROLE INHERIT").format(sql.Identifier(login)))
    if not conn.execute("SELECT pg_has_role(%s, %s, 'USAGE')", (login, base_role)).fetchone()[0]:
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(base_role), sql.Identifier(login)))
    # What the second login creates (Odoo's tables on a module install) belongs to the tenant role, as before.
    conn.execute(sql.SQL("ALTER ROLE {} SET role = {}").format(sql.Identifier(login), sql.Literal(base_role)))


def sessions(server: Server, login: str, step: str = "count-sessions") -> int:
    """Open sessions of `login` on the whole server (the tenant database, its drill database, backups)."""
    with server.admin_connection(step) as conn:
        return int(conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()", (login,)).fetchone()[0])


def retire_login(server: Server, login: str) -> None:
    step = "retire-login"
    with server.admin_connection(step) as conn:
        try:
            conn.execute(sql.SQL("ALTER ROLE {} WITH PASSWORD NULL").format(sql.Identifier(login)))
        except psycopg.Error as error:
            raise OpsError(step, first_line(error), obj=login, target="database") from None
