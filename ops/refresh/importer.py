"""`import` (the non-production side): the newest masked export of this environment -> its database, all or nothing.

The swap is one transaction (psql --single-transaction, ON_ERROR_STOP): extensions of the old schema dropped, schema
`public` renamed to `refresh_previous`, a new `public`, the export's restore script, the neutralisation again (the
export is neutralised already; this makes it hold whatever produced the file), every password reset, the
environment's own URL, the refresh recorded in ir_config_parameter, then `refresh_previous` dropped. Any failure
(a corrupt export: its SHA-256 is checked before the end of the stream reaches psql; a failing statement; a killed
job) rolls everything back: the environment keeps its previous data, never a half-imported copy. PostgreSQL's DDL is
transactional (https://www.postgresql.org/docs/current/app-psql.html --single-transaction; app-pgrestore.html).

With `--namespace`, Odoo is stopped around the swap (kube.py: its KEDA ScaledObjects paused at 0 replicas; requests
meanwhile get the ingress's 503) and started again after it, whatever happened. Without it Odoo keeps running: its
requests wait on the swap's locks, and the swap advances Odoo's registry and cache signaling sequences past their old
and new values, so every worker reloads its registry and caches on its next request (what a restart would do).
"""
from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import json
import os
import time
from typing import Any, Optional

from ops.backup import database, manifest as backup_manifest
from ops.backup.database import PgConfig
from ops.backup.errors import EXIT_FAILED, OpsError
from ops.backup.log import Log, iso, utc_now
from ops.backup.stream import Hashed
from ops.backup.targets import Store

from . import neutralize
from .export import DUMP, FORMAT, MANIFEST, Checks, checked, failed, finish, prefix_of, restore_in_one_transaction

PARAMETER_PREFIX = "odoo_platform.refresh."
# Odoo 16-18 hash passwords with passlib's pbkdf2_sha512, 600000 rounds in 17+ (odoo/addons/base/models/res_users.py
# DEFAULT_CRYPT_CONTEXT); a hash in passlib's format is what res_users.password holds.
PBKDF2_ROUNDS = 600_000

BEFORE_SQL = r"""DO $swap$
DECLARE e record;
BEGIN
  -- extensions installed in public would survive the rename and be dropped with the old schema: drop them now, the
  -- export's script creates them again in the new public
  FOR e IN SELECT x.extname FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace WHERE n.nspname = 'public' LOOP
    EXECUTE format('DROP EXTENSION %I CASCADE', e.extname);
  END LOOP;
  DROP SCHEMA IF EXISTS refresh_previous CASCADE;
  -- Odoo's registry and cache signaling sequences (odoo/modules/registry.py): after the swap each must be past both
  -- its old value and the export's, so that every Odoo worker reloads its registry and caches on its next request
  CREATE TEMP TABLE refresh_signaling ON COMMIT DROP AS
    SELECT sequencename::text AS name, coalesce(last_value, 0) AS value FROM pg_sequences
     WHERE schemaname = 'public' AND sequencename LIKE 'base\_%signaling%';
  ALTER SCHEMA public RENAME TO refresh_previous;
  CREATE SCHEMA public;
END
$swap$;
"""


SIGNAL_SQL = r"""DO $signal$
DECLARE s record;
BEGIN
  FOR s IN SELECT q.sequencename::text AS name, greatest(coalesce(q.last_value, 0), coalesce(o.value, 0)) + 1 AS next FROM pg_sequences q
           LEFT JOIN refresh_signaling o ON o.name = q.sequencename WHERE q.schemaname = 'public' AND q.sequencename LIKE 'base\_%signaling%' LOOP
    PERFORM setval(format('public.%I', s.name), s.next);
  END LOOP;
END
$signal$;
"""


@dataclasses.dataclass
class ImportOptions:
    base_url: Optional[str] = None  # https://<host> of this environment
    user_password: Optional[str] = None  # every internal user's password after the refresh; None: no password login
    export_id: Optional[str] = None
    force: bool = False  # import even if this export is the one already imported
    wait_s: float = 0  # wait this long for an export newer than the imported one
    poll_s: float = 60
    odoo_addons_dir: Optional[str] = None
    pg_bin_dir: Optional[str] = None


