"""ops.backup against real servers on loopback: PostgreSQL 16-18 (tests/postgres_servers.py, the tenant's owner role
dumps, Azure's non-superuser admin restores), Azurite and moto's S3 with object lock (tests/object_servers.py).

Round trips (backup, verify, drill) on every supported major; corrupted and truncated objects named by verify and
drill; an upload cut or hung mid-stream never leaves a set that looks good; wrong credentials, missing targets and
a full scratch server give one clear line and a non-zero exit; prune over a simulated year and against object lock.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

import pytest

from ops import odoo_sample
from ops.backup import cli, manifest
from ops.backup.errors import EXIT_FAILED, EXIT_FAULT, EXIT_OK
from tests.object_servers import S3Server, Azurite, azurite, cutting_proxy, s3  # noqa: F401  (fixtures)
from tests.postgres_servers import AZURE_ADMIN, AZURE_ADMIN_PASSWORD, PostgresServer, server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLATFORM_MAJORS = (16, 17, 18)
SIZE = odoo_sample.SampleSize(partners=150, moves=1200, lines_per_move=4, messages=400, tasks=120, attachments=24, attachment_bytes=3 * 1024 * 1024)
KEY = "gc-dev-tenant-pw"


# --- a tenant environment: database owned by its role, attachment container, backup container, offsite bucket -------
@dataclasses.dataclass
class Tenant:
    pg: PostgresServer
    azurite: Azurite
    s3: S3Server
    name: str
    role: str
    filestore: Any
    backups: str
    bucket: str

    def connect(self):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.pg.port, user=self.role, password=KEY, dbname=self.role, sslmode="disable")

    def env(self) -> dict[str, str]:
        return {**self.s3.env(), "PGPASSWORD": KEY, "DRILL_PGPASSWORD": AZURE_ADMIN_PASSWORD}

    def common(self, azure_port: Optional[int] = None, s3_port: Optional[int] = None, s3: bool = True) -> list[str]:
        args = ["--tenant", self.name, "--azure-connection-string", self.azurite.connection_string(port=azure_port),
                "--azure-container", self.backups, "--retries", "0", "--timeout", "20", "--block-mib", "1", "--progress-interval", "0.2"]
        if s3:
            args += ["--s3-bucket", self.bucket, "--s3-endpoint-url", f"http://127.0.0.1:{s3_port or self.s3.port}"]
        return args

    def backup_args(self, **ports: Any) -> list[str]:
        return ["backup", *self.common(**ports), "--db-host", "127.0.0.1", "--db-port", str(self.pg.port), "--db-user", self.role,
                "--db-name", self.role, "--db-sslmode", "disable", "--filestore-container", self.filestore.container_name,
                "--filestore-connection-string", self.azurite.connection_string(), "--immutability-days", "2"]

    def drill_args(self, *extra: str, **ports: Any) -> list[str]:
        return ["drill", *self.common(**ports), "--scratch-host", "127.0.0.1", "--scratch-port", str(self.pg.port),
                "--scratch-user", AZURE_ADMIN, "--scratch-sslmode", "disable", "--filestore-connection-string",
                self.azurite.connection_string(), *extra]

    def azure_listing(self) -> dict[str, int]:
        return {b.name: b.size for b in self.azurite.service().get_container_client(self.backups).list_blobs()}

    def s3_listing(self) -> dict[str, int]:
        return {o["Key"]: o["Size"] for o in self.s3.client().list_objects_v2(Bucket=self.bucket).get("Contents", [])}


def make_tenant(pg: PostgresServer, az: Azurite, s3_server: S3Server, data: bool = True) -> Tenant:
    suffix = uuid.uuid4().hex[:8]
    role = f"t{suffix}"
    pg.azure_admin()
    pg.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{KEY}'")
    pg.sql(f"CREATE DATABASE {role} OWNER {role}")
    tenant = Tenant(pg, az, s3_server, f"gc-{suffix}", role, az.container("gc-dev"), f"backups-{suffix}", s3_server.bucket(lock=True))
    az.service().create_container(tenant.backups)
    if data:
        with tenant.connect() as conn:
            odoo_sample.create(conn, SIZE, tenant.filestore)
    return tenant


@dataclasses.dataclass
class Run:
    code: int
    out: list[dict]
    err: list[dict]
    stderr: str

    @property
    def record(self) -> dict:
        assert len(self.out) == 1, self.stderr
        return self.out[0]

    def errors(self) -> list[dict]:
        return [e for e in self.err if e.get("level") == "error"]


def run(tenant: Tenant, argv: list[str], monkeypatch: pytest.MonkeyPatch, **env: str) -> Run:
    """The CLI in this process (its stdout and stderr captured)."""
    for key, value in {**tenant.env(), **env}.items():
        monkeypatch.setenv(key, value)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    stderr = err.getvalue()
    return Run(code, [json.loads(line) for line in out.getvalue().splitlines()], [json.loads(line) for line in stderr.splitlines()], stderr)


def run_process(tenant: Tenant, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI as the job runs it: `python -m ops.backup`."""
    env = {**os.environ, **tenant.env()}
    return subprocess.run([sys.executable, "-m", "ops.backup", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def count(tenant: Tenant, table: str) -> int:
    return int(tenant.pg.sql(f"SELECT count(*) FROM {table}", db=tenant.role))


@pytest.fixture(params=PLATFORM_MAJORS, ids=[f"pg{m}" for m in PLATFORM_MAJORS])
def tenant(request, azurite, s3) -> Tenant:  # noqa: F811
    return make_tenant(server(request.param, request.config), azurite, s3)


@pytest.fixture()
def tenant18(request, azurite, s3) -> Tenant:  # noqa: F811
    return make_tenant(server(18, request.config), azurite, s3)


@pytest.fixture()
def tenant17(request, azurite, s3) -> Tenant:  # noqa: F811
    return make_tenant(server(17, request.config), azurite, s3)


# --- round trips ------------------------------------------------------------------------------------------------------
def test_backup_verify_drill_round_trip(tenant: Tenant, monkeypatch):
    backup = run(tenant, tenant.backup_args(), monkeypatch)
    assert backup.code == EXIT_OK, backup.stderr
    set_id = backup.record["set_id"]
    prefix = manifest.prefix(tenant.name, set_id)
    # the manifest, identical on both targets, written after the objects it lists
    data = tenant.azurite.service().get_container_client(tenant.backups).download_blob(prefix + manifest.MANIFEST).readall()
    assert tenant.s3.client().get_object(Bucket=tenant.bucket, Key=prefix + manifest.MANIFEST)["Body"].read() == data
    found = manifest.decode(data, tenant.name, set_id)
    assert set(found["objects"]) == {manifest.DUMP, manifest.FILESTORE}
    bodies = {name: tenant.azurite.service().get_container_client(tenant.backups).download_blob(prefix + name).readall() for name in found["objects"]}
    for name, record in found["objects"].items():
        assert (len(bodies[name]), hashlib.sha256(bodies[name]).hexdigest()) == (record["size"], record["sha256"])
    assert bodies[manifest.DUMP][:5] == b"PGDMP"  # pg_dump's custom format
    db = found["database"]
    assert db["server_version"].split(".")[0] == str(tenant.pg.major)
    assert db["odoo_version"] == "17.0.1.3"
    assert db["modules"]["attachment_azure"] == "17.0.1.0.0" and "website" not in db["modules"] and "mrp" not in db["modules"]
    for table in ("res_partner", "res_users", "account_move", "account_move_line", "ir_attachment", "ir_module_module"):
        assert db["tables"][table]["rows"] == count(tenant, table), table
        assert len(db["tables"][table]["sample"]["md5"]) == 32
    assert db["tables"]["account_move_line"]["rows"] == SIZE.moves * SIZE.lines_per_move
    assert db["attachments"]["in_object_storage"] > 0
    blobs = {b.name: b.size for b in tenant.filestore.list_blobs()}
    assert (found["filestore"]["blobs"], found["filestore"]["bytes"]) == (len(blobs), sum(blobs.values()))
    assert len(found["filestore"]["sample"]) == min(20, len(blobs))
    snapshot = datetime.datetime.fromisoformat(found["snapshot"]["time"].replace("Z", "+00:00"))
    started = datetime.datetime.fromisoformat(found["started_at"].replace("Z", "+00:00"))
    completed = datetime.datetime.fromisoformat(found["completed_at"].replace("Z", "+00:00"))
    assert started - datetime.timedelta(seconds=5) <= snapshot <= completed
    # offsite objects carry object lock until now + the immutability period
    head = tenant.s3.client().head_object(Bucket=tenant.bucket, Key=prefix + manifest.DUMP)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1, hours=23)
    # progress lines on stderr with bytes and MB/s
    progress = [e for e in backup.err if e["event"] == "progress" and e["state"] == "done"]
    assert {e["object"] for e in progress} == {prefix + manifest.DUMP, prefix + manifest.FILESTORE}
    assert all(e["bytes"] > 0 and e["mb_s"] > 0 for e in progress)

    verify = run(tenant, ["verify", *tenant.common()], monkeypatch)
    assert verify.code == EXIT_OK, verify.stderr
    assert verify.record["set_id"] == set_id and verify.record["ok"]
    assert [t["target"] for t in verify.record["targets"]] == ["azure", "s3"]
    assert all(t["bytes_read"] == sum(o["size"] for o in found["objects"].values()) for t in verify.record["targets"])

    # business goes on after the backup: the restore must hold the snapshot's rows, not these
    with tenant.connect() as conn:
        odoo_sample.more_activity(conn, moves=7)
    drill = run(tenant, tenant.drill_args("--rpo-target", "1h", "--rto-target", "10m"), monkeypatch)
    record = drill.record
    assert drill.code == EXIT_OK, drill.stderr
    assert record["verdict"] == "pass" and record["failed_checks"] == [] and record["set_id"] == set_id
    checks = {c["name"]: c for c in record["checks"]}
    for name in ("object_checksums", "restore_database", "restore_filestore", "row_counts", "row_samples", "modules", "schema",
                 "sequences", "attachments_present", "attachment_checksums", "filestore_counts", "blob_sample", "scratch_dropped"):
        assert checks[name]["ok"], name
    assert checks["row_counts"]["tables"] == len(db["tables"])
    assert checks["attachments_present"]["referenced"] == len(blobs)
    assert 0 < record["rpo_s"] < 120 and record["rpo_met"] is True
    assert 0 < record["rto_s"] < 120 and record["rto_met"] is True
    assert record["snapshot_time"] == found["snapshot"]["time"]
    # the scratch copies are gone
    assert tenant.pg.sql(f"SELECT count(*) FROM pg_database WHERE datname = '{record['scratch']['database']}'") == "0"
    assert record["scratch"]["database_dropped"] and record["scratch"]["container_dropped"]
    assert not tenant.azurite.service().get_container_client(record["scratch"]["container"]).exists()


def test_drill_from_the_offsite_copy_and_a_missed_rpo_target(tenant18: Tenant, monkeypatch):
    assert run(tenant18, tenant18.backup_args(), monkeypatch).code == EXIT_OK
    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=30)).isoformat()
    drill = run(tenant18, tenant18.drill_args("--source", "s3", "--rpo-target", "26h", "--now", later), monkeypatch)
    record = drill.record
    assert drill.code == EXIT_FAILED
    assert record["source"] == "s3" and record["rpo_met"] is False and record["failed_checks"] == ["rpo_target"]
    assert 30 * 3600 - 60 < record["rpo_s"] < 30 * 3600 + 60
    assert {c["name"] for c in record["checks"] if c["ok"]} >= {"row_counts", "row_samples", "blob_sample", "scratch_dropped"}
    assert "failed rpo_target" in drill.errors()[-1]["message"]


