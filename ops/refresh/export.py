"""`export` (the production side): a backup set -> restored, neutralised, masked and verified in a scratch database on
the production server -> a masked export in the exports container under `<unit>/<environment>/<export-id>/`.

Steps, each recorded as a check; the scratch copy is emptied on every path, failure included:
1. select the set (the newest with a manifest, or `--set`) and check its objects (ops.backup's manifest and listing);
2. restore `db.dump` into the scratch database with ops.backup's restore (pg_restore -> psql), the installed modules'
   neutralize.sql and the built-in neutralisation in the SAME transaction (neutralize.py): nothing sees the copy
   before its crons and mail servers are off; the dump's SHA-256 is checked before that transaction commits;
3. check the neutralisation; sample the production values of every identifying column; count rows and foreign keys;
4. mask (masking.py) in one transaction; replace attachments' contents by a placeholder (never exported);
5. verify: no sampled production value anywhere in any text column, row counts equal (but tables the profile empties),
   every foreign key holds;
6. pg_dump -Fc of the scratch database to `<prefix>/<export-id>/db.dump`, then `manifest.json` last.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import tempfile
import threading
import time
from typing import Any, Iterable, Iterator, Optional

from ops.backup import database, manifest as backup_manifest
from ops.backup.database import PgConfig
from ops.backup.errors import EXIT_FAILED, EXIT_FAULT, EXIT_OK, EXIT_USAGE, OpsError
from ops.backup.log import Log, iso, utc_now
from ops.backup.stream import Hashed
from ops.backup.targets import Store
from ops.backup.drill import _Checks
from ops.backup.verify import latest_complete, read_manifest

from . import masking, neutralize
from .profile import Profile

FORMAT = "odoo-platform-refresh/1"
DUMP, MANIFEST = "db.dump", "manifest.json"


@dataclasses.dataclass
class ExportOptions:
    set_id: Optional[str] = None
    sample_per_column: int = 100
    odoo_addons_dir: Optional[str] = None  # the Odoo image's addons: each installed module's data/neutralize.sql
    pg_bin_dir: Optional[str] = None
    compress: Optional[str] = None


class Checks(_Checks):
    """ops.backup's checks list, logged as `refresh-check`."""

    event = "refresh-check"


def checked(chunks: Iterable[bytes], size: int, sha256: str, key: str) -> Iterator[bytes]:
    """The chunks, then a fault (before the consumer sees the end) when their size or SHA-256 differs: the restore is
    killed before its transaction commits."""
    digest, seen = hashlib.sha256(), 0
    for data in chunks:
        digest.update(data)
        seen += len(data)
        yield data
    if seen != size or digest.hexdigest() != sha256:
        raise OpsError("verify-object", f"read {seen} of {size} bytes, SHA-256 {'differs' if seen == size else 'not checked'}: corrupted or truncated",
                       obj=key, exit_code=EXIT_FAILED)


