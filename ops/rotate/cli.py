"""`python -m ops.rotate <tenant-db-password|redis-access-key|postgres-admin-password>`: flags, each with an environment
variable (a CronJob spec sets those), one JSON record on stdout, JSON log lines on stderr, the exit codes of
ops/backup/errors.py (0 done or not due, 1 rotated but the old credential is still in use, 2 bad flags, 3 a fault).
A fault is one line naming the step; never a traceback (OPS_DEBUG=1 for one)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from typing import Any, Callable, Optional, Sequence

from ops.backup.errors import EXIT_FAULT, EXIT_OK, EXIT_USAGE, OpsError, first_line
from ops.backup.log import Log
from ops.refresh.kube import KubeApi

from . import postgres
from .kube import RollingRestart
from .rest import Arm, KeyVault
from .rotate import Schedule, rotate_admin_password, rotate_redis_key, rotate_tenant_password

DAY = 86400


def _env(name: str, default: Any = None) -> Any:
    value = os.environ.get(name)
    return default if value in (None, "") else value


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m ops.rotate", description="Rotate one secret without downtime.")
    commands = root.add_subparsers(dest="command", required=True)
    for name in ("tenant-db-password", "redis-access-key", "postgres-admin-password"):
        p = commands.add_parser(name)
        p.add_argument("--vault-url", default=_env("ROTATE_VAULT_URL"), help="https://<vault>.vault.azure.net [env ROTATE_VAULT_URL]")
        p.add_argument("--secret", default=_env("ROTATE_SECRET"), help="Key Vault secret name [env ROTATE_SECRET]")
        p.add_argument("--rotation-days", type=int, default=int(_env("ROTATE_DAYS", 90)), help="days between rotations [env ROTATE_DAYS]")
        p.add_argument("--grace-days", type=int, default=int(_env("ROTATE_GRACE_DAYS", 35)), help="a version is due this long before its expiry [env ROTATE_GRACE_DAYS]")
        p.add_argument("--force", action="store_true", help="rotate even if not due")
        p.add_argument("--arm-endpoint", default=_env("ARM_ENDPOINT", "https://management.azure.com"), help="[env ARM_ENDPOINT]")
        p.add_argument("--restart", default=_env("ROTATE_RESTART", ""),
                       help="Deployments that read the secret at start, <namespace>/<name> comma-separated [env ROTATE_RESTART]")
        if name != "redis-access-key":
            p.add_argument("--pg-host", default=_env("PGHOST"), help="[env PGHOST]")
            p.add_argument("--pg-port", type=int, default=int(_env("PGPORT", 5432)), help="[env PGPORT]")
            p.add_argument("--pg-admin", default=_env("PGADMIN"), help="server admin login [env PGADMIN]")
            p.add_argument("--admin-password-file", default=_env("ADMIN_PASSWORD_FILE", "/mnt/secrets/admin-password"), help="[env ADMIN_PASSWORD_FILE]")
            p.add_argument("--sslmode", default=_env("PGSSLMODE", "require"), help="[env PGSSLMODE]")
        if name == "tenant-db-password":
            p.add_argument("--role", default=_env("TENANT_ROLE"), help="the tenant role owning the database [env TENANT_ROLE]")
            p.add_argument("--database", default=_env("TENANT_DATABASE"), help="[env TENANT_DATABASE]")
            p.add_argument("--drain-seconds", type=float, default=float(_env("ROTATE_DRAIN_SECONDS", 900)), help="[env ROTATE_DRAIN_SECONDS]")
        if name == "redis-access-key":
            p.add_argument("--database-id", default=_env("REDIS_DATABASE_ID"), help="ARM id of the Redis database [env REDIS_DATABASE_ID]")
        if name == "postgres-admin-password":
            p.add_argument("--server-id", default=_env("POSTGRES_SERVER_ID"), help="ARM id of the flexible server [env POSTGRES_SERVER_ID]")
    return root


REQUIRED = {
    "tenant-db-password": ("vault_url", "secret", "pg_host", "pg_admin", "role", "database"),
    "redis-access-key": ("vault_url", "secret", "database_id"),
    "postgres-admin-password": ("vault_url", "secret", "pg_host", "pg_admin", "server_id"),
}


def _token() -> Callable[[str], str]:
    from azure.identity import DefaultAzureCredential  # the job's workload identity; imported only when used

    credential = DefaultAzureCredential()
    return lambda scope: credential.get_token(scope).token


def _restarter(spec: str) -> Callable[[], None]:
    targets = [item.strip().split("/", 1) for item in spec.split(",") if item.strip()]
    if any(len(t) != 2 for t in targets):
        raise OpsError("configuration", f"--restart {spec!r}: expected <namespace>/<deployment>, comma-separated", exit_code=EXIT_USAGE)
    if not targets:
        return lambda: None
    kube = RollingRestart(KubeApi.in_cluster())

    def restart() -> None:
        by_namespace: dict[str, list[str]] = {}
        for namespace, name in targets:
            by_namespace.setdefault(namespace, []).append(name)
        for namespace, names in by_namespace.items():
            kube.restart(namespace, names)

    return restart


def _server(args: argparse.Namespace) -> postgres.Server:
    try:
        with open(args.admin_password_file, encoding="utf-8") as f:
            password = f.read().strip()
    except OSError as error:
        raise OpsError("configuration", f"admin password file: {error.strerror}", obj=args.admin_password_file, exit_code=EXIT_USAGE) from None
    return postgres.Server(args.pg_host, args.pg_port, args.pg_admin, password, sslmode=args.sslmode)


def run(args: argparse.Namespace, log: Log, token: Optional[Callable[[str], str]] = None) -> dict[str, Any]:
    missing = [f"--{k.replace('_', '-')}" for k in REQUIRED[args.command] if not getattr(args, k)]
    if missing:
        raise OpsError("configuration", f"missing {', '.join(missing)}", exit_code=EXIT_USAGE)
    if args.rotation_days <= args.grace_days:
        raise OpsError("configuration", f"--rotation-days {args.rotation_days} must be longer than --grace-days {args.grace_days}", exit_code=EXIT_USAGE)
    schedule = Schedule((args.rotation_days + args.grace_days) * DAY, args.grace_days * DAY, args.force)
    token = token or _token()
    vault = KeyVault(args.vault_url, token)
    restart = _restarter(args.restart)
    if args.command == "tenant-db-password":
        return rotate_tenant_password(_server(args), vault, args.secret, args.role, args.database, restart, schedule, log, drain_seconds=args.drain_seconds)
    arm = Arm(args.arm_endpoint, token)
    if args.command == "redis-access-key":
        return rotate_redis_key(arm, args.database_id, vault, args.secret, restart, schedule, log)
    return rotate_admin_password(arm, args.server_id, _server(args), vault, args.secret, schedule, log)


def main(argv: Optional[Sequence[str]] = None, token: Optional[Callable[[str], str]] = None) -> int:
    args = parser().parse_args(argv)
    log = Log()
    try:
        result = run(args, log, token)
    except OpsError as error:
        log.error("failed", message=error.line(), **error.fields())
        return error.exit_code
    except Exception as error:  # noqa: BLE001 - one line, never a traceback in the job's log
        if os.environ.get("OPS_DEBUG"):
            traceback.print_exc()
        log.error("failed", message=f"{args.command}: unexpected {type(error).__name__}: {first_line(error)}")
        return EXIT_FAULT
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    return EXIT_OK