def test_a_drill_as_the_tenant_role_into_its_own_drill_database_and_container(tenant17: Tenant, monkeypatch):
    """The platform's CronJob: no CREATEDB, the environment's drill database (owned by the tenant role) and scratch
    container already exist; the drill empties them before (leftovers of a killed drill) and after."""
    t = tenant17
    drill_db = f"{t.role}_drill"
    t.pg.sql(f"CREATE DATABASE {drill_db} OWNER {t.role}")
    t.pg.login(t.role, KEY, drill_db, "CREATE TABLE leftover (id int); CREATE SCHEMA old_drill; CREATE TABLE old_drill.t (id int)")
    scratch = t.azurite.container("scratch")
    scratch.upload_blob("leftover-blob", b"from a drill that was killed")
    assert run(t, t.backup_args(), monkeypatch).code == EXIT_OK
    args = t.drill_args("--scratch-database", drill_db, "--scratch-container", scratch.container_name)
    args[args.index("--scratch-user") + 1] = t.role
    drill = run(t, args, monkeypatch, DRILL_PGPASSWORD=KEY)
    assert drill.code == EXIT_OK, drill.stderr
    record = drill.record
    assert record["scratch"]["database"] == drill_db and record["scratch"]["container"] == scratch.container_name
    checks = {c["name"]: c for c in record["checks"]}
    assert checks["filestore_counts"]["ok"] and checks["schema"]["ok"]  # the leftovers were gone before the restore
    # both still exist, empty
    user_tables = "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    assert t.pg.sql(user_tables, db=drill_db) == "0"
    assert t.pg.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'old_drill'", db=drill_db) == "0"
    assert scratch.exists() and list(scratch.list_blobs()) == []

    # never over the tenant's own database
    tables = t.pg.sql(user_tables, db=t.role)
    args[args.index("--scratch-database") + 1] = t.role
    refused = run(t, args, monkeypatch, DRILL_PGPASSWORD=KEY)
    assert refused.code == 2 and "refusing to restore over the tenant's own database" in refused.record["error"]
    assert t.pg.sql(user_tables, db=t.role) == tables


