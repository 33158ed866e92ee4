"""Throwaway object stores on loopback for the tests of ops/ (and tools/bench_backup.py): Azurite for Azure Blob
Storage, moto's S3 server with object lock, and a TCP proxy that cuts a connection mid-stream.

- Azurite: npm `azurite` (exact version in package.json / package-lock.json, installed into node_modules/ by
  `npm ci --ignore-scripts`, which `make test` runs first), blob service only, on 127.0.0.1 and a free port, in
  memory (or in a temporary directory), telemetry off, shared-key authentication as Azure's well-known
  development account (`devstoreaccount1`). Killed with the test process (PR_SET_PDEATHSIG) or at pytest exit.
- moto: `moto.server.ThreadedMotoServer` in this process, on 127.0.0.1 and a free port, with IAM authentication
  switched on after set-up (moto's /moto-api/reset-auth), so wrong credentials are refused as S3 refuses them.
  `s3.bucket(lock=True)` makes a bucket with object lock enabled.
- CuttingProxy: forwards 127.0.0.1:<port> to a server and, once `cut_after` bytes went upstream, closes every
  connection (and refuses new ones): an upload that dies mid-stream, as a network failure would; or, with
  `stall=True`, stops forwarding and holds the connections open (a hung upload, for a test to kill the job).

Usage in a test module:

    from tests.object_servers import azurite, s3  # noqa: F401  (the fixtures)
"""
from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from typing import Iterator, Optional

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_MODULES = os.path.join(ROOT, "node_modules")

# Azure's documented development account (Azurite's default): not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the process that started it goes away (Linux prctl)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float, what: str, log_path: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    log = open(log_path, encoding="utf-8", errors="replace").read()[-3000:] if os.path.exists(log_path) else ""
    raise RuntimeError(f"{what} did not start listening on 127.0.0.1:{port}: {log}")


# --- Azurite ------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Azurite:
    port: int
    process: subprocess.Popen
    workdir: str

    @classmethod
    def start(cls, in_memory: bool = True) -> "Azurite":
        binary = os.path.join(NODE_MODULES, "azurite", "dist", "src", "blob", "main.js")
        if not os.path.exists(binary) or not shutil.which("node"):
            pytest.fail(f"{binary} or node missing: run `npm ci --ignore-scripts` in {ROOT} (`make test` does)")
        workdir = tempfile.mkdtemp(prefix="azurite-")
        log_path = os.path.join(workdir, "azurite.log")
        last: Optional[Exception] = None
        for _ in range(3):
            port = free_port()
            argv = ["node", binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--silent", "--loose",
                    "--skipApiVersionCheck", "--disableTelemetry"]
            argv += ["--inMemoryPersistence"] if in_memory else ["--location", workdir]
            log = open(log_path, "ab")
            process = subprocess.Popen(argv, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       preexec_fn=_die_with_parent)
            log.close()
            try:
                _wait_for_port(port, process, 30, "Azurite", log_path)
                return cls(port=port, process=process, workdir=workdir)
            except RuntimeError as error:
                last = error
                process.kill()
                process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError(str(last))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    def connection_string(self, key: str = AZURITE_KEY, port: Optional[int] = None) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
                f"BlobEndpoint=http://127.0.0.1:{port or self.port}/{AZURITE_ACCOUNT};")

    def service(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string())

    def container(self, prefix: str = "c"):
        """A new, empty container with a unique name."""
        client = self.service().get_container_client(f"{prefix}-{uuid.uuid4().hex[:12]}")
        client.create_container()
        return client


_AZURITE: list[Azurite] = []


@pytest.fixture(scope="session")
def azurite(request) -> Azurite:
    if not _AZURITE:
        server = Azurite.start()
        _AZURITE.append(server)
        request.config.add_cleanup(server.stop)
    return _AZURITE[0]


# --- moto's S3 ------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class S3Server:
    server: object
    port: int
    access_key: str = ""
    secret_key: str = ""

    @classmethod
    def start(cls) -> "S3Server":
        from moto.server import ThreadedMotoServer

        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        port = server.get_host_and_port()[1]
        self = cls(server=server, port=port)
        self._enable_auth()
        return self

    def _enable_auth(self) -> None:
        """An IAM user allowed s3:*, then IAM authentication for every later request (moto's reset-auth)."""
        iam = self._client("iam", "test", "test")
        iam.create_user(UserName="backup")
        iam.put_user_policy(
            UserName="backup", PolicyName="s3",
            PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}',
        )
        key = iam.create_access_key(UserName="backup")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset-auth", data=b"0", method="POST",
                                         headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def stop(self) -> None:
        self.server.stop()  # type: ignore[attr-defined]

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _client(self, service: str, access_key: str, secret_key: str, port: Optional[int] = None):
        import boto3
        from botocore.config import Config

        return boto3.client(
            service, endpoint_url=f"http://127.0.0.1:{port or self.port}", region_name="us-east-1",
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def client(self):
        return self._client("s3", self.access_key, self.secret_key)

    def bucket(self, lock: bool = True) -> str:
        name = f"offsite-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
        return name

    def env(self) -> dict[str, str]:
        """The environment a job gets for this server (credentials as AWS SDKs read them)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": "us-east-1"}


_S3: list[S3Server] = []


@pytest.fixture(scope="session")
def s3(request) -> S3Server:
    if not _S3:
        server = S3Server.start()
        _S3.append(server)
        request.config.add_cleanup(server.stop)
    return _S3[0]


# --- a connection that dies mid-stream ------------------------------------------------------------------------------
class CuttingProxy:
    """127.0.0.1:<port> -> 127.0.0.1:<upstream>; after `cut_after` bytes sent upstream (client to server), every
    connection is reset and new ones are closed at once (or, with `stall`, nothing more is forwarded). `cut_after=None`
    forwards everything."""

    def __init__(self, upstream: int, cut_after: Optional[int] = None, stall: bool = False):
        self.upstream = upstream
        self.cut_after = cut_after
        self.stall = stall
        self.sent = 0
        self.cut = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while not self.cut.is_set():
                data = source.recv(65536)
                if not data:
                    break
                if upstream and self.cut_after is not None:
                    with self._lock:
                        allowed = max(0, self.cut_after - self.sent)
                        self.sent += len(data)
                    if len(data) >= allowed:
                        if allowed:
                            sink.sendall(data[:allowed])
                        if self.stall:
                            self.cut.set()
                            return  # hold the connection open, forward nothing more
                        self._cut()
                        return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            if not (self.stall and self.cut.is_set()):
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)

    def _cut(self) -> None:
        self.cut.set()
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recv() on it (close() alone does not)
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._listener.close()
        self._cut()


@contextlib.contextmanager
def cutting_proxy(upstream: int, cut_after: Optional[int] = None, stall: bool = False) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(upstream, cut_after, stall)
    try:
        yield proxy
    finally:
        proxy.close()
