"""`drill`: restore a set into a scratch database and a scratch container, validate it at the Odoo level, drop the
scratch copies (also on failure) and return the drill record (one JSON line for monitoring).

RTO (measured) is the wall time from creating the scratch database to the end of both restores (database and
filestore, run in parallel as a real recovery would). RPO (achieved) is the age of the restored data when the drill
started: drill start minus the set's snapshot time (server clock, see database.py), i.e. the data a disaster at that
moment would have lost had this set been the one to restore.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
import threading
import time
from typing import Any, Callable, Optional

from . import database, filestore, manifest
from .database import PgConfig
from .errors import EXIT_FAILED, EXIT_FAULT, EXIT_OK, EXIT_USAGE, OpsError, first_line
from .log import MB, Log, iso, utc_now
from .stream import Hashed
from .targets import AzureStore, Store
from .verify import latest_complete, read_manifest


@dataclasses.dataclass
class DrillOptions:
    set_id: Optional[str] = None
    rpo_target_s: Optional[float] = None
    rto_target_s: Optional[float] = None
    attachment_sample: int = 10  # attachments per end (lowest and highest ids) whose blob is checked against Odoo's sha1
    pg_bin_dir: Optional[str] = None
    scratch_database: Optional[str] = None  # an existing database, emptied before and after (no CREATEDB needed)
    scratch_container: Optional[str] = None  # an existing container, emptied before and after


def scratch_names(tenant: str, moment: datetime.datetime) -> tuple[str, str]:
    stamp = moment.strftime("%Y%m%d%H%M%S")
    db = re.sub(r"[^a-z0-9_]", "_", f"drill_{tenant}_{stamp}".lower())[:63]
    container = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", f"drill-{tenant}-{stamp}".lower()))[:63].strip("-")
    return db, container


class _Checks:
    event = "drill-check"  # the log event of each check (ops.refresh logs its own as refresh-check)

    def __init__(self, log: Log):
        self.items: list[dict[str, Any]] = []
        self.log = log

    def add(self, name: str, ok: bool, **detail: Any) -> bool:
        self.items.append({"name": name, "ok": ok, **detail})
        (self.log.info if ok else self.log.error)(self.event, check=name, ok=ok, **detail)
        return ok

    @property
    def failed(self) -> list[str]:
        return [c["name"] for c in self.items if not c["ok"]]


def run_drill(tenant: str, source: Store, scratch_db: PgConfig, scratch_container: Optional[Callable[[str], AzureStore]],
              log: Log, options: DrillOptions = DrillOptions(), now: Optional[datetime.datetime] = None) -> tuple[dict[str, Any], int]:
    """The drill record and the exit code (0 pass, 1 a check failed or a target was missed, 2 bad configuration,
    3 a fault stopped it)."""
    started = now or utc_now()
    clock = time.monotonic()
    checks = _Checks(log)
    record: dict[str, Any] = {"event": "drill", "tenant": tenant, "source": source.label, "started_at": iso(started),
                              "set_id": None, "verdict": "fail", "error": None}
    fault: Optional[OpsError] = None
    db_name, container_name = scratch_names(tenant, started)
    db_name = options.scratch_database or db_name
    container_name = options.scratch_container or container_name
    scratch: dict[str, Any] = {"database": db_name, "container": None, "database_created": False, "container_created": False,
                               "database_existing": bool(options.scratch_database), "container_existing": bool(options.scratch_container)}
    record["scratch"] = scratch
    container: Optional[AzureStore] = None
    try:
        pg_restore = database.pg_binary("pg_restore", options.pg_bin_dir)
        psql: Optional[str] = None
        if database.server_major(scratch_db, options.scratch_database) < 17 <= database.tool_major(database.tool_version(pg_restore)):
            psql = database.pg_binary("psql", options.pg_bin_dir)
        if options.set_id:
            if not manifest.SET_ID.match(options.set_id):
                raise OpsError("configure", f"set id {options.set_id!r}: expected YYYYMMDDTHHMMSSZ", exit_code=2)
            set_id, incomplete = options.set_id, []
        else:
            source.check("check-source", prefix=f"{tenant}/")
            set_id, incomplete = latest_complete(source, tenant)
        record["set_id"], record["incomplete_newer_sets"] = set_id, incomplete
        prefix = manifest.prefix(tenant, set_id)
        listing = {k[len(prefix):]: v for k, v in source.list(prefix).items()}
        if not listing:
            raise OpsError("select-set", "no such set", obj=prefix, target=source.label, exit_code=EXIT_FAILED)
        found, problem, _ = read_manifest(source, tenant, set_id, listing)
        if problem or found is None:
            checks.add("manifest", False, **(problem or {}))
            raise OpsError("read-manifest", (problem or {}).get("detail", "unreadable"), obj=prefix + manifest.MANIFEST,
                           target=source.label, exit_code=EXIT_FAILED)
        checks.add("manifest", True, object=prefix + manifest.MANIFEST)
        record["snapshot_time"] = found["snapshot"]["time"]
        record["server_version"] = found["database"]["server_version"]
        record["odoo_version"] = found["database"]["odoo_version"]
        listing_bad = manifest.listing_problems(found, listing)
        for item in listing_bad:
            item["object"] = prefix + item["object"]
        checks.add("objects_present", not listing_bad, failures=listing_bad or None)
        unusable = {p["object"] for p in listing_bad}

        # --- restore ------------------------------------------------------------------------------------------------
        if options.scratch_database and options.scratch_database == found["database"]["name"] and scratch_db.host == found["database"]["host"]:
            raise OpsError("configure", "refusing to restore over the tenant's own database: give a drill database",
                           obj=db_name, target=scratch_db.label, exit_code=2)
        restore_clock = time.monotonic()
        if options.scratch_database:
            scratch["database_created"] = True  # in use: emptied afterwards
            database.empty_database(scratch_db, db_name, "empty-scratch-database")
        else:
            database.create_database(scratch_db, db_name)
            scratch["database_created"] = True
        has_filestore = manifest.FILESTORE in found["objects"]
        if has_filestore:
            if scratch_container is None:
                raise OpsError("configure", "the set has a filestore: give a scratch storage account (--scratch-*)", exit_code=2)
            container = scratch_container(container_name)
            scratch["container"] = container_name
            if options.scratch_container:
                container.check("check-scratch-container")
                scratch["container_created"] = True  # in use: emptied afterwards
                container.empty("empty-scratch-container")
            else:
                container.create_container("create-scratch-container")
                scratch["container_created"] = True
        outcome = _restore(source, prefix, found, unusable, pg_restore, psql, scratch_db, db_name, container, log)
        rto = time.monotonic() - restore_clock
        record["rto_s"] = round(rto, 3)
        restored_bytes = sum(o.get("read_bytes", 0) for o in outcome.values())
        record["restore"] = {**{k: {kk: vv for kk, vv in v.items() if kk != "names"} for k, v in outcome.items()},
                             "mb_s": round(restored_bytes / MB / max(rto, 1e-9), 2)}
        checksum_failures = []
        for name, result in outcome.items():
            if result.get("sha256") and result["sha256"] != found["objects"][name]["sha256"]:
                checksum_failures.append({"object": prefix + name, "problem": "checksum", "detail": "corrupted: content differs from the manifest"})
        checks.add("object_checksums", not checksum_failures and not unusable, failures=checksum_failures or None)
        for name, result in outcome.items():
            if result.get("error"):
                checks.add(f"restore_{'database' if name == manifest.DUMP else 'filestore'}", False, object=prefix + name, error=result["error"])
                fault = fault or result.get("fault")
            elif result.get("skipped"):
                checks.add(f"restore_{'database' if name == manifest.DUMP else 'filestore'}", False, object=prefix + name,
                           error="not restored: the object is missing or truncated")
            else:
                checks.add(f"restore_{'database' if name == manifest.DUMP else 'filestore'}", True, object=prefix + name,
                           bytes=result.get("read_bytes"), seconds=result.get("seconds"))

        # --- validate -----------------------------------------------------------------------------------------------
        db_ok = manifest.DUMP in outcome and not outcome[manifest.DUMP].get("error") and not outcome[manifest.DUMP].get("skipped")
        fs = outcome.get(manifest.FILESTORE)
        fs_ok = fs is not None and not fs.get("error") and not fs.get("skipped")
        if db_ok:
            _validate_database(scratch_db, db_name, found, container if fs_ok else None, fs.get("names") if fs_ok and fs else None,
                               options, checks)
        if fs_ok and container is not None and fs is not None:
            _validate_filestore(container, found, fs, checks)
    except OpsError as error:
        if error.exit_code != EXIT_FAILED:
            fault = fault or error
        record["error"] = record["error"] or error.line()
        if error.exit_code == EXIT_FAILED and not checks.failed:
            checks.add(error.step, False, object=error.obj, error=error.message)
    finally:
        _cleanup(scratch_db, db_name, container, scratch, checks)
    if fault and not record["error"]:
        record["error"] = fault.line()

    # --- targets and verdict -------------------------------------------------------------------------------------
    if record.get("snapshot_time"):
        snapshot = datetime.datetime.fromisoformat(record["snapshot_time"].replace("Z", "+00:00"))
        record["rpo_s"] = round((started - snapshot).total_seconds(), 3)
    record["rpo_target_s"], record["rto_target_s"] = options.rpo_target_s, options.rto_target_s
    record["rpo_met"] = None if options.rpo_target_s is None or "rpo_s" not in record else record["rpo_s"] <= options.rpo_target_s
    record["rto_met"] = None if options.rto_target_s is None or "rto_s" not in record else record["rto_s"] <= options.rto_target_s
    if options.rpo_target_s is not None and record["rpo_met"] is not True:
        checks.add("rpo_target", False, rpo_s=record.get("rpo_s"), target_s=options.rpo_target_s)
    if options.rto_target_s is not None and record["rto_met"] is not True:
        checks.add("rto_target", False, rto_s=record.get("rto_s"), target_s=options.rto_target_s)
    record["checks"] = checks.items
    record["failed_checks"] = checks.failed
    record["verdict"] = "pass" if not checks.failed and not fault and not record["error"] else "fail"
    record["finished_at"] = iso(utc_now())
    record["duration_s"] = round(time.monotonic() - clock, 3)
    if record["verdict"] == "pass":
        return record, EXIT_OK
    if fault:
        return record, EXIT_USAGE if fault.exit_code == EXIT_USAGE else EXIT_FAULT
    return record, EXIT_FAILED


def _restore(source: Store, prefix: str, found: dict[str, Any], unusable: set[str], pg_restore: str, psql: Optional[str], scratch_db: PgConfig,
             db_name: str, container: Optional[AzureStore], log: Log) -> dict[str, dict[str, Any]]:
    """Both restores in parallel; each reports its own outcome (bytes, seconds, SHA-256 of what it read, error)."""
    outcome: dict[str, dict[str, Any]] = {}
    cancel = threading.Event()  # never set: a failing restore does not stop the other, so every bad object is named

    def one(name: str, sink: Callable[[Hashed], Any]) -> None:
        key = prefix + name
        result: dict[str, Any] = {}
        outcome[name] = result
        if key in unusable:
            result["skipped"] = True
            return
        size = found["objects"][name]["size"]
        clock = time.monotonic()
        hashed = Hashed(source.read(key, size, step="read-backup"), log.progress("restore", key, size))
        try:
            extra = sink(hashed)
            if isinstance(extra, dict):
                result.update(extra)
            for _ in hashed:  # anything the consumer left unread still counts for the checksum
                pass
        except OpsError as error:
            result["error"] = error.line()
            # a store or scratch server that fails is a fault (exit 3); a restore that chokes on the set's bytes is a
            # failed check (exit 1), named with the object by the checksum check
            result["fault"] = error if not error.step.startswith("restore") or "full" in error.message else None
            try:  # hash the rest so a corrupted object is named as such, whatever made the restore stop
                for _ in hashed:
                    pass
            except Exception:  # noqa: BLE001
                pass
        except Exception as error:  # noqa: BLE001
            result["error"] = f"restore: {key}: {first_line(error)}"
        finally:
            if hashed.progress:
                hashed.progress.done()
        result["read_bytes"] = hashed.size
        result["sha256"] = hashed.hexdigest() if hashed.size == size else None
        if hashed.size != size and "error" not in result:
            result["error"] = f"restore: {key}: read {hashed.size} of {size} bytes"
        result["seconds"] = round(time.monotonic() - clock, 3)

    threads = [threading.Thread(target=one, args=(manifest.DUMP, lambda h: database.restore(pg_restore, scratch_db, db_name, h, cancel, psql)))]
    if container is not None and manifest.FILESTORE in found["objects"]:
        threads.append(threading.Thread(target=one, args=(manifest.FILESTORE, lambda h: filestore.restore_tar(h, container, cancel))))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome


def _validate_database(scratch_db: PgConfig, db_name: str, found: dict[str, Any], container: Optional[AzureStore],
                       restored_names: Optional[set[str]], options: DrillOptions, checks: _Checks) -> None:
    recorded = found["database"]
    conn = scratch_db.connect(db_name, step="validate")
    try:
        for statement in database.SESSION_SETTINGS:
            conn.execute(statement)  # type: ignore[arg-type]
        facts = database.odoo_facts(conn, int(recorded.get("row_sample_per_end", 50)), tables=list(recorded["tables"]))
        counts, samples = [], []
        for table, expected in sorted(recorded["tables"].items()):
            got = facts["tables"].get(table)
            if got is None:
                counts.append({"table": table, "expected": expected["rows"], "found": None})
                continue
            if got["rows"] != expected["rows"]:
                counts.append({"table": table, "expected": expected["rows"], "found": got["rows"]})
            if "sample" in expected and got.get("sample", {}).get("md5") != expected["sample"]["md5"]:
                samples.append({"table": table, "rows": expected["sample"]["rows"], "expected_md5": expected["sample"]["md5"],
                                "md5": got.get("sample", {}).get("md5")})
        checks.add("row_counts", not counts, tables=len(recorded["tables"]), failures=counts or None)
        checks.add("row_samples", not samples, tables=sum(1 for t in recorded["tables"].values() if "sample" in t), failures=samples or None)
        module_diff = sorted(set(recorded["modules"].items()) ^ set(facts["modules"].items()))
        checks.add("modules", not module_diff and facts["odoo_version"] == recorded["odoo_version"], installed=len(recorded["modules"]),
                   odoo_version=facts["odoo_version"], differences=[list(d) for d in module_diff] or None)
        checks.add("schema", facts["schema"] == recorded["schema"], expected=recorded["schema"], found=facts["schema"])
        behind = []
        for table in facts["tables"]:
            sequence = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (f"public.{database.quote_ident(table)}",)).fetchone()[0]
            if sequence:
                last_value = conn.execute(f"SELECT last_value FROM {sequence}").fetchone()[0]  # type: ignore[arg-type]
                top = conn.execute(f"SELECT max(id) FROM public.{database.quote_ident(table)}").fetchone()[0]  # type: ignore[arg-type]
                if top is not None and last_value < top:
                    behind.append({"table": table, "sequence": last_value, "max_id": top})
        checks.add("sequences", not behind, failures=behind or None)
        if recorded.get("attachments") and restored_names is not None and container is not None:
            wanted = database.attachment_objects(conn)
            missing = sorted(wanted - restored_names)
            checks.add("attachments_present", not missing, referenced=len(wanted), missing=missing[:20] or None, missing_count=len(missing))
            bad = []
            sample = database.attachment_sample(conn, options.attachment_sample)
            for name, sha1, size in sample:
                if name not in restored_names:
                    continue  # already reported above
                data = container.get(name, step="validate")
                if (sha1 and hashlib.sha1(data, usedforsecurity=False).hexdigest() != sha1) or (size is not None and len(data) != size):
                    bad.append({"object": name, "expected_sha1": sha1, "size": len(data)})
            checks.add("attachment_checksums", not bad, sampled=len(sample), failures=bad or None)
    except OpsError:
        raise
    except Exception as error:  # noqa: BLE001
        checks.add("validate_database", False, error=database._pg_reason(error))
    finally:
        conn.close()


def _validate_filestore(container: AzureStore, found: dict[str, Any], restored: dict[str, Any], checks: _Checks) -> None:
    recorded = found.get("filestore") or {}
    ok = restored["blobs"] == recorded.get("blobs") and restored["blob_bytes"] == recorded.get("bytes")
    listing = container.list()
    ok = ok and len(listing) == recorded.get("blobs") and sum(listing.values()) == recorded.get("bytes")
    checks.add("filestore_counts", ok, expected={"blobs": recorded.get("blobs"), "bytes": recorded.get("bytes")},
               found={"blobs": len(listing), "bytes": sum(listing.values())})
    bad = []
    for item in recorded.get("sample", []):
        try:
            data = container.get(item["name"], step="validate")
        except OpsError as error:
            bad.append({"object": item["name"], "problem": error.message})
            continue
        if len(data) != item["size"] or hashlib.sha256(data).hexdigest() != item["sha256"]:
            bad.append({"object": item["name"], "problem": "checksum"})
    checks.add("blob_sample", not bad, sampled=len(recorded.get("sample", [])), failures=bad or None)


def _cleanup(scratch_db: PgConfig, db_name: str, container: Optional[AzureStore], scratch: dict[str, Any], checks: _Checks) -> None:
    """Drop (or, for the environment's own drill database and container, empty) the scratch copies whatever happened;
    a copy left behind fails the drill."""
    problems = []
    if scratch["database_created"]:
        try:
            if scratch["database_existing"]:
                database.empty_database(scratch_db, db_name, "empty-scratch-database")
            else:
                database.drop_database(scratch_db, db_name)
            scratch["database_dropped"] = True
        except OpsError as error:
            scratch["database_dropped"] = False
            problems.append(error.line())
    if container is not None and scratch["container_created"]:
        try:
            if scratch["container_existing"]:
                container.empty("empty-scratch-container")
            else:
                container.delete_container()
            scratch["container_dropped"] = True
        except OpsError as error:
            scratch["container_dropped"] = False
            problems.append(error.line())
    if container is not None:
        container.close()
    if scratch["database_created"] or scratch["container_created"]:
        checks.add("scratch_dropped", not problems, errors=problems or None)