def restore_in_one_transaction(pg_bin_dir: Optional[str], db: PgConfig, dbname: str, chunks: Iterable[bytes],
                               before: str, after: str) -> None:
    """ops.backup's restore (pg_restore's script through psql) wrapped as `before` + the script + `after`, all in one
    transaction (psql --single-transaction with ON_ERROR_STOP): any failure leaves the database as it was."""
    pg_restore = database.pg_binary("pg_restore", pg_bin_dir)
    psql = database.pg_binary("psql", pg_bin_dir)
    with tempfile.TemporaryDirectory(prefix="refresh-") as work:
        files = []
        for name, text in (("before.sql", before), ("after.sql", after)):
            path = os.path.join(work, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            files.append(path)
        options = ("--single-transaction", "-f", files[0], "-f", "-", "-f", files[1])
        database.restore(pg_restore, db, dbname, chunks, threading.Event(), psql, options)


def prefix_of(target: str) -> str:
    """`gc/uat` -> `gc/uat/` (the exports of one unit's environment)."""
    parts = target.strip("/").split("/")
    if len(parts) != 2 or not all(backup_manifest.TENANT.match(p) for p in parts):
        raise OpsError("configure", f"target {target!r}: expected <unit>/<environment>", exit_code=EXIT_USAGE)
    return "/".join(parts) + "/"


def run_export(tenant: str, target: str, source: Store, scratch: PgConfig, scratch_database: str, exports: Store, profile: Profile,
               key: bytes, log: Log, options: ExportOptions = ExportOptions(), now: Optional[datetime.datetime] = None) -> tuple[dict[str, Any], int]:
    started = now or utc_now()
    clock = time.monotonic()
    checks = Checks(log)
    export_id = backup_manifest.set_id_for(started)
    prefix = prefix_of(target)
    record: dict[str, Any] = {"event": "refresh-export", "tenant": tenant, "target": prefix.rstrip("/"), "export_id": export_id,
                              "profile": {"name": profile.name, "sha256": profile.sha256}, "started_at": iso(started),
                              "set_id": None, "verdict": "fail", "error": None, "scratch": {"database": scratch_database}}
    fault: Optional[OpsError] = None
    restored = False
    try:
        if scratch_database == scratch.dbname:
            raise OpsError("configure", "the scratch database must not be the maintenance database", exit_code=EXIT_USAGE)
        set_id, found = _select_set(tenant, source, options, checks)
        record["set_id"], record["snapshot_time"] = set_id, found["snapshot"]["time"]
        if scratch_database == found["database"]["name"]:
            raise OpsError("configure", "refusing to restore over the tenant's own database: give its refresh database", obj=scratch_database, exit_code=EXIT_USAGE)
        modules = sorted(found["database"].get("modules") or {})

        # --- restore + neutralise, one transaction ---------------------------------------------------------------------
        database.empty_database(scratch, scratch_database, "empty-scratch-database")
        restored = True
        key_name = backup_manifest.prefix(tenant, set_id) + backup_manifest.DUMP
        expected = found["objects"][backup_manifest.DUMP]
        clock_restore = time.monotonic()
        chunks = checked(source.read(key_name, expected["size"], step="read-backup"), expected["size"], expected["sha256"], key_name)
        scripts = [m for m, _ in neutralize.odoo_scripts(options.odoo_addons_dir, modules)]
        restore_in_one_transaction(options.pg_bin_dir, scratch, scratch_database, Hashed(chunks, log.progress("restore", key_name, expected["size"])),
                                   "", neutralize.script(options.odoo_addons_dir, modules))
        record["restore_s"] = round(time.monotonic() - clock_restore, 3)
        checks.add("restore_neutralized", True, object=key_name, odoo_neutralize_scripts=scripts)

        conn = scratch.connect(scratch_database, step="connect-scratch")
        try:
            left = neutralize.problems(conn)
            if not checks.add("neutralized", not left, failures=left or None):
                raise OpsError("neutralize", "something can still act on the outside world", exit_code=EXIT_FAILED)
            try:
                record["masking"] = _mask_and_verify(conn, profile, key, options, checks)
            except OpsError:
                raise
            except Exception as error:  # noqa: BLE001 - a statement of the profile failed: the masking transaction rolled back
                checks.add("mask", False, error=database._pg_reason(error))
                raise OpsError("mask", database._pg_reason(error), obj=scratch_database, target=scratch.label) from None
        finally:
            conn.close()
        if checks.failed:
            raise OpsError("verify", f"failed checks: {', '.join(checks.failed)}", exit_code=EXIT_FAILED)

        # --- export -----------------------------------------------------------------------------------------------------
        record["objects"] = _write_export(scratch, scratch_database, exports, prefix + export_id + "/", options, log)
        document = {"format": FORMAT, "export_id": export_id, "target": prefix.rstrip("/"), "created_at": iso(utc_now()),
                    "source": {"tenant": tenant, "set_id": set_id, "snapshot_time": found["snapshot"]["time"], "store": source.label,
                               "odoo_version": found["database"].get("odoo_version"), "server_version": found["database"].get("server_version")},
                    "profile": {"name": profile.name, "sha256": profile.sha256, "attachments": profile.attachments},
                    "neutralized": {"odoo_scripts": scripts, "builtin": True},
                    "masking": {k: v for k, v in record["masking"].items() if k != "changed"}, "checks": checks.items, "objects": record["objects"]}
        exports.put(prefix + export_id + "/" + MANIFEST, json.dumps(document, indent=1, sort_keys=True).encode() + b"\n", content_type="application/json")
        record["manifest"] = prefix + export_id + "/" + MANIFEST
    except OpsError as error:
        fault = failed(error, record, checks)
    finally:
        if restored:
            try:
                database.empty_database(scratch, scratch_database, "empty-scratch-database")
                record["scratch"]["emptied"] = True
            except OpsError as error:
                record["scratch"]["emptied"] = False
                checks.add("scratch_emptied", False, error=error.line())
    return finish(record, checks, fault, clock)


def failed(error: OpsError, record: dict[str, Any], checks: Checks) -> Optional[OpsError]:
    """Record what stopped the job: a failed check (exit 1) as a check, anything else as the fault it returns."""
    record["error"] = error.line()
    if error.exit_code == EXIT_FAILED and not checks.failed:
        checks.add(error.step, False, object=error.obj, error=error.message)
    return None if error.exit_code == EXIT_FAILED else error


def finish(record: dict[str, Any], checks: Checks, fault: Optional[OpsError], clock: float) -> tuple[dict[str, Any], int]:
    """The record's verdict and times, and the exit code (0 pass, 1 a check failed, 2 configuration, 3 a fault)."""
    record["checks"] = checks.items
    record["failed_checks"] = checks.failed
    record["verdict"] = "pass" if not checks.failed and not record["error"] else "fail"
    record["finished_at"] = iso(utc_now())
    record["duration_s"] = round(time.monotonic() - clock, 3)
    if record["verdict"] == "pass":
        return record, EXIT_OK
    if fault:
        return record, EXIT_USAGE if fault.exit_code == EXIT_USAGE else EXIT_FAULT
    return record, EXIT_FAILED


def _select_set(tenant: str, source: Store, options: ExportOptions, checks: Checks) -> tuple[str, dict[str, Any]]:
    if options.set_id:
        if not backup_manifest.SET_ID.match(options.set_id):
            raise OpsError("configure", f"set id {options.set_id!r}: expected YYYYMMDDTHHMMSSZ", exit_code=EXIT_USAGE)
        set_id = options.set_id
    else:
        source.check("check-source", prefix=f"{tenant}/")
        set_id, _ = latest_complete(source, tenant)
    prefix = backup_manifest.prefix(tenant, set_id)
    listing = {k[len(prefix):]: v for k, v in source.list(prefix).items()}
    found, problem, _ = read_manifest(source, tenant, set_id, listing)
    if problem or found is None:
        checks.add("manifest", False, **(problem or {}))
        raise OpsError("read-manifest", (problem or {}).get("detail", "unreadable"), obj=prefix + backup_manifest.MANIFEST, target=source.label, exit_code=EXIT_FAILED)
    bad = [p for p in backup_manifest.listing_problems(found, listing) if p["object"] == backup_manifest.DUMP]
    if not checks.add("set", not bad, set_id=set_id, failures=bad or None):
        raise OpsError("select-set", "the set's database dump is missing or of the wrong size", obj=prefix + backup_manifest.DUMP, exit_code=EXIT_FAILED)
    return set_id, found


def _mask_and_verify(conn: Any, profile: Profile, key: bytes, options: ExportOptions, checks: Checks) -> dict[str, Any]:
    masking.install(conn, key)
    work, skipped, problems = masking.plan(conn, profile)
    if problems:
        checks.add("profile_fits", False, failures=problems)
        raise OpsError("mask", "; ".join(problems), exit_code=EXIT_USAGE)
    needles = masking.sample(conn, work, options.sample_per_column)
    masking.reserve_phones(conn, work)
    before = masking.row_counts(conn)
    foreign_keys = masking.foreign_key_count(conn)
    clock = time.monotonic()
    table_seconds: dict[str, float] = {}
    changed = masking.apply(conn, work, table_seconds)
    if profile.attachments == "placeholder":
        changed["ir_attachment (contents)"] = masking.attachment_placeholders(conn, masking.columns_of(conn))
    conn.commit()
    mask_s = time.monotonic() - clock
    rows_changed = sum(changed.values())
    leaks = masking.scan(conn, needles)
    checks.add("no_production_identifiers", not leaks, sampled=len(needles), failures=leaks or None)
    after = masking.row_counts(conn)
    emptied = {w.table for w in work if w.delete}
    counts = [{"table": t, "before": n, "after": after.get(t)} for t, n in sorted(before.items()) if t not in emptied and after.get(t) != n]
    checks.add("row_counts", not counts, tables=len(before), failures=counts or None)
    orphans = masking.foreign_key_orphans(conn)
    checks.add("foreign_keys", not orphans and masking.foreign_key_count(conn) == foreign_keys, foreign_keys=foreign_keys, failures=orphans or None)
    conn.commit()
    return {"tables": len(work), "skipped": skipped, "rows_changed": rows_changed, "changed": changed, "seconds": round(mask_s, 3),
            "table_seconds": {t: s for t, s in sorted(table_seconds.items(), key=lambda i: -i[1])[:10]}, "verify_s": round(time.monotonic() - clock - mask_s, 3),
            "rows_per_s": round(rows_changed / max(mask_s, 1e-9)), "sampled_values": len(needles)}


def _write_export(scratch: PgConfig, dbname: str, exports: Store, prefix: str, options: ExportOptions, log: Log) -> dict[str, Any]:
    pg_dump = database.pg_binary("pg_dump", options.pg_bin_dir)
    db = dataclasses.replace(scratch, dbname=dbname)
    snapshot = database.export_snapshot(db)
    key = prefix + DUMP
    writer = exports.writer(key, content_type="application/octet-stream")
    digest, size = hashlib.sha256(), 0
    progress = log.progress("export", key)

    def sink(data: bytes) -> None:
        nonlocal size
        digest.update(data)
        size += len(data)
        progress.add(len(data))
        writer.write(data)

    try:
        database.dump(pg_dump, db, snapshot.snapshot_id, sink, threading.Event(), compress=options.compress)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        snapshot.conn.close()
        progress.done()
    return {DUMP: {"size": size, "sha256": digest.hexdigest()}}
