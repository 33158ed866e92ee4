"""Secret rotation (ops/rotate) against real PostgreSQL servers of every supported major, with Key Vault and Azure
Resource Manager played by a local fake of their REST APIs (no Azure here): the same requests, paths and bodies.

The tenant database password: a client in the middle of a transaction with the old password finishes it and
reconnects with the new one; a failure after any step leaves the old credential working; a later run finishes the
job. The Redis key: consumers move to the other key before the old one is regenerated. The server admin password:
set back when it cannot be published.
"""
import json
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

import psycopg
import pytest

from ops.backup.errors import EXIT_FAILED, OpsError
from ops.backup.log import Log
from ops.refresh.kube import KubeApi
from ops.rotate import cli
from ops.rotate.kube import RollingRestart
from ops.rotate import postgres as pg
from ops.rotate.credential import Credential, is_due
from ops.rotate.rest import Arm, KeyVault
from ops.rotate.rotate import Schedule, rotate_admin_password, rotate_redis_key, rotate_tenant_password
from tests.postgres_servers import AZURE_ADMIN, AZURE_ADMIN_PASSWORD, PostgresServer, postgres  # noqa: F401
from tests.test_db_bootstrap_sql import bootstrap
from components.db_bootstrap import READ_DB_CREDENTIAL_SH
from components.odoo_tenant import ENTRYPOINT

TOKEN = "test-token"
DAY = 86400
SCHEDULE = Schedule(lifetime_seconds=104 * DAY, grace_seconds=14 * DAY)
REDIS_DB = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/redisEnterprise/redis-x/databases/default"
PG_SERVER = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/psql-x"


