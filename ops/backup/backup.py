"""`backup`: one tenant environment's database and filestore as a backup set on every target, manifest last."""
from __future__ import annotations

import dataclasses
import datetime
import threading
import time
from typing import Any, Callable, Optional

from . import database, filestore, manifest
from .database import PgConfig
from .errors import Cancelled, ImmutableRefusal, OpsError
from .log import MB, Log, iso, utc_now
from .stream import FanOut, run_parallel
from .targets import AzureStore, S3Store, Store

TOOL = "ops.backup"
TOOL_VERSION = "1"


@dataclasses.dataclass
class BackupOptions:
    row_sample: int = 50  # rows per end of each key table (lowest and highest ids) whose md5 is recorded
    blob_sample: int = 20  # blobs whose SHA-256 is recorded on its own
    compress: Optional[str] = None  # pg_dump --compress (None: pg_dump's default for -Fc, gzip)
    lock_wait_timeout_s: int = 600
    s3_retain_days: int = 0  # object lock on every offsite object: retain-until = now + days (0: the bucket's default)
    pg_bin_dir: Optional[str] = None


def _retain_until(now: datetime.datetime, days: int) -> Optional[datetime.datetime]:
    if days <= 0:
        return None
    return (now + datetime.timedelta(days=days)).replace(microsecond=0)