# --- damaged objects ----------------------------------------------------------------------------------------------------
def test_corrupted_and_truncated_objects_are_named_by_verify_and_drill(tenant18: Tenant, monkeypatch):
    t = tenant18
    set_id = run(t, t.backup_args(), monkeypatch).record["set_id"]
    prefix = manifest.prefix(t.name, set_id)
    container = t.azurite.service().get_container_client(t.backups)
    dump = bytearray(container.download_blob(prefix + manifest.DUMP).readall())
    middle = len(dump) // 2
    dump[middle:middle + 64] = bytes(b ^ 0xFF for b in dump[middle:middle + 64])  # same size, other bytes
    container.upload_blob(prefix + manifest.DUMP, bytes(dump), overwrite=True)
    tar = container.download_blob(prefix + manifest.FILESTORE).readall()
    container.upload_blob(prefix + manifest.FILESTORE, tar[: len(tar) // 3], overwrite=True)

    verify = run(t, ["verify", *t.common(), "--set", set_id], monkeypatch)
    assert verify.code == EXIT_FAILED
    azure, offsite = verify.record["targets"]
    assert {(p["object"], p["problem"]) for p in azure["problems"]} == {(prefix + manifest.DUMP, "checksum"), (prefix + manifest.FILESTORE, "size")}
    assert offsite["ok"] and offsite["problems"] == []
    message = verify.errors()[-1]["message"]
    assert prefix + manifest.DUMP in message and prefix + manifest.FILESTORE in message

    drill = run(t, t.drill_args("--set", set_id), monkeypatch)
    record = drill.record
    assert drill.code == EXIT_FAILED and record["verdict"] == "fail"
    checks = {c["name"]: c for c in record["checks"]}
    assert checks["objects_present"]["failures"] == [
        {"object": prefix + manifest.FILESTORE, "problem": "size", "expected_size": len(tar), "size": len(tar) // 3, "detail": "truncated"}
    ]
    assert checks["object_checksums"]["failures"] == [
        {"object": prefix + manifest.DUMP, "problem": "checksum", "detail": "corrupted: content differs from the manifest"}
    ]
    assert not checks["restore_filestore"]["ok"] and checks["restore_filestore"]["object"] == prefix + manifest.FILESTORE
    assert checks["scratch_dropped"]["ok"]
    assert t.pg.sql(f"SELECT count(*) FROM pg_database WHERE datname = '{record['scratch']['database']}'") == "0"

    # the offsite copy is intact: a drill from it passes
    assert run(t, t.drill_args("--set", set_id, "--source", "s3"), monkeypatch).code == EXIT_OK


def test_a_damaged_manifest_fails_verify(tenant18: Tenant, monkeypatch):
    t = tenant18
    set_id = run(t, t.backup_args(), monkeypatch).record["set_id"]
    key = manifest.prefix(t.name, set_id) + manifest.MANIFEST
    t.azurite.service().get_container_client(t.backups).upload_blob(key, b'{"format": "odoo-platform-backup/1", "objects": {', overwrite=True)
    verify = run(t, ["verify", *t.common(s3=False), "--set", set_id], monkeypatch)
    assert verify.code == EXIT_FAILED
    assert verify.record["targets"][0]["problems"][0]["object"] == key
    assert verify.record["targets"][0]["problems"][0]["problem"] == "invalid"


# --- interrupted uploads ------------------------------------------------------------------------------------------------
def test_an_upload_cut_mid_stream_leaves_no_set_that_looks_good(tenant18: Tenant, monkeypatch):
    t = tenant18
    good = run(t, t.backup_args(), monkeypatch).record["set_id"]
    time.sleep(1.1)  # set ids have a one-second resolution
    with cutting_proxy(t.azurite.port, cut_after=1_500_000) as proxy:
        cut = run(t, t.backup_args(azure_port=proxy.port), monkeypatch)
    assert proxy.cut.is_set()
    assert cut.code == EXIT_FAULT
    error = cut.errors()[-1]
    assert error["step"] == "upload" and error["target"] == "azure"
    assert error["object"].startswith(f"{t.name}/") and error["object"].endswith((manifest.DUMP, manifest.FILESTORE))
    assert "Traceback" not in cut.stderr
    # no manifest on either target for the interrupted set; the committed objects of that set were discarded
    listing = {**t.azure_listing(), **t.s3_listing()}
    interrupted = {k.split("/")[1] for k in listing} - {good}
    assert all(not k.endswith(manifest.MANIFEST) for k in listing if good not in k)
    assert t.s3.client().list_multipart_uploads(Bucket=t.bucket).get("Uploads") in (None, [])
    # verify and drill go to the last good set
    verify = run(t, ["verify", *t.common()], monkeypatch)
    assert verify.code == EXIT_OK and verify.record["set_id"] == good
    for set_id in interrupted:
        bad = run(t, ["verify", *t.common(), "--set", set_id], monkeypatch)
        assert bad.code == EXIT_FAILED
        assert any(p["problem"] == "missing" and p["object"].endswith(manifest.MANIFEST) for p in bad.record["targets"][0]["problems"])


def test_an_offsite_upload_cut_mid_stream(tenant18: Tenant, monkeypatch):
    t = tenant18
    with cutting_proxy(t.s3.port, cut_after=1_200_000) as proxy:
        cut = run(t, t.backup_args(s3_port=proxy.port), monkeypatch)
    assert cut.code == EXIT_FAULT and proxy.cut.is_set()
    error = cut.errors()[-1]
    # the cut lands in a part upload, or in setting the object lock of an object just completed
    assert error["step"] in ("upload", "lock") and error["target"] == "s3" and error["object"].endswith((manifest.DUMP, manifest.FILESTORE)), error
    assert not any(k.endswith(manifest.MANIFEST) for k in {**t.azure_listing(), **t.s3_listing()})
    assert not t.azure_listing()  # what Azure had committed for this set was discarded
    assert run(t, ["verify", *t.common()], monkeypatch).code == EXIT_FAILED  # nothing to verify: no set counts


def test_a_backup_killed_mid_upload_leaves_no_manifest(tenant18: Tenant):
    t = tenant18
    with cutting_proxy(t.azurite.port, cut_after=1_000_000, stall=True) as proxy:
        process = subprocess.Popen([sys.executable, "-m", "ops.backup", *t.backup_args(azure_port=proxy.port)], cwd=ROOT,
                                   env={**os.environ, **t.env()}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proxy.cut.wait(timeout=60), "the upload never reached the proxy"
        time.sleep(0.3)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    listing = {**t.azure_listing(), **t.s3_listing()}
    assert not any(k.endswith(manifest.MANIFEST) for k in listing)
    verify = run_process(t, ["verify", *t.common()])
    assert verify.returncode == EXIT_FAILED and "no backup set with a manifest" in verify.stderr


# --- credentials and targets ------------------------------------------------------------------------------------------
def _one_error_line(result: subprocess.CompletedProcess) -> dict:
    assert "Traceback" not in result.stderr
    errors = [json.loads(line) for line in result.stderr.splitlines() if '"level":"error"' in line]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_wrong_credentials_give_one_clear_line(tenant18: Tenant):
    t = tenant18
    wrong_key = t.azurite.connection_string(key=hashlib.sha512(b"wrong").digest().hex()[:86] + "==")
    args = t.backup_args()
    args[args.index("--azure-connection-string") + 1] = wrong_key
    azure = run_process(t, args)
    assert azure.returncode == EXIT_FAULT
    error = _one_error_line(azure)
    assert (error["step"], error["target"], error["object"]) == ("check-target", "azure", t.backups)
    assert "access denied" in error["message"] and "wrong credentials" in error["message"]

    env = {**os.environ, **t.env(), "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    offsite = subprocess.run([sys.executable, "-m", "ops.backup", *t.backup_args()], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert offsite.returncode == EXIT_FAULT
    error = _one_error_line(offsite)
    assert (error["step"], error["target"], error["object"]) == ("check-target", "s3", t.bucket)
    assert "access denied" in error["message"]
    assert not t.azure_listing()  # nothing written before every target was checked

    database = run_process(t, t.backup_args() + [])
    assert database.returncode == EXIT_OK  # the same job with the right credentials works
    env = {**os.environ, **t.env(), "PGPASSWORD": "wrong"}
    bad_db = subprocess.run([sys.executable, "-m", "ops.backup", *t.backup_args()], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    error = _one_error_line(bad_db)
    assert bad_db.returncode == EXIT_FAULT and error["step"] == "connect-database" and "password authentication failed" in error["message"]


def test_missing_targets_give_one_clear_line(tenant18: Tenant, monkeypatch):
    t = tenant18
    args = t.backup_args()
    args[args.index("--azure-container") + 1] = "no-such-container"
    result = run(t, args, monkeypatch)
    assert result.code == EXIT_FAULT
    assert result.errors()[-1]["message"] == "check-target [azure]: no-such-container: the container does not exist"

    args = t.backup_args()
    args[args.index("--s3-bucket") + 1] = "no-such-bucket"
    result = run(t, args, monkeypatch)
    assert result.code == EXIT_FAULT and result.errors()[-1]["message"] == "check-target [s3]: no-such-bucket: the bucket does not exist"

    args = t.backup_args()
    args[args.index("--s3-bucket") + 1] = t.s3.bucket(lock=False)
    result = run(t, args, monkeypatch)
    assert result.code == EXIT_FAULT and "has no object lock" in result.errors()[-1]["message"]

    closed = run(t, ["verify", *t.common(azure_port=_closed_port())], monkeypatch)
    assert closed.code == EXIT_FAULT and "cannot reach the storage endpoint" in closed.errors()[-1]["message"]
    assert not t.azure_listing() and not t.s3_listing()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_full_scratch_server_fails_the_drill_and_leaves_nothing(tenant18: Tenant, monkeypatch):
    """The scratch database lives on a tiny tmpfs (template1 moved to a tablespace there): the restore hits ENOSPC."""
    t = tenant18
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    assert run(t, t.backup_args(), monkeypatch).code == EXIT_OK
    mount = tempfile.mkdtemp(prefix="scratch-full-")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mount], capture_output=True).returncode != 0:
        shutil.rmtree(mount, ignore_errors=True)
        pytest.skip("cannot mount a tmpfs here")
    try:
        location = os.path.join(mount, "ts")
        os.makedirs(location)
        if t.pg.user:
            os.chown(location, t.pg.user.pw_uid, t.pg.user.pw_gid)
        t.pg.sql(f"CREATE TABLESPACE scratch_small LOCATION '{location}'")
        t.pg.sql("ALTER DATABASE template1 SET TABLESPACE scratch_small")
        # room for template1 and one new database (measured with a probe), and 256 KiB: not for the restored rows
        t.pg.sql("CREATE DATABASE scratch_probe")
        used = shutil.disk_usage(mount).used
        t.pg.sql("DROP DATABASE scratch_probe")
        assert subprocess.run(["mount", "-o", f"remount,size={used // 1024 + 256}k", mount], capture_output=True).returncode == 0
        drill = run(t, t.drill_args(), monkeypatch)
        _restore_template1(t.pg)
        record = drill.record
        assert drill.code == EXIT_FAULT and record["verdict"] == "fail"
        assert record["error"].startswith("restore-database [scratch-database]: drill_")
        assert "the scratch server is full" in record["error"] and "No space left on device" in record["error"]
        assert record["scratch"]["database_dropped"] is True and record["scratch"]["container_dropped"] is True
        assert t.pg.sql(f"SELECT count(*) FROM pg_database WHERE datname = '{record['scratch']['database']}'") == "0"
        assert "Traceback" not in drill.stderr
    finally:
        _restore_template1(t.pg)
        subprocess.run(["umount", mount], capture_output=True)
        shutil.rmtree(mount, ignore_errors=True)


def _restore_template1(pg: PostgresServer) -> None:
    """Put the shared server back as other tests expect it, whatever failed above."""
    for statement in ("DROP DATABASE IF EXISTS scratch_probe", "ALTER DATABASE template1 SET TABLESPACE pg_default",
                      "DROP TABLESPACE IF EXISTS scratch_small"):
        with contextlib.suppress(AssertionError):
            pg.sql(statement)


# --- prune --------------------------------------------------------------------------------------------------------------
def _fake_set(put, tenant: str, moment: datetime.datetime, with_manifest: bool = True, drop_object: bool = False) -> str:
    set_id = manifest.set_id_for(moment)
    prefix = manifest.prefix(tenant, set_id)
    body = f"dump of {set_id}".encode()
    if not drop_object:
        put(prefix + manifest.DUMP, body)
    if with_manifest:
        record = {"format": manifest.FORMAT, "tenant": tenant, "set_id": set_id,
                  "objects": {manifest.DUMP: {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}}}
        put(prefix + manifest.MANIFEST, manifest.encode(record))
    return set_id


def _days(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    return [first + datetime.timedelta(days=i) for i in range((last - first).days + 1)]


# Hand-computed for daily sets at 02:00 through 2024 and three in 2023 (Jun 30, Dec 30, Dec 31), now 2024-12-31T12:00Z,
# policy 7/4/12/7: daily: Dec 25-31; weekly (ISO): 2025-W01 Dec 31, W52 Dec 29, W51 Dec 22, W50 Dec 15; monthly: the
# last day of each month Jan-Dec 2024; yearly: Dec 31 2024 and Dec 31 2023.
EXPECTED_KEPT = sorted(
    [datetime.date(2024, 12, d) for d in range(25, 32)] + [datetime.date(2024, 12, 22), datetime.date(2024, 12, 15)]
    + [datetime.date(2024, m, d) for m, d in ((1, 31), (2, 29), (3, 31), (4, 30), (5, 31), (6, 30), (7, 31), (8, 31), (9, 30), (10, 31), (11, 30))]
    + [datetime.date(2023, 12, 31)]
)


def test_prune_over_a_simulated_year_keeps_exactly_the_policy(tenant18: Tenant, monkeypatch):
    t = tenant18
    container = t.azurite.service().get_container_client(t.backups)
    put = lambda key, data: container.upload_blob(key, data, overwrite=True)  # noqa: E731
    at = lambda day, hour=2: datetime.datetime.combine(day, datetime.time(hour), datetime.timezone.utc)  # noqa: E731
    with ThreadPoolExecutor(16) as pool:
        days = [datetime.date(2023, 6, 30), datetime.date(2023, 12, 30), datetime.date(2023, 12, 31)]
        list(pool.map(lambda d: _fake_set(put, t.name, at(d)), days + _days(datetime.date(2024, 1, 1), datetime.date(2024, 12, 31))))
    running = _fake_set(put, t.name, at(datetime.date(2024, 12, 31), 10), with_manifest=False)  # a backup still running
    stale = _fake_set(put, t.name, at(datetime.date(2024, 6, 15), 3), with_manifest=False)  # interrupted long ago
    damaged = _fake_set(put, t.name, at(datetime.date(2024, 12, 30), 14), drop_object=True)  # manifest, object gone
    now = "2024-12-31T12:00:00Z"

    # with a 30-day immutability period: nothing younger than 30 days goes, whatever the policy
    immutable = run(t, ["prune", *t.common(s3=False), "--now", now, "--immutability-days", "30"], monkeypatch)
    assert immutable.code == EXIT_OK, immutable.stderr
    sets = manifest.list_sets(_store(t), t.name)
    young = [d for d in _days(datetime.date(2024, 12, 2), datetime.date(2024, 12, 31))]
    expected = {manifest.set_id_for(at(d)) for d in set(EXPECTED_KEPT) | set(young)} | {running, damaged}
    assert set(sets) == expected
    kept = {k["set_id"]: k["reasons"] for k in immutable.record["targets"][0]["kept"]}
    assert kept[manifest.set_id_for(at(datetime.date(2024, 12, 3)))] == ["immutable until 2025-01-02T02:00:00.000Z"]
    assert stale in {d["set_id"] for d in immutable.record["targets"][0]["deleted"]}

    # without it: exactly the hand-computed sets, the running backup, and nothing else
    result = run(t, ["prune", *t.common(s3=False), "--now", now, "--immutability-days", "0"], monkeypatch)
    assert result.code == EXIT_OK
    sets = manifest.list_sets(_store(t), t.name)
    assert sorted(sets) == sorted([manifest.set_id_for(at(d)) for d in EXPECTED_KEPT] + [running])
    kept = {k["set_id"]: k["reasons"] for k in result.record["targets"][0]["kept"]}
    assert kept[manifest.set_id_for(at(datetime.date(2024, 12, 31)))] == [
        "last good set", "daily 2024-12-31", "weekly 2025-W01", "monthly 2024-12", "yearly 2024"]
    assert kept[manifest.set_id_for(at(datetime.date(2023, 12, 31)))] == ["yearly 2023"]
    deleted = {d["set_id"]: d for d in result.record["targets"][0]["deleted"]}
    assert deleted[damaged]["status"] == "damaged" and "db.dump missing" in deleted[damaged]["damage"]
    # a second run deletes nothing
    again = run(t, ["prune", *t.common(s3=False), "--now", now], monkeypatch)
    assert again.record["targets"][0]["deleted"] == [] and len(again.record["targets"][0]["kept"]) == len(EXPECTED_KEPT) + 1


def _store(t: Tenant):
    from ops.backup.targets import AzureStore, Transfer

    return AzureStore.connect("azure", t.backups, Transfer(), connection_string=t.azurite.connection_string())


def test_prune_reports_what_object_lock_refuses_and_keeps_the_last_good_set(tenant18: Tenant, monkeypatch):
    from ops.backup.targets import S3Store, Transfer

    t = tenant18
    store = S3Store.connect(t.bucket, Transfer(), endpoint_url=t.s3.endpoint_url, access_key_id=t.s3.access_key, secret_access_key=t.s3.secret_key)
    locked_until = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).replace(microsecond=0)
    put = lambda key, data: store.put(key, data, retain_until=locked_until)  # noqa: E731
    months = [datetime.datetime(2024, m, 1, 2, tzinfo=datetime.timezone.utc) for m in (1, 2, 3)]
    ids = [_fake_set(put, t.name, m) for m in months]
    result = run(t, ["prune", *t.common(), "--now", "2024-06-01T00:00:00Z", "--keep-daily", "0", "--keep-weekly", "0",
                     "--keep-monthly", "0", "--keep-yearly", "0"], monkeypatch)
    assert result.code == EXIT_OK, result.stderr
    offsite = result.record["targets"][1]
    assert offsite["target"] == "s3"
    assert [k["set_id"] for k in offsite["kept"]] == [ids[2]] and offsite["kept"][0]["reasons"] == ["last good set"]
    assert offsite["deleted"] == []
    refused = {r["set_id"]: r for r in offsite["refused"]}
    assert set(refused) == set(ids[:2])
    for set_id in ids[:2]:
        assert refused[set_id]["object"] == manifest.prefix(t.name, set_id) + manifest.MANIFEST
        assert "AccessDenied" in refused[set_id]["error"]
    assert sorted(manifest.list_sets(store, t.name)) == ids  # every set still whole
    assert any(e["event"] == "prune-refused" for e in result.err)