def passlib_pbkdf2_sha512(password: str, rounds: int = PBKDF2_ROUNDS, salt: Optional[bytes] = None) -> str:
    """`$pbkdf2-sha512$<rounds>$<salt>$<checksum>` with passlib's adapted base64 (`.` for `+`, no padding)."""
    salt = salt or os.urandom(16)
    checksum = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, rounds)

    def ab64(data: bytes) -> str:
        return base64.b64encode(data).decode().rstrip("=").replace("+", ".")

    return f"$pbkdf2-sha512${rounds}${ab64(salt)}${ab64(checksum)}"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def after_sql(options: ImportOptions, export: dict[str, Any], modules: list[str], imported_at: datetime.datetime) -> str:
    """Neutralise again, reset passwords, set the URL, record the refresh; then drop the previous data."""
    parts = [neutralize.script(options.odoo_addons_dir, modules)]
    parts.append("DO $users$ BEGIN IF to_regclass('public.res_users') IS NOT NULL THEN")
    if options.user_password:
        digest = passlib_pbkdf2_sha512(options.user_password)
        parts.append(f"  UPDATE res_users SET password = {_literal(digest)} WHERE NOT coalesce(share, false);")
        parts.append("  UPDATE res_users SET password = NULL WHERE coalesce(share, false);")
    else:
        parts.append("  UPDATE res_users SET password = NULL;")
    parts.append("END IF; END $users$;")
    values = {
        "export": export["export_id"], "source_set": export["source"]["set_id"], "source_tenant": export["source"]["tenant"],
        "snapshot_time": export["source"]["snapshot_time"], "profile": f"{export['profile']['name']}@{export['profile']['sha256'][:12]}",
        "at": iso(imported_at),
    }
    rows = [(PARAMETER_PREFIX + k, str(v)) for k, v in values.items()]
    if options.base_url:
        rows += [("web.base.url", options.base_url), ("web.base.url.freeze", "True")]
    parts.append("INSERT INTO ir_config_parameter (key, value) VALUES "
                 + ", ".join(f"({_literal(k)}, {_literal(v)})" for k, v in rows)
                 + " ON CONFLICT (key) DO UPDATE SET value = excluded.value;")
    parts.append(SIGNAL_SQL)
    parts.append("DROP SCHEMA refresh_previous CASCADE;")
    return "\n".join(parts) + "\n"


def list_exports(store: Store, prefix: str) -> dict[str, dict[str, int]]:
    return backup_manifest.list_sets(store, prefix.rstrip("/"))


def newest_export(store: Store, prefix: str) -> Optional[str]:
    complete = [e for e, objects in list_exports(store, prefix).items() if MANIFEST in objects]
    return max(complete) if complete else None


def read_export(store: Store, prefix: str, export_id: str) -> dict[str, Any]:
    key = prefix + export_id + "/" + MANIFEST
    try:
        document = json.loads(store.get(key, step="read-export-manifest"))
    except ValueError as error:
        raise OpsError("read-export-manifest", f"not JSON: {error}", obj=key, target=store.label, exit_code=EXIT_FAILED) from None
    if document.get("format") != FORMAT or document.get("export_id") != export_id or DUMP not in (document.get("objects") or {}):
        raise OpsError("read-export-manifest", f"not a {FORMAT} manifest of export {export_id}", obj=key, target=store.label, exit_code=EXIT_FAILED)
    if any(not c.get("ok") for c in document.get("checks", [])):
        raise OpsError("read-export-manifest", "the export records a failed check: refusing it", obj=key, target=store.label, exit_code=EXIT_FAILED)
    return document