def run_backup(tenant: str, db: PgConfig, source: Optional[AzureStore], targets: list[Store], log: Log,
               options: BackupOptions = BackupOptions(), now: Optional[datetime.datetime] = None) -> dict[str, Any]:
    """Write a backup set; returns its manifest. Raises OpsError on any fault, having left no manifest behind."""
    if not manifest.TENANT.match(tenant):
        raise OpsError("configure", f"tenant {tenant!r}: lower-case letters, digits, - and _ only", exit_code=2)
    if not targets:
        raise OpsError("configure", "no backup target: give the Azure backup container and/or the S3 offsite bucket", exit_code=2)
    started = now or utc_now()
    set_id = manifest.set_id_for(started)
    prefix = manifest.prefix(tenant, set_id)
    pg_dump = database.pg_binary("pg_dump", options.pg_bin_dir)
    pg_dump_version = database.tool_version(pg_dump)
    clock = time.monotonic()

    for store in targets:
        store.check("check-target", require_lock=isinstance(store, S3Store), prefix=f"{tenant}/")
        if store.list(prefix):
            raise OpsError("check-target", "a set with this id already exists", obj=prefix, target=store.label)
    if source is not None:
        source.check("check-filestore")
    log.info("backup-start", tenant=tenant, set_id=set_id, targets=[f"{s.label}:{s.describe()}" for s in targets],
             filestore=source.describe() if source else None, pg_dump=pg_dump_version)

    snapshot = database.export_snapshot(db)
    if snapshot.server_version_num // 10000 > database.tool_major(pg_dump_version):
        snapshot.conn.close()
        raise OpsError("dump", f"{pg_dump_version} cannot dump a PostgreSQL {snapshot.server_version} server: use pg_dump "
                               f"{snapshot.server_version_num // 10000} or newer (--pg-bin-dir)", obj=db.dbname, target=db.label)
    log.info("snapshot", snapshot_id=snapshot.snapshot_id, time=iso(snapshot.time), server_version=snapshot.server_version)
    retain_until = _retain_until(started, options.s3_retain_days)

    streams: list[FanOut] = []
    objects: dict[str, Any] = {}
    complete: list[Store] = []  # targets whose manifest is written: their set is good, never discarded

    def open_stream(name: str, cancel: threading.Event, content_type: str) -> FanOut:
        stream = FanOut(targets, prefix + name, log.progress("upload", prefix + name), cancel,
                        retain_until=retain_until, content_type=content_type)
        streams.append(stream)
        return stream

    def dump_task(cancel: threading.Event) -> dict[str, Any]:
        stream = open_stream(manifest.DUMP, cancel, "application/octet-stream")
        database.dump(pg_dump, db, snapshot.snapshot_id, stream.write, cancel, compress=options.compress,
                      lock_wait_timeout_s=options.lock_wait_timeout_s)
        return stream.commit()

    def facts_task(cancel: threading.Event) -> dict[str, Any]:
        try:
            return database.odoo_facts(snapshot.conn, options.row_sample)
        except OpsError:
            raise
        except Exception as error:  # noqa: BLE001
            if cancel.is_set():
                raise Cancelled() from None
            raise OpsError("read-facts", database._pg_reason(error), obj=db.dbname, target=db.label) from None

    def filestore_task(cancel: threading.Event) -> tuple[dict[str, Any], dict[str, Any]]:
        assert source is not None
        stream = open_stream(manifest.FILESTORE, cancel, "application/x-tar")
        section = filestore.write_tar(source, stream.write, cancel, log, options.blob_sample)
        return stream.commit(), section

    tasks: dict[str, Callable[[threading.Event], Any]] = {"dump": dump_task, "facts": facts_task}
    if source is not None:
        tasks["filestore"] = filestore_task
    try:
        try:
            results = run_parallel(tasks)
        finally:
            snapshot.conn.close()  # ends the exporting transaction (pg_dump has finished or been stopped)
        objects[manifest.DUMP] = results["dump"]
        filestore_section = None
        if source is not None:
            objects[manifest.FILESTORE], filestore_section = results["filestore"]
        facts = results["facts"]
        finished = utc_now()
        record = {
            "format": manifest.FORMAT,
            "tool": {"name": TOOL, "version": TOOL_VERSION, "pg_dump": pg_dump_version,
                     "pg_dump_options": {"format": "custom", "compress": options.compress or "default"}},
            "tenant": tenant,
            "set_id": set_id,
            "started_at": iso(started),
            "completed_at": iso(finished),
            "snapshot": {
                "time": iso(snapshot.time),
                "id": snapshot.snapshot_id,
                "source": "now() of the REPEATABLE READ transaction that exported the snapshot pg_dump used (server clock)",
            },
            "database": {
                "name": db.dbname, "host": db.host, "server_version": snapshot.server_version,
                "server_version_num": snapshot.server_version_num, "odoo_version": facts["odoo_version"],
                "modules": facts["modules"], "tables": facts["tables"], "schema": facts["schema"],
                "attachments": facts.get("attachments"), "row_sample_per_end": options.row_sample,
            },
            "filestore": filestore_section,
            "objects": objects,
            "targets": [{"label": s.label, "location": s.describe()} for s in targets],
            "retention": {"s3_lock_mode": getattr(next((s for s in targets if isinstance(s, S3Store)), None), "lock_mode", None),
                          "s3_retain_until": iso(retain_until) if retain_until else None},
        }
        data = manifest.encode(record)
        for store in targets:  # the manifest last: only now does the set count, on each target
            store.put(prefix + manifest.MANIFEST, data, retain_until=retain_until, content_type="application/json")
            complete.append(store)
    except BaseException:
        for stream in streams:
            stream.abort()
        _discard(streams, complete, log)
        raise
    elapsed = time.monotonic() - clock
    size = sum(o["size"] for o in objects.values())
    log.info("backup-done", tenant=tenant, set_id=set_id, bytes=size, elapsed_s=round(elapsed, 3),
             mb_s=round(size / MB / max(elapsed, 1e-9), 2))
    return record


def _discard(streams: list[FanOut], complete: list[Store], log: Log) -> None:
    """After a failure, remove the objects of this set already committed (best effort: an immutable store refuses,
    and the set stays without a manifest, which never counts; prune removes it later)."""
    for stream in streams:
        for store in stream.committed:
            if store in complete:
                continue
            try:
                store.delete(stream.key)
                log.info("discarded", object=stream.key, target=store.label)
            except ImmutableRefusal as refusal:
                log.warning("discard-refused", object=stream.key, target=store.label, reason=str(refusal))
            except Exception as other:  # noqa: BLE001 - the original error is what the job reports
                log.warning("discard-failed", object=stream.key, target=store.label, reason=str(other))