class Fake(ThreadingHTTPServer):
    """Key Vault secrets (GET/PUT /secrets/<name>) and the ARM actions rotation uses, with a bearer token check."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.versions: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[str] = []
        self.fail_writes = False
        self.redis = {"primaryKey": "key-one", "secondaryKey": "key-two"}
        self.on_admin_password = lambda password: None
        self.deployments: dict[str, dict[str, Any]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def put(self, name: str, value: str, exp: Optional[int] = None, tags: Optional[dict] = None) -> None:
        self.versions.setdefault(name, []).append({"value": value, "id": f"{self.url}/secrets/{name}/{uuid.uuid4().hex}",
                                                  "attributes": {"enabled": True, **({"exp": exp} if exp else {})}, "tags": tags or {}})

    def current(self, name: str) -> dict[str, Any]:
        return self.versions[name][-1]


class Handler(BaseHTTPRequestHandler):
    server: Fake

    def log_message(self, format, *args):  # quiet
        pass

    def _answer(self, status: int, body: Any = None) -> None:
        raw = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _route(self, method: str) -> None:
        path = self.path.split("?")[0]
        self.server.calls.append(f"{method} {path}")
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._answer(401, {"error": {"code": "Unauthorized"}})
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        if path.startswith("/secrets/"):
            name = path.split("/")[2]
            if method == "PATCH":
                [version] = [v for v in self.server.versions[name] if v["id"].endswith("/" + path.split("/")[3])]
                version["tags"] = body["tags"]
                return self._answer(200, {k: v for k, v in version.items() if k != "value"})
            if method == "GET":
                return self._answer(200, self.server.current(name)) if name in self.server.versions else self._answer(404, {"error": {"code": "SecretNotFound"}})
            if self.server.fail_writes:
                return self._answer(503, {"error": {"code": "ServiceUnavailable"}})
            self.server.put(name, body["value"], body["attributes"].get("exp"), body.get("tags"))
            return self._answer(200, self.server.current(name))
        if path == f"{REDIS_DB}/listKeys":
            return self._answer(200, self.server.redis)
        if path == f"{REDIS_DB}/regenerateKey":
            key = "primaryKey" if body["keyType"] == "Primary" else "secondaryKey"
            self.server.redis[key] = f"key-{uuid.uuid4().hex[:8]}"
            return self._answer(200, self.server.redis)
        if path.startswith("/apis/apps/v1/namespaces/"):
            deployment = self.server.deployments.setdefault(path, {"metadata": {"generation": 1}, "spec": {"replicas": 2}, "polls": 0, "patches": []})
            if method == "PATCH":
                deployment["patches"].append((self.headers.get("Content-Type"), body))
                deployment["metadata"]["generation"] += 1
                deployment["polls"] = 0
            else:
                deployment["polls"] += 1  # the new ReplicaSet is ready on the third look
                done = deployment["polls"] >= 3
                generation = deployment["metadata"]["generation"]
                deployment["status"] = {"observedGeneration": generation, "replicas": 2 if done else 3, "updatedReplicas": 2 if done else 1,
                                        "availableReplicas": 2}
            return self._answer(200, {k: v for k, v in deployment.items() if k not in ("polls", "patches")})
        if path == PG_SERVER and method == "PATCH":
            self.server.on_admin_password(body["properties"]["administratorLoginPassword"])
            return self._answer(200, {"id": PG_SERVER})
        return self._answer(404, {"error": {"code": "NotFound", "path": path}})

    def do_GET(self):
        self._route("GET")

    def do_PUT(self):
        self._route("PUT")

    def do_POST(self):
        self._route("POST")

    def do_PATCH(self):
        self._route("PATCH")


@pytest.fixture()
def fake():
    server = Fake()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def vault_of(fake: Fake) -> KeyVault:
    return KeyVault(fake.url, lambda scope: TOKEN)


def server_of(postgres: PostgresServer) -> pg.Server:
    postgres.azure_admin()
    return pg.Server("127.0.0.1", postgres.port, AZURE_ADMIN, AZURE_ADMIN_PASSWORD, sslmode="disable")


def tenant(postgres: PostgresServer, fake: Fake) -> tuple[str, str, str]:
    """A tenant environment as Pulumi and the bootstrap Job leave it: role owning its database, first password in Key Vault."""
    role = f"odoo_rot_{uuid.uuid4().hex[:8]}"
    first = "First-password_0.x~" + uuid.uuid4().hex[:6]
    postgres.create_database_as_admin(role)
    assert bootstrap(postgres, role, first, role, drill=None).returncode == 0
    fake.put(f"pg-{role}-password", first)  # Pulumi's first version: the plain password of the tenant role, no expiry yet
    return role, first, f"pg-{role}-password"


def logs_in(server: pg.Server, credential: Credential, db: str) -> bool:
    try:
        with psycopg.connect(host=server.host, port=server.port, user=credential.login, password=credential.password, dbname=db, sslmode="disable") as c:
            return c.execute("SELECT current_user").fetchone()[0] == db
    except psycopg.OperationalError:
        return False


def test_a_connected_client_finishes_its_transaction_and_reconnects_with_the_new_password(postgres, fake):
    server = server_of(postgres)
    role, first, secret = tenant(postgres, fake)
    old = Credential(role, first)
    client = psycopg.connect(host=server.host, port=server.port, user=role, password=first, dbname=role, sslmode="disable")
    client.execute("CREATE TABLE work (id int)")
    client.execute("INSERT INTO work VALUES (1)")  # the transaction stays open through the switch
    seen: dict[str, Any] = {}

    def odoo_pod():
        """What a rolling restart does to a pod: it finishes the request under way, exits, and its successor starts with
        the secret's current version."""
        time.sleep(1.5)  # still working with the old session while rotation waits for it
        client.execute("INSERT INTO work VALUES (2)")
        client.commit()
        client.close()
        seen["credential"] = Credential.parse(fake.current(secret)["value"], role)
        with psycopg.connect(host=server.host, port=server.port, user=seen["credential"].login, password=seen["credential"].password,
                             dbname=role, sslmode="disable") as successor:
            successor.execute("INSERT INTO work VALUES (3)")
            successor.execute("CREATE TABLE made_after (id int)")
            seen["acting"] = successor.execute("SELECT session_user, current_user").fetchone()

    pod = threading.Thread(target=odoo_pod)
    result = rotate_tenant_password(server, vault_of(fake), secret, role, role, pod.start, SCHEDULE, Log(quiet=True), drain_seconds=30, poll_seconds=0.2)
    pod.join(10)
    assert result["rotated"] and result["retired"] == role and result["login"] == f"{role}_b"
    assert seen["acting"] == (f"{role}_b", role), "the second login acts as the tenant role"
    assert postgres.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM work", db=role) == "1,2,3", "the old session's transaction committed"
    assert postgres.sql("SELECT tableowner FROM pg_tables WHERE tablename = 'made_after'", db=role) == role
    assert not logs_in(server, old, role), "the old password is retired"
    assert fake.current(secret)["attributes"]["exp"] >= time.time() + SCHEDULE.lifetime_seconds - 60
    assert first not in postgres.log() and seen["credential"].password not in postgres.log(), "no password in the server log"

    # the next rotation goes back to the tenant role, and retires the second login
    again = rotate_tenant_password(server, vault_of(fake), secret, role, role, lambda: None, Schedule(SCHEDULE.lifetime_seconds, SCHEDULE.grace_seconds, force=True),
                                   Log(quiet=True), drain_seconds=5, poll_seconds=0.2)
    assert (again["login"], again["retired"]) == (role, f"{role}_b")
    assert logs_in(server, Credential.parse(fake.current(secret)["value"], role), role)
    assert not logs_in(server, seen["credential"], role)


