"""`make bench` (second line): the backup tool's throughput and measured RTO beside the raw tools on the same data.

One run, on loopback servers started here (PostgreSQL from node_modules/pgNN as in the tests; two Azurite
instances storing on disk, one as the tenant's files account, one as the backup account, as in Azure; optionally
moto's S3 for the offsite copy). Azurite keeping gigabytes in memory slows down to a crawl (seen: 2.7 MB/s and read
time-outs past ~5 GB), hence disk.

1. an Odoo-like tenant (ops/odoo_sample.py): `--scale 1` = about 1 GB of tables and indexes and 1 GB of
   attachments in the tenant's container;
2. raw: `pg_dump -Fc` to a local file, a plain client-side copy of every blob (download, upload, 8 threads) to
   another container, then `pg_restore` of that file into a new database and the blob copy back;
3. the tool: `python -m ops.backup backup` (database and filestore to the backup container, manifest, checksums)
   and `python -m ops.backup drill` (restore both into scratch copies, validate, drop), as the CronJobs run them.

Reported: seconds and MB/s of each, the drill's measured RTO, and the headline: the tool's time over the raw
tools' time for the same work (sum of the raw steps, and the slower raw step, since the tool runs the database
and the filestore in parallel). JSON with --json.

    python -m tools.bench_backup --scale 0.05
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from ops import odoo_sample  # noqa: E402
from ops.backup import database  # noqa: E402
from tests.object_servers import Azurite, S3Server  # noqa: E402
from tests.postgres_servers import AZURE_ADMIN, AZURE_ADMIN_PASSWORD, PostgresServer  # noqa: E402

MB = 1024 * 1024
PASSWORD = "bench-tenant-password"


def timed(fn, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.monotonic()
    result = fn(*args, **kwargs)
    return time.monotonic() - started, result


def copy_blobs(source: Any, target: Any, threads: int = 8) -> int:
    """A plain client-side copy of every blob (what a script with the SDK does): returns bytes copied."""
    names = [b.name for b in source.list_blobs()]

    def one(name: str) -> int:
        data = source.get_blob_client(name).download_blob(max_concurrency=2).readall()
        target.get_blob_client(name).upload_blob(data, overwrite=True, length=len(data), max_concurrency=2)
        return len(data)

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(one, names))


def run_tool(argv: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any], str]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "ops.backup", *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"ops.backup {argv[0]} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return elapsed, json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def rate(nbytes: float, seconds: float) -> float:
    return round(nbytes / MB / max(seconds, 1e-9), 1)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = ~1 GB of rows and 1 GB of attachments (default)")
    parser.add_argument("--rows-mb", type=float, help="MB of tables and indexes (overrides --scale for rows)")
    parser.add_argument("--attachments-mb", type=float, help="MB of attachments (overrides --scale for attachments)")
    parser.add_argument("--pg-major", type=int, default=18, choices=(16, 17, 18))
    parser.add_argument("--offsite", action="store_true", help="also copy to moto's S3 with object lock (moto is slow: measures moto)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--block-mib", type=float, default=8)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)
    rows_mb = args.rows_mb if args.rows_mb is not None else 1024 * args.scale
    # MiB of distinct blobs: SampleSize.for_scale already generates 10/9 of it, as a tenth of the attachments share a blob
    attachments_mb = args.attachments_mb if args.attachments_mb is not None else 1024 * args.scale

    pg = PostgresServer.start(args.pg_major)
    azurite = Azurite.start(in_memory=False)  # the tenant's files account: filestore, raw copies, drill scratch
    vault = Azurite.start(in_memory=False)  # the backup account
    s3 = S3Server.start() if args.offsite else None
    work = tempfile.mkdtemp(prefix="bench-backup-")
    results: dict[str, Any] = {"scale": args.scale, "pg_major": args.pg_major, "offsite": args.offsite}
    try:
        import psycopg

        pg.azure_admin()
        role = f"bench_{uuid.uuid4().hex[:6]}"
        pg.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        pg.sql(f"CREATE DATABASE {role} OWNER {role}")
        service = azurite.service()
        filestore = service.get_container_client("gc-bench")
        filestore.create_container()
        vault.service().create_container("backups")
        size = odoo_sample.SampleSize.for_scale(rows_mb, attachments_mb)
        print(f"generating {rows_mb:.0f} MB of rows and {attachments_mb:.0f} MB of attachments on PostgreSQL {pg.major} ...", file=sys.stderr)
        with psycopg.connect(host="127.0.0.1", port=pg.port, user=role, password=PASSWORD, dbname=role, sslmode="disable") as conn:
            seconds, generated = timed(odoo_sample.create, conn, size, filestore)
        db_bytes = int(pg.sql(f"SELECT pg_database_size('{role}')"))
        blob_bytes = generated["blob_bytes"]
        results["data"] = {"database_bytes": db_bytes, "rows_bytes": generated["rows_bytes"], "blobs": generated["blobs"],
                           "blob_bytes": blob_bytes, "attachments": generated["attachments"], "generate_s": round(seconds, 1)}
        print(f"  database {db_bytes / MB:.0f} MB, {generated['blobs']} blobs {blob_bytes / MB:.0f} MB ({seconds:.0f} s)", file=sys.stderr)

        tenant_env = pg.tcp_env(role, PASSWORD, role)
        pg_dump = database.pg_binary("pg_dump", None)
        pg_restore = database.pg_binary("pg_restore", None)
        dump_file = os.path.join(work, "raw.dump")

        # --- raw tools ---------------------------------------------------------------------------------------------
        print("raw pg_dump, blob copy, pg_restore, blob copy back ...", file=sys.stderr)
        raw_dump_s, _ = timed(subprocess.run, [pg_dump, "-Fc", "-f", dump_file], env=tenant_env, check=True)
        dump_bytes = os.path.getsize(dump_file)
        copy = service.get_container_client("raw-copy")
        copy.create_container()
        raw_copy_s, copied = timed(copy_blobs, filestore, copy)
        admin_env = pg.tcp_env(AZURE_ADMIN, AZURE_ADMIN_PASSWORD, "postgres")
        pg.login(AZURE_ADMIN, AZURE_ADMIN_PASSWORD, "postgres", "CREATE DATABASE raw_restore")
        raw_restore_s, _ = timed(subprocess.run, [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "-d", "raw_restore", dump_file],
                                 env=admin_env, check=True)
        back = service.get_container_client("raw-restore")
        back.create_container()
        raw_copy_back_s, _ = timed(copy_blobs, copy, back)
        pg.login(AZURE_ADMIN, AZURE_ADMIN_PASSWORD, "postgres", "DROP DATABASE raw_restore")
        service.delete_container("raw-copy")
        service.delete_container("raw-restore")
        os.remove(dump_file)
        results["raw"] = {
            "pg_dump_s": round(raw_dump_s, 2), "dump_bytes": dump_bytes, "pg_dump_db_mb_s": rate(db_bytes, raw_dump_s),
            "blob_copy_s": round(raw_copy_s, 2), "blob_copy_mb_s": rate(copied, raw_copy_s),
            "pg_restore_s": round(raw_restore_s, 2), "pg_restore_db_mb_s": rate(db_bytes, raw_restore_s),
            "blob_copy_back_s": round(raw_copy_back_s, 2),
        }

        # --- the tool ------------------------------------------------------------------------------------------------
        env = {**os.environ, "PGPASSWORD": PASSWORD, "DRILL_PGPASSWORD": AZURE_ADMIN_PASSWORD}
        common = ["--tenant", "gc-bench", "--azure-connection-string", vault.connection_string(), "--progress-interval", "30",
                  "--concurrency", str(args.concurrency), "--block-mib", str(args.block_mib)]
        if s3:
            env.update(s3.env())
            common += ["--s3-bucket", s3.bucket(lock=True), "--s3-endpoint-url", s3.endpoint_url]
        print("ops.backup backup ...", file=sys.stderr)
        backup_s, backup, _ = run_tool(["backup", *common, "--db-host", "127.0.0.1", "--db-port", str(pg.port), "--db-user", role,
                                        "--db-name", role, "--db-sslmode", "disable", "--filestore-container", "gc-bench",
                                        "--filestore-connection-string", azurite.connection_string(), "--immutability-days", "1"], env)
        set_bytes = sum(o["size"] for o in backup["objects"].values())
        print("ops.backup drill ...", file=sys.stderr)
        drill_s, drill, _ = run_tool(["drill", *common, "--scratch-host", "127.0.0.1", "--scratch-port", str(pg.port), "--scratch-user",
                                      AZURE_ADMIN, "--scratch-sslmode", "disable", "--filestore-connection-string", azurite.connection_string()], env)
        if drill["verdict"] != "pass":
            raise SystemExit(f"the drill failed: {drill['failed_checks']}")
        raw_backup_sum = raw_dump_s + raw_copy_s
        raw_backup_max = max(raw_dump_s, raw_copy_s)
        raw_restore_sum = raw_restore_s + raw_copy_back_s
        raw_restore_max = max(raw_restore_s, raw_copy_back_s)
        results["tool"] = {
            "backup_s": round(backup_s, 2), "set_bytes": set_bytes, "dump_bytes": backup["objects"]["db.dump"]["size"],
            "backup_mb_s": rate(db_bytes + blob_bytes, backup_s), "backup_set_mb_s": rate(set_bytes, backup_s),
            "drill_s": round(drill_s, 2), "rto_s": drill["rto_s"], "drill_restore_mb_s": drill["restore"]["mb_s"],
            "drill_mb_s": rate(db_bytes + blob_bytes, drill["rto_s"]), "drill_checks": len(drill["checks"]),
        }
        results["overhead"] = {
            "backup_vs_raw_sum": round(backup_s / raw_backup_sum - 1, 3), "backup_vs_raw_slowest": round(backup_s / raw_backup_max - 1, 3),
            "rto_vs_raw_sum": round(drill["rto_s"] / raw_restore_sum - 1, 3), "rto_vs_raw_slowest": round(drill["rto_s"] / raw_restore_max - 1, 3),
        }
    finally:
        pg.stop()
        azurite.stop()
        vault.stop()
        if s3:
            s3.stop()
        shutil.rmtree(work, ignore_errors=True)

    raw, tool, over = results["raw"], results["tool"], results["overhead"]
    data = results["data"]
    print(f"\nbackup bench: PostgreSQL {args.pg_major}, database {data['database_bytes'] / MB:.0f} MB, "
          f"{data['blobs']} blobs {data['blob_bytes'] / MB:.0f} MB{', offsite S3 (moto)' if args.offsite else ''}")
    rows = [
        ("raw pg_dump -Fc (to a file)", raw["pg_dump_s"], f"{raw['pg_dump_db_mb_s']} MB/s of database"),
        ("raw blob copy (8 threads)", raw["blob_copy_s"], f"{raw['blob_copy_mb_s']} MB/s"),
        ("ops.backup backup", tool["backup_s"], f"{tool['backup_mb_s']} MB/s of data, set {tool['set_bytes'] / MB:.0f} MB"),
        ("raw pg_restore (from a file)", raw["pg_restore_s"], f"{raw['pg_restore_db_mb_s']} MB/s of database"),
        ("raw blob copy back", raw["blob_copy_back_s"], ""),
        ("ops.backup drill: measured RTO", tool["rto_s"], f"{tool['drill_mb_s']} MB/s of data"),
        ("ops.backup drill: whole run", tool["drill_s"], f"{tool['drill_checks']} checks, scratch copies dropped"),
    ]
    for name, seconds, note in rows:
        print(f"  {name:34s} {seconds:9.2f} s   {note}")
    print(f"  overhead of backup over raw: {over['backup_vs_raw_sum']:+.1%} vs the raw steps in sequence, "
          f"{over['backup_vs_raw_slowest']:+.1%} vs the slower raw step")
    print(f"  RTO over raw restore:        {over['rto_vs_raw_sum']:+.1%} vs the raw steps in sequence, "
          f"{over['rto_vs_raw_slowest']:+.1%} vs the slower raw step")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