def current_refresh(db: PgConfig) -> dict[str, str]:
    conn = db.connect(step="connect-target")
    try:
        if not conn.execute("SELECT to_regclass('public.ir_config_parameter') IS NOT NULL").fetchone()[0]:
            return {}
        rows = conn.execute("SELECT key, value FROM ir_config_parameter WHERE key LIKE %s", (PARAMETER_PREFIX + "%",)).fetchall()
        return {k[len(PARAMETER_PREFIX):]: v for k, v in rows}
    finally:
        conn.close()


def run_import(target: str, exports: Store, db: PgConfig, log: Log, options: ImportOptions = ImportOptions(), odoo: Any = None,
               now: Optional[datetime.datetime] = None) -> tuple[dict[str, Any], int]:
    """`odoo`: something with stop() and start() (kube.OdooScaler), or None (tests, a stopped environment)."""
    started = now or utc_now()
    clock = time.monotonic()
    prefix = prefix_of(target)
    checks = Checks(log)
    record: dict[str, Any] = {"event": "refresh-import", "target": prefix.rstrip("/"), "database": db.dbname, "started_at": iso(started),
                              "export_id": None, "verdict": "fail", "error": None, "imported": False}
    fault: Optional[OpsError] = None
    stopped = False
    try:
        exports.check("check-exports", prefix=prefix)
        previous = current_refresh(db)
        record["previous_export"] = previous.get("export")
        export_id = options.export_id or _wait_for_newer(exports, prefix, previous.get("export"), options, log)
        record["export_id"] = export_id
        if export_id is None:
            raise OpsError("select-export", f"no masked export under {prefix}", obj=prefix, target=exports.label, exit_code=EXIT_FAILED)
        if export_id == previous.get("export") and not options.force:
            if options.wait_s > 0:  # a scheduled refresh: the production export of this schedule never came
                raise OpsError("select-export", f"no export newer than the imported {export_id} after {options.wait_s:g} s",
                               obj=prefix, target=exports.label, exit_code=EXIT_FAILED)
            record["up_to_date"] = True
            checks.add("up_to_date", True, export_id=export_id)
        else:
            export = read_export(exports, prefix, export_id)
            record["source_set"] = export["source"]["set_id"]
            record["profile"] = export["profile"]
            dump = export["objects"][DUMP]
            key = prefix + export_id + "/" + DUMP
            modules = export.get("neutralized", {}).get("odoo_scripts", [])
            if odoo is not None:
                odoo.stop()
                stopped = True
                checks.add("odoo_stopped", True)
            clock_import = time.monotonic()
            chunks = checked(exports.read(key, dump["size"], step="read-export"), dump["size"], dump["sha256"], key)
            restore_in_one_transaction(options.pg_bin_dir, db, db.dbname, Hashed(chunks, log.progress("import", key, dump["size"])),
                                       BEFORE_SQL, after_sql(options, export, modules, started))
            record["import_s"] = round(time.monotonic() - clock_import, 3)
            record["imported"] = True
            checks.add("imported", True, object=key)
            conn = db.connect(step="connect-target")
            try:
                left = neutralize.problems(conn)
            finally:
                conn.close()
            checks.add("neutralized", not left, failures=left or None)
    except OpsError as error:
        fault = failed(error, record, checks)
    finally:
        if stopped:
            try:
                odoo.start()
                checks.add("odoo_started", True)
            except OpsError as error:
                checks.add("odoo_started", False, error=error.line())
    return finish(record, checks, fault, clock)


def _wait_for_newer(exports: Store, prefix: str, imported: Optional[str], options: ImportOptions, log: Log) -> Optional[str]:
    """The newest export; with wait_s, polls until one newer than the imported one appears (the production job of the
    same schedule is still writing it) or the time is up (then the newest, which may be the imported one)."""
    deadline = time.monotonic() + options.wait_s
    while True:
        newest = newest_export(exports, prefix)
        if newest and (imported is None or newest > imported):
            return newest
        if time.monotonic() >= deadline:
            return newest
        log.info("waiting-for-export", prefix=prefix, imported=imported, newest=newest)
        time.sleep(min(options.poll_s, max(deadline - time.monotonic(), 0.1)))
