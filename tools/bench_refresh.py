"""`make bench` (third line): a non-production refresh (ops/refresh) beside a plain dump and restore of the same data.

One run on loopback servers started here (PostgreSQL 17 from node_modules as in the tests, Azurite storing on disk):
1. an Odoo-like production database (ops/odoo_sample.py) of `--partners` partners and `--lines` move lines (default
   1 million each) with its personal and financial data (bank accounts for every partner, employees, payroll);
2. raw: `pg_dump -Fc` to a file and `pg_restore` of it into a new database;
3. a backup set (`python -m ops.backup backup`, database only), then the refresh as the CronJobs run it:
   `python -m ops.refresh export` (restore + neutralise in one transaction, mask, verify, dump, upload) and
   `python -m ops.refresh import` (the swap into a target database in one transaction).

Reported: seconds of each, the masking throughput (rows changed per second, from the export's record) and the
refresh's time over the raw dump + restore. JSON with --json.

    python -m tools.bench_refresh --partners 20000 --lines 20000
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from ops import odoo_sample  # noqa: E402
from ops.backup import cli as backup_cli, database  # noqa: E402
from ops.refresh import cli as refresh_cli  # noqa: E402
from tests.object_servers import Azurite  # noqa: E402
from tests.postgres_servers import PostgresServer  # noqa: E402
from tools.bench_backup import timed  # noqa: E402

PASSWORD = "bench-tenant-password"
KEY = "bench-masking-key-0123456789"


def _run(main, argv: list[str]) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    if code != 0:
        raise RuntimeError(f"{argv[0]} failed ({code}): {err.getvalue()[-2000:]}")
    lines = out.getvalue().splitlines()
    return json.loads(lines[-1]) if lines else {}


def bench(partners: int, lines: int, work: str, major: int = 17) -> dict[str, Any]:
    import psycopg

    pg = PostgresServer.start(major)
    azurite = Azurite.start(in_memory=False)
    try:
        pg.azure_admin()
        prod, uat = f"p{uuid.uuid4().hex[:6]}", f"u{uuid.uuid4().hex[:6]}"
        for role in (prod, uat):
            pg.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
            pg.sql(f"CREATE DATABASE {role} OWNER {role}")
        pg.sql(f"CREATE DATABASE {prod}_refresh OWNER {prod}")
        pg.sql(f"CREATE DATABASE {prod}_raw OWNER {prod}")
        size = odoo_sample.SampleSize(partners=partners, moves=max(1, lines // 4), lines_per_move=4, messages=max(20, lines // 10),
                                      tasks=max(10, lines // 100), attachments=0, attachment_bytes=0)
        generate_s, _ = timed(_generate, pg, prod, uat, size)
        rows = {t: int(pg.sql(f"SELECT count(*) FROM {t}", prod)) for t in ("res_partner", "account_move_line", "res_partner_bank", "hr_payslip_line")}
        password_file = os.path.join(work, "password")
        key_file = os.path.join(work, "key")
        for path, text in ((password_file, PASSWORD), (key_file, KEY)):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        env = {**os.environ, "PGPASSWORD": PASSWORD, "PGSSLMODE": "disable", "PGHOST": "127.0.0.1", "PGPORT": str(pg.port), "PGUSER": prod}
        dump_file = os.path.join(work, "raw.dump")
        pg_dump, pg_restore = database.pg_binary("pg_dump", None), database.pg_binary("pg_restore", None)
        dump_s, _ = timed(subprocess.run, [pg_dump, "-Fc", "-f", dump_file, "-d", prod], env=env, check=True)
        restore_s, _ = timed(subprocess.run, [pg_restore, "--no-owner", "--exit-on-error", "-d", f"{prod}_raw", dump_file], env=env, check=True)
        backups, exports = "backups", "exports"
        for container in (backups, exports):
            azurite.service().create_container(container)
        storage = ["--block-mib", "8", "--retries", "1", "--timeout", "120", "--progress-interval", "30"]
        connection = azurite.connection_string()
        backup_s, _ = timed(_run, backup_cli.main, [
            "backup", "--tenant", "gc-prod", "--azure-connection-string", connection, "--azure-container", backups, "--db-host", "127.0.0.1",
            "--db-port", str(pg.port), "--db-user", prod, "--db-name", prod, "--db-password-file", password_file, "--db-sslmode", "disable", *storage])
        export_s, export = timed(_run, refresh_cli.main, [
            "export", "--target", "gc/uat", "--tenant", "gc-prod", "--azure-connection-string", connection, "--azure-container", backups,
            "--exports-connection-string", connection, "--exports-container", exports, "--scratch-host", "127.0.0.1", "--scratch-port", str(pg.port),
            "--scratch-user", prod, "--scratch-password-file", password_file, "--scratch-database", f"{prod}_refresh", "--scratch-sslmode", "disable",
            "--key-file", key_file, *storage])
        import_s, _ = timed(_run, refresh_cli.main, [
            "import", "--target", "gc/uat", "--exports-connection-string", connection, "--exports-container", exports, "--db-host", "127.0.0.1",
            "--db-port", str(pg.port), "--db-user", uat, "--db-name", uat, "--db-password-file", password_file, "--db-sslmode", "disable",
            "--base-url", "https://gc-uat.bench.example", "--user-password-file", password_file, *storage])
        masking = export.get("masking", {})
        raw = dump_s + restore_s
        return {
            "rows": rows, "generate_s": round(generate_s, 1), "raw": {"pg_dump_s": round(dump_s, 1), "pg_restore_s": round(restore_s, 1), "total_s": round(raw, 1),
                                                                     "dump_mb": round(os.path.getsize(dump_file) / 1024 / 1024, 1)},
            "backup_s": round(backup_s, 1),
            "refresh": {"export_s": round(export_s, 1), "import_s": round(import_s, 1), "total_s": round(export_s + import_s, 1),
                        "restore_neutralise_s": export.get("restore_s"), "mask_s": masking.get("seconds"), "rows_masked": masking.get("rows_changed"),
                        "masking_rows_per_s": masking.get("rows_per_s"), "sampled_values": masking.get("sampled_values"),
                        "slowest_tables_s": masking.get("table_seconds"), "verify_s": masking.get("verify_s"),
                        "export_mb": round((export.get("objects", {}).get("db.dump", {}).get("size") or 0) / 1024 / 1024, 1)},
            "refresh_over_raw": round((export_s + import_s) / max(raw, 1e-9), 2),
        }
    finally:
        azurite.stop()
        pg.stop()


def _generate(pg: PostgresServer, prod: str, uat: str, size: odoo_sample.SampleSize) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=pg.port, user=prod, password=PASSWORD, dbname=prod, sslmode="disable") as conn:
        odoo_sample.create(conn, size)
        odoo_sample.create_personal(conn, employees=min(5000, size.partners))
    with psycopg.connect(host="127.0.0.1", port=pg.port, user=uat, password=PASSWORD, dbname=uat, sslmode="disable") as conn:
        odoo_sample.create(conn, odoo_sample.SampleSize(partners=20, moves=50, messages=20, tasks=10, attachments=0, attachment_bytes=0))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_refresh", description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=1_000_000, help="account move lines")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as work:
        os.chmod(work, 0o755)
        result = bench(args.partners, args.lines, work)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    r, raw = result["refresh"], result["raw"]
    print(f"refresh of {result['rows']['res_partner']} partners, {result['rows']['account_move_line']} move lines, "
          f"{result['rows']['res_partner_bank']} bank accounts (generated in {result['generate_s']} s):")
    print(f"  raw pg_dump -Fc {raw['pg_dump_s']} s ({raw['dump_mb']} MB) + pg_restore {raw['pg_restore_s']} s = {raw['total_s']} s")
    print(f"  backup set {result['backup_s']} s; refresh export {r['export_s']} s (restore+neutralise {r['restore_neutralise_s']} s, "
          f"mask {r['mask_s']} s), import {r['import_s']} s = {r['total_s']} s, {result['refresh_over_raw']}x raw dump+restore")
    print(f"  masking: {r['rows_masked']} rows at {r['masking_rows_per_s']} rows/s; {r['sampled_values']} production values searched for")
    return 0


if __name__ == "__main__":
    sys.exit(main())