def odoo_conf_from_entrypoint(tmp_path, role: str, secret_value: str) -> dict[str, str]:
    """The shipped entrypoint renders odoo.conf from the mounted secret (its paths moved under tmp_path)."""
    for d in ("etc", "run", "secrets"):
        (tmp_path / d).mkdir(exist_ok=True)
    (tmp_path / "etc/odoo.conf").write_text(f"[options]\ndb_host = 127.0.0.1\ndb_user = {role}\ndb_name = {role}\n")
    (tmp_path / "secrets/db-password").write_text(secret_value)
    (tmp_path / "secrets/admin-password").write_text("admin")
    script = ENTRYPOINT.replace("/etc/odoo/", f"{tmp_path}/etc/").replace("/run/odoo/", f"{tmp_path}/run/").replace("/mnt/secrets", f"{tmp_path}/secrets")
    (tmp_path / "entrypoint.sh").write_text(script)
    result = subprocess.run(["sh", str(tmp_path / "entrypoint.sh"), "run", "cat", f"{tmp_path}/run/odoo.conf"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return dict(line.split(" = ", 1) for line in result.stdout.splitlines() if " = " in line)


def test_the_odoo_entrypoint_logs_in_with_what_key_vault_holds(postgres, fake, tmp_path):
    server = server_of(postgres)
    role, first, secret = tenant(postgres, fake)
    assert odoo_conf_from_entrypoint(tmp_path, role, first)["db_user"] == role, "Pulumi's first version: the bare password of the tenant role"
    rotate_tenant_password(server, vault_of(fake), secret, role, role, lambda: None, SCHEDULE, Log(quiet=True), drain_seconds=5, poll_seconds=0.2)
    conf = odoo_conf_from_entrypoint(tmp_path, role, fake.current(secret)["value"])
    assert conf["db_user"] == f"{role}_b"
    assert logs_in(server, Credential(conf["db_user"], conf["db_password"]), role)
    bad = subprocess.run(["sh", "-c", READ_DB_CREDENTIAL_SH + f'printf "x;rm:pw" > {tmp_path}/bad; read_db_credential {tmp_path}/bad {role}'],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "no valid login role" in bad.stderr


class Injected(Exception):
    pass


@pytest.mark.parametrize("failing", ["prepare", "publish", "restart", "drain"])
def test_a_rotation_failing_after_any_step_leaves_the_old_password_working(postgres, fake, failing):
    server = server_of(postgres)
    role, first, secret = tenant(postgres, fake)

    def fail(step: str) -> None:
        if step == failing:
            raise Injected(step)

    with pytest.raises(Injected):
        rotate_tenant_password(server, vault_of(fake), secret, role, role, lambda: None, SCHEDULE, Log(quiet=True), drain_seconds=5, poll_seconds=0.2, after=fail)
    assert logs_in(server, Credential(role, first), role), f"old password broken by a failure after {failing}"
    published = Credential.parse(fake.current(secret)["value"], role)
    assert logs_in(server, published, role), "what Key Vault holds works"
    assert (published.password == first) == (failing == "prepare")

    # the next scheduled run completes the switch: a new rotation if nothing was published, else it restarts the
    # consumers again (none may still hold the old credential) and retires the old login
    restarts: list[str] = []
    rotate_tenant_password(server, vault_of(fake), secret, role, role, lambda: restarts.append(fake.current(secret)["value"]), SCHEDULE, Log(quiet=True),
                           drain_seconds=5, poll_seconds=0.2)
    final = Credential.parse(fake.current(secret)["value"], role)
    assert final.login == f"{role}_b" and logs_in(server, final, role)
    assert restarts == [final.text()], "consumers restarted onto the published credential before the old one was retired"
    assert fake.current(secret)["tags"] == {"previous-login": role, "previous-retired": "true"}
    assert not logs_in(server, Credential(role, first), role)


def test_a_key_vault_outage_leaves_everything_on_the_old_password(postgres, fake):
    server = server_of(postgres)
    role, first, secret = tenant(postgres, fake)
    fake.fail_writes = True
    with pytest.raises(OpsError, match="HTTP 503") as raised:
        rotate_tenant_password(server, vault_of(fake), secret, role, role, lambda: None, SCHEDULE, Log(quiet=True))
    assert raised.value.step == "publish"
    assert fake.current(secret)["value"] == first and logs_in(server, Credential(role, first), role)


def test_an_old_session_that_never_ends_is_not_cut(postgres, fake):
    server = server_of(postgres)
    role, first, secret = tenant(postgres, fake)
    with psycopg.connect(host=server.host, port=server.port, user=role, password=first, dbname=role, sslmode="disable") as stuck:
        with pytest.raises(OpsError) as raised:
            rotate_tenant_password(server, vault_of(fake), secret, role, role, lambda: None, SCHEDULE, Log(quiet=True), drain_seconds=1, poll_seconds=0.2)
        assert raised.value.exit_code == EXIT_FAILED and raised.value.step == "drain"
        assert stuck.execute("SELECT 1").fetchone() == (1,), "the old session still works"
        assert logs_in(server, Credential(role, first), role)
    # once it has gone, a run that is not due still retires the idle old login
    result = rotate_tenant_password(server, vault_of(fake), secret, role, role, lambda: None, SCHEDULE, Log(quiet=True))
    assert (result["rotated"], result["retired"]) == (False, role)
    assert not logs_in(server, Credential(role, first), role)


def test_not_due_means_no_change(postgres, fake):
    server = server_of(postgres)
    role, first, secret = tenant(postgres, fake)
    fake.put(secret, first, int(time.time()) + 30 * DAY)  # far from its 14-day grace
    result = rotate_tenant_password(server, vault_of(fake), secret, role, role, lambda: None, SCHEDULE, Log(quiet=True))
    assert not result["rotated"] and len(fake.versions[secret]) == 2 and logs_in(server, Credential(role, first), role)


def test_due_within_grace_or_without_expiry():
    now = 1_000_000_000
    assert is_due(None, now, 14 * DAY)
    assert is_due(now + 13 * DAY, now, 14 * DAY) and not is_due(now + 15 * DAY, now, 14 * DAY)
    assert Credential.parse("odoo_gc_dev_b:p-w.d~", "odoo_gc_dev") == Credential("odoo_gc_dev_b", "p-w.d~")
    assert Credential.parse("plain-first_password", "odoo_gc_dev") == Credential("odoo_gc_dev", "plain-first_password")
    assert "p-w.d~" not in repr(Credential("x", "p-w.d~"))


def test_redis_consumers_move_to_the_other_key_before_the_old_one_is_regenerated(fake):
    fake.put("redis-access-key", "key-one")
    order: list[str] = []
    arm = Arm(fake.url, lambda scope: TOKEN)

    def restart():
        order.append(f"restart with {fake.current('redis-access-key')['value']}, keys {sorted(fake.redis.values())}")

    result = rotate_redis_key(arm, REDIS_DB, vault_of(fake), "redis-access-key", restart, SCHEDULE, Log(quiet=True))
    assert result["regenerated"] == "Primary"
    assert order == ["restart with key-two, keys ['key-one', 'key-two']"], "both keys valid while consumers restart"
    assert fake.current("redis-access-key")["value"] == fake.redis["secondaryKey"] == "key-two"
    assert fake.redis["primaryKey"] != "key-one", "the key no longer used is regenerated"
    # the next rotation goes back to the (new) primary and regenerates the secondary
    result = rotate_redis_key(arm, REDIS_DB, vault_of(fake), "redis-access-key", lambda: None, Schedule(1, 1, force=True), Log(quiet=True))
    assert result["regenerated"] == "Secondary" and fake.current("redis-access-key")["value"] == fake.redis["primaryKey"]


def test_redis_rotation_failing_before_regeneration_leaves_both_keys(fake):
    fake.put("redis-access-key", "key-one")

    def fail(step: str) -> None:
        if step == "restart":
            raise Injected(step)

    with pytest.raises(Injected):
        rotate_redis_key(Arm(fake.url, lambda scope: TOKEN), REDIS_DB, vault_of(fake), "redis-access-key", lambda: None, SCHEDULE, Log(quiet=True), after=fail)
    assert fake.redis == {"primaryKey": "key-one", "secondaryKey": "key-two"}
    assert not any("regenerateKey" in call for call in fake.calls)


@pytest.mark.parametrize("publish_fails", [False, True])
def test_admin_password_is_set_back_when_it_cannot_be_published(postgres, fake, publish_fails):
    server = server_of(postgres)
    current = f"Admin-{uuid.uuid4().hex}"
    postgres.sql(f"ALTER ROLE {AZURE_ADMIN} PASSWORD '{current}'")
    fake.put("pg-admin-password", current)
    # ARM's PATCH of administratorLoginPassword, applied to the real server
    fake.on_admin_password = lambda password: postgres.sql(f"ALTER ROLE {AZURE_ADMIN} PASSWORD '{password}'")
    fake.fail_writes = publish_fails
    admin = pg.Server(server.host, server.port, AZURE_ADMIN, current, sslmode="disable")
    try:
        if publish_fails:
            with pytest.raises(OpsError) as raised:
                rotate_admin_password(Arm(fake.url, lambda scope: TOKEN), PG_SERVER, admin, vault_of(fake), "pg-admin-password", SCHEDULE, Log(quiet=True))
            assert raised.value.step == "publish"
        else:
            rotate_admin_password(Arm(fake.url, lambda scope: TOKEN), PG_SERVER, admin, vault_of(fake), "pg-admin-password", SCHEDULE, Log(quiet=True))
        published = fake.current("pg-admin-password")["value"]
        assert (published == current) == publish_fails
        assert postgres.login(AZURE_ADMIN, published, "postgres").returncode == 0, "the server and Key Vault agree"
    finally:
        postgres.sql(f"ALTER ROLE {AZURE_ADMIN} PASSWORD '{AZURE_ADMIN_PASSWORD}'")


@pytest.mark.parametrize("server_drifted", [False, True])
def test_the_server_gets_key_vaults_admin_password_back_when_it_drifted(postgres, fake, server_drifted):
    """An update of the server that sent another password (Pulumi's creation-time one) is repaired on the next run,
    due or not; a server that accepts Key Vault's password is left alone."""
    server = server_of(postgres)
    published, other = f"Admin-{uuid.uuid4().hex}", f"Stale-{uuid.uuid4().hex}"
    postgres.sql(f"ALTER ROLE {AZURE_ADMIN} PASSWORD '{other if server_drifted else published}'")
    fake.put("pg-admin-password", published, int(time.time()) + 30 * DAY)  # not due
    fake.on_admin_password = lambda password: postgres.sql(f"ALTER ROLE {AZURE_ADMIN} PASSWORD '{password}'")
    admin = pg.Server(server.host, server.port, AZURE_ADMIN, published, sslmode="disable")
    try:
        result = rotate_admin_password(Arm(fake.url, lambda scope: TOKEN), PG_SERVER, admin, vault_of(fake), "pg-admin-password", SCHEDULE, Log(quiet=True))
        assert (result["rotated"], result["repaired"]) == (False, server_drifted)
        assert any(PG_SERVER in call for call in fake.calls) == server_drifted
        assert postgres.login(AZURE_ADMIN, published, "postgres").returncode == 0
    finally:
        postgres.sql(f"ALTER ROLE {AZURE_ADMIN} PASSWORD '{AZURE_ADMIN_PASSWORD}'")


def test_cli_rotates_and_prints_one_record(postgres, fake, capsys, tmp_path):
    server = server_of(postgres)
    role, first, secret = tenant(postgres, fake)
    admin_file = tmp_path / "admin-password"
    admin_file.write_text(AZURE_ADMIN_PASSWORD + "\n")
    argv = ["tenant-db-password", "--vault-url", fake.url, "--secret", secret, "--pg-host", server.host, "--pg-port", str(server.port),
            "--pg-admin", AZURE_ADMIN, "--admin-password-file", str(admin_file), "--sslmode", "disable", "--role", role, "--database", role]
    assert cli.main(argv, token=lambda scope: TOKEN) == 0
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert record["rotated"] and record["login"] == f"{role}_b"
    assert all(json.loads(line)["level"] == "info" for line in err.splitlines())
    assert first not in out + err and Credential.parse(fake.current(secret)["value"], role).password not in out + err
    # not due any more: nothing changes, exit 0
    assert cli.main(argv, token=lambda scope: TOKEN) == 0 and json.loads(capsys.readouterr().out)["rotated"] is False


def test_cli_reports_bad_configuration_and_faults_in_one_line(fake, capsys):
    assert cli.main(["redis-access-key", "--vault-url", fake.url], token=lambda scope: TOKEN) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert json.loads(line)["message"] == "configuration: missing --secret, --database-id"
    fake.put("redis-access-key", "key-one")
    assert cli.main(["redis-access-key", "--vault-url", fake.url, "--secret", "redis-access-key", "--database-id", REDIS_DB], token=lambda scope: "wrong") == 3
    [line] = capsys.readouterr().err.splitlines()
    assert json.loads(line)["step"] == "read-secret" and "HTTP 401" in json.loads(line)["error"]


def test_rolling_restart_patches_like_kubectl_and_waits_for_the_rollout(fake):
    api = KubeApi(fake.url, TOKEN)
    RollingRestart(api, poll_seconds=0.05, timeout=10).restart("odoo-gc-dev", ["odoo-web", "odoo-cron"])
    for name in ("odoo-web", "odoo-cron"):
        deployment = fake.deployments[f"/apis/apps/v1/namespaces/odoo-gc-dev/deployments/{name}"]
        [(content_type, patch)] = deployment["patches"]
        assert content_type == "application/strategic-merge-patch+json"
        assert "kubectl.kubernetes.io/restartedAt" in patch["spec"]["template"]["metadata"]["annotations"]
        assert deployment["polls"] >= 3, "returned before the old pods were gone"
    with pytest.raises(OpsError, match="not rolled out"):
        RollingRestart(api, poll_seconds=0.05, timeout=0.01).restart("odoo-gc-dev", ["odoo-web"])


def test_the_bootstrap_job_applies_a_rotated_credential_to_its_login(postgres, fake):
    """A bootstrap run after a rotation (a changed Job spec, a rebuilt server) sets the password of the login Key Vault
    names, creating the second login where it is missing, not the tenant role's."""
    server = server_of(postgres)
    role, first, _ = tenant(postgres, fake)
    rotated = Credential(f"{role}_b", "Rotated-password_1.x~")
    result = bootstrap(postgres, role, rotated.text(), role, drill=None)
    assert result.returncode == 0, result.stderr
    assert logs_in(server, rotated, role), "the second login acts as the tenant role"
    assert logs_in(server, Credential(role, first), role), "the tenant role keeps its own password (rotation retires it)"
    assert rotated.password not in result.psql_argv + result.stdout + result.stderr + postgres.log()
