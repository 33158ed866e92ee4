"""Object stores a backup set is written to and read from: an Azure Blob container (the stack's backup container,
a tenant's filestore container, a drill's scratch container) and an S3-compatible bucket with object lock (offsite).

Every object is streamed: writers upload fixed-size blocks (Azure Put Block / Put Block List, S3 multipart parts)
from a bounded pool, readers fetch ranges ahead in parallel and yield them in order, so memory stays at about
`concurrency x block size` whatever the object's size. An object becomes visible only when its writer commits
(Put Block List, CompleteMultipartUpload): an interrupted upload leaves no object behind, only uncommitted blocks
(discarded by Azure after 7 days) or an aborted multipart upload.

Errors from either SDK become OpsError with the step, the object and a one-line reason.
"""
from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterator, Optional

from .errors import Cancelled, ImmutableRefusal, OpsError, first_line

MIB = 1024 * 1024
S3_MIN_PART = 5 * MIB
AZURE_IMMUTABLE_CODES = {"BlobImmutableDueToPolicy", "BlobImmutableDueToLegalHold", "ContainerImmutableDueToPolicy",
                         "ImmutabilityPolicyNotFound"}


class Transfer:
    """Block size, parallelism, retries and timeouts shared by every store of a job."""

    def __init__(self, block_size: int = 8 * MIB, concurrency: int = 4, retries: int = 3, timeout: float = 60.0):
        if block_size < 64 * 1024:
            raise ValueError("block size must be at least 64 KiB")
        self.block_size = block_size
        self.concurrency = max(1, concurrency)
        self.retries = max(0, retries)
        self.timeout = timeout


# --- the part both stores share -------------------------------------------------------------------------------------
class _Blocks:
    """Buffers written bytes into blocks and hands each to `send(index, block)` on a pool, at most `concurrency`
    in flight; the first failure is raised by the next write() or by finish()."""

    def __init__(self, pool: ThreadPoolExecutor, block_size: int, concurrency: int, send: Callable[[int, bytes], Any]):
        self._pool, self._size, self._send = pool, block_size, send
        self._slots = threading.BoundedSemaphore(concurrency)
        self._buffer = bytearray()
        self._futures: list[Future] = []
        self._count = 0
        self._aborted = False

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= self._size:
            block = bytes(self._buffer[: self._size])
            del self._buffer[: self._size]
            self._submit(block)

    def _submit(self, block: bytes) -> None:
        self._raise_failure()
        self._slots.acquire()
        if self._aborted:
            self._slots.release()
            raise Cancelled()
        index = self._count
        self._count += 1
        try:
            future = self._pool.submit(self._send, index, block)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)

    def _raise_failure(self) -> None:
        for future in self._futures:
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def finish(self, allow_empty_block: bool) -> list[Any]:
        """Send what is buffered (an empty last block only if nothing was sent and `allow_empty_block`), wait for all;
        the results in block order."""
        if self._buffer or (self._count == 0 and allow_empty_block):
            block = bytes(self._buffer)
            self._buffer.clear()
            self._submit(block)
        results = []
        for future in self._futures:
            results.append(future.result())
        return results

    def abort(self) -> None:
        self._aborted = True
        for future in self._futures:
            future.cancel()
        for future in self._futures:
            with contextlib.suppress(BaseException):
                future.result()


def _ranged(fetch: Callable[[int, int], bytes], size: int, block: int, pool: ThreadPoolExecutor, depth: int) -> Iterator[bytes]:
    """Yield an object's bytes in order, fetching up to `depth` ranges ahead."""
    offsets = iter(range(0, size, block))
    pending: collections.deque[Future] = collections.deque()

    def more() -> None:
        offset = next(offsets, None)
        if offset is not None:
            pending.append(pool.submit(fetch, offset, min(block, size - offset)))

    try:
        for _ in range(depth):
            more()
        while pending:
            data = pending.popleft().result()
            more()
            yield data
    finally:
        for future in pending:
            future.cancel()


class ObjectWriter:
    """Streams one object; nothing is visible until commit()."""

    key: str

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class Store:
    """One container or bucket. `label` names it in logs and errors (azure, s3, filestore, scratch)."""

    label: str
    transfer: Transfer

    def describe(self) -> str:
        raise NotImplementedError

    def check(self, step: str = "check-target", require_lock: bool = False, prefix: str = "") -> None:
        raise NotImplementedError

    def list(self, prefix: str = "") -> dict[str, int]:
        """Object name -> size, for every object whose name starts with `prefix`."""
        raise NotImplementedError

    def writer(self, key: str, retain_until: Optional[datetime.datetime] = None, content_type: Optional[str] = None) -> ObjectWriter:
        raise NotImplementedError

    def put(self, key: str, data: bytes, retain_until: Optional[datetime.datetime] = None, content_type: Optional[str] = None) -> None:
        raise NotImplementedError

    def read(self, key: str, size: int, step: str = "read") -> Iterator[bytes]:
        raise NotImplementedError

    def get(self, key: str, step: str = "read") -> bytes:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Delete the object for good (every version); ImmutableRefusal when the store refuses for immutability."""
        raise NotImplementedError

    def close(self) -> None:
        pass


# --- Azure Blob Storage ---------------------------------------------------------------------------------------------
def _azure_reason(error: BaseException) -> str:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(error, ServiceRequestError):
        return f"cannot reach the storage endpoint ({first_line(error)})"
    if isinstance(error, ServiceResponseError):
        return f"connection broken during the transfer ({first_line(error)})"
    if isinstance(error, ClientAuthenticationError) and getattr(error, "status_code", None) is None:
        return f"no credential could be obtained ({first_line(error)})"
    if isinstance(error, HttpResponseError):
        status, code = error.status_code, getattr(error, "error_code", None)
        code_text = str(code.value if hasattr(code, "value") else code) if code else ""  # type: ignore[union-attr]
        if status == 403:
            return f"access denied ({code_text or 403}): wrong credentials, or no data-plane role on this container"
        if status == 404:
            if code_text == "ContainerNotFound":
                return "the container does not exist"
            return f"not found ({code_text or 404})"
        return f"{status} {code_text}: {first_line(error)}"
    return first_line(error)


class AzureStore(Store):
    def __init__(self, container_client: Any, label: str, transfer: Transfer):
        self.client = container_client
        self.label = label
        self.transfer = transfer
        self._pool = ThreadPoolExecutor(max_workers=transfer.concurrency * 2, thread_name_prefix=f"{label}-io")

    @classmethod
    def connect(cls, label: str, container: str, transfer: Transfer, account_url: Optional[str] = None,
                connection_string: Optional[str] = None, credential: Any = None) -> "AzureStore":
        """A connection string (shared key: Azurite, tests) or an account URL with a token credential (in Azure, the
        job's workload identity through DefaultAzureCredential)."""
        from azure.storage.blob import BlobServiceClient

        options: dict[str, Any] = dict(retry_total=transfer.retries, retry_backoff_factor=0.4, connection_timeout=transfer.timeout,
                       read_timeout=transfer.timeout, max_single_get_size=transfer.block_size,
                       max_chunk_get_size=transfer.block_size)
        try:
            if connection_string:
                service = BlobServiceClient.from_connection_string(connection_string, **options)
            elif account_url:
                if credential is None:
                    from azure.identity import DefaultAzureCredential

                    credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
                service = BlobServiceClient(account_url, credential=credential, **options)
            else:
                raise OpsError("configure", f"{label}: give an account URL or a connection string", target=label, exit_code=2)
        except (ValueError, TypeError) as error:
            raise OpsError("configure", f"{label}: invalid account URL or connection string ({first_line(error)})", target=label, exit_code=2) from None
        return cls(service.get_container_client(container), label, transfer)

    def describe(self) -> str:
        return f"{self.client.url}"

    @contextlib.contextmanager
    def _errors(self, step: str, key: Optional[str]):
        try:
            yield
        except (OpsError, Cancelled, ImmutableRefusal):
            raise
        except Exception as error:  # noqa: BLE001 - every SDK error becomes one line
            raise OpsError(step, _azure_reason(error), obj=key or self.client.container_name, target=self.label) from None

    def check(self, step: str = "check-target", require_lock: bool = False, prefix: str = "") -> None:
        """List one page under `prefix`: what the job itself needs to be allowed (a role scoped to the tenant's prefix
        may not read the container's properties); a missing container or a refused credential shows here."""
        with self._errors(step, self.client.container_name):
            next(iter(self.client.list_blobs(name_starts_with=prefix or None, results_per_page=1).by_page()), None)

    def list(self, prefix: str = "") -> dict[str, int]:
        with self._errors("list", prefix or self.client.container_name):
            return {blob.name: int(blob.size) for blob in self.client.list_blobs(name_starts_with=prefix or None)}

    def writer(self, key: str, retain_until: Optional[datetime.datetime] = None, content_type: Optional[str] = None) -> ObjectWriter:
        return _AzureWriter(self, key, content_type)

    def put(self, key: str, data: bytes, retain_until: Optional[datetime.datetime] = None, content_type: Optional[str] = None) -> None:
        from azure.storage.blob import ContentSettings

        with self._errors("upload", key):
            self.client.get_blob_client(key).upload_blob(
                data, overwrite=False, length=len(data), content_settings=ContentSettings(content_type=content_type) if content_type else None
            )

    def read(self, key: str, size: int, step: str = "read") -> Iterator[bytes]:
        blob = self.client.get_blob_client(key)

        def fetch(offset: int, length: int) -> bytes:
            with self._errors(step, key):
                return blob.download_blob(offset=offset, length=length).readall()

        return _ranged(fetch, size, self.transfer.block_size, self._pool, self.transfer.concurrency)

    def get(self, key: str, step: str = "read") -> bytes:
        with self._errors(step, key):
            return self.client.get_blob_client(key).download_blob().readall()

    def delete(self, key: str) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            self.client.get_blob_client(key).delete_blob(delete_snapshots="include")
        except ResourceNotFoundError:
            return
        except HttpResponseError as error:
            raw = getattr(error, "error_code", None)
            code = str(getattr(raw, "value", raw) or "")
            if code in AZURE_IMMUTABLE_CODES or (error.status_code == 409 and "immutab" in str(error).lower()):
                raise ImmutableRefusal(f"{code or error.status_code}: {first_line(error)}") from None
            raise OpsError("delete", _azure_reason(error), obj=key, target=self.label) from None
        except Exception as error:  # noqa: BLE001
            raise OpsError("delete", _azure_reason(error), obj=key, target=self.label) from None

    def delete_container(self) -> None:
        with self._errors("drop-scratch-container", self.client.container_name):
            self.client.delete_container()

    def create_container(self, step: str) -> None:
        with self._errors(step, self.client.container_name):
            self.client.create_container()

    def empty(self, step: str) -> int:
        """Delete every blob of the container (a scratch container kept between drills); returns how many."""
        with self._errors(step, self.client.container_name):
            names = [b.name for b in self.client.list_blobs()]
            for i in range(0, len(names), 256):
                self.client.delete_blobs(*names[i:i + 256], delete_snapshots="include")
        return len(names)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self.client.close()


class _AzureWriter(ObjectWriter):
    def __init__(self, store: AzureStore, key: str, content_type: Optional[str]):
        self.store, self.key, self.content_type = store, key, content_type
        self.blob = store.client.get_blob_client(key)
        self.blocks = _Blocks(store._pool, store.transfer.block_size, store.transfer.concurrency, self._stage)

    def _stage(self, index: int, block: bytes) -> str:
        block_id = base64.b64encode(f"{index:08d}".encode()).decode()
        with self.store._errors("upload", self.key):
            self.blob.stage_block(block_id, block, length=len(block))
        return block_id

    def write(self, data: bytes) -> None:
        self.blocks.write(data)

    def commit(self) -> None:
        from azure.core import MatchConditions
        from azure.storage.blob import BlobBlock, ContentSettings

        ids = self.blocks.finish(allow_empty_block=False)
        with self.store._errors("upload", self.key):
            # If-None-Match: * : a backup object is written once, never over an existing one.
            self.blob.commit_block_list(
                [BlobBlock(block_id=i) for i in ids], match_condition=MatchConditions.IfMissing,
                content_settings=ContentSettings(content_type=self.content_type) if self.content_type else None,
            )

    def abort(self) -> None:
        self.blocks.abort()  # staged blocks never committed are discarded by the service


# --- S3 with object lock ------------------------------------------------------------------------------------------
def _s3_reason(error: BaseException) -> str:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        code = str(info.get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken") or (status == 403 and code in ("403", "AccessDenied")):
            return f"access denied ({code}): wrong credentials, or no rights on this bucket"
        if code in ("NoSuchBucket", "404") and status == 404:
            return "the bucket does not exist"
        if code == "ObjectLockConfigurationNotFoundError":
            return "the bucket has no object lock: offsite copies must be immutable (create it with object lock enabled)"
        return f"{status} {code}: {info.get('Message', first_line(error))}"
    if isinstance(error, EndpointConnectionError):
        return f"cannot reach the S3 endpoint ({first_line(error)})"
    if isinstance(error, NoCredentialsError):
        return "no S3 credentials (set the access key files or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
    return first_line(error)


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


class S3Store(Store):
    def __init__(self, client: Any, bucket: str, label: str, transfer: Transfer, lock_mode: str = "COMPLIANCE", endpoint: str = ""):
        self.client, self.bucket, self.label, self.transfer = client, bucket, label, transfer
        self.lock_mode = lock_mode
        self.endpoint = endpoint
        self._pool = ThreadPoolExecutor(max_workers=transfer.concurrency * 2, thread_name_prefix=f"{label}-io")

    @classmethod
    def connect(cls, bucket: str, transfer: Transfer, endpoint_url: Optional[str] = None, region: Optional[str] = None,
                access_key_id: Optional[str] = None, secret_access_key: Optional[str] = None, lock_mode: str = "COMPLIANCE",
                label: str = "s3") -> "S3Store":
        import boto3
        from botocore.config import Config

        config = Config(
            retries={"max_attempts": transfer.retries + 1, "mode": "standard"}, connect_timeout=transfer.timeout,
            read_timeout=transfer.timeout, s3={"addressing_style": "path"}, max_pool_connections=transfer.concurrency * 2 + 2,
        )
        client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or "us-east-1", config=config,
                                aws_access_key_id=access_key_id or None, aws_secret_access_key=secret_access_key or None)
        return cls(client, bucket, label, transfer, lock_mode, endpoint_url or "s3")

    def describe(self) -> str:
        return f"{self.endpoint}/{self.bucket}"

    @contextlib.contextmanager
    def _errors(self, step: str, key: Optional[str]):
        try:
            yield
        except (OpsError, Cancelled, ImmutableRefusal):
            raise
        except Exception as error:  # noqa: BLE001
            raise OpsError(step, _s3_reason(error), obj=key or self.bucket, target=self.label) from None

    def check(self, step: str = "check-target", require_lock: bool = False, prefix: str = "") -> None:
        with self._errors(step, self.bucket):
            self.client.head_bucket(Bucket=self.bucket)
            if require_lock:
                config = self.client.get_object_lock_configuration(Bucket=self.bucket).get("ObjectLockConfiguration", {})
                if config.get("ObjectLockEnabled") != "Enabled":
                    raise OpsError(step, "the bucket has no object lock: offsite copies must be immutable", obj=self.bucket, target=self.label)

    def list(self, prefix: str = "") -> dict[str, int]:
        found: dict[str, int] = {}
        with self._errors("list", prefix or self.bucket):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found[item["Key"]] = int(item["Size"])
        return found

    def _lock_args(self, retain_until: Optional[datetime.datetime]) -> dict[str, Any]:
        if retain_until is None:
            return {}
        return {"ObjectLockMode": self.lock_mode, "ObjectLockRetainUntilDate": retain_until}

    def ensure_retention(self, key: str, version_id: Optional[str], retain_until: Optional[datetime.datetime]) -> None:
        """Object lock on the committed version: some stores ignore the lock headers of a multipart upload, so read it
        back and set it (PutObjectRetention) when missing or shorter."""
        if retain_until is None:
            return
        version = {"VersionId": version_id} if version_id else {}
        with self._errors("lock", key):
            head = self.client.head_object(Bucket=self.bucket, Key=key, **version)
            current = head.get("ObjectLockRetainUntilDate")
            if head.get("ObjectLockMode") != self.lock_mode or current is None or current < retain_until:
                self.client.put_object_retention(Bucket=self.bucket, Key=key, **version,
                                                 Retention={"Mode": self.lock_mode, "RetainUntilDate": retain_until})

    def writer(self, key: str, retain_until: Optional[datetime.datetime] = None, content_type: Optional[str] = None) -> ObjectWriter:
        return _S3Writer(self, key, retain_until, content_type)

    def put(self, key: str, data: bytes, retain_until: Optional[datetime.datetime] = None, content_type: Optional[str] = None) -> None:
        with self._errors("upload", key):
            response = self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentMD5=_md5(data),
                                              ContentType=content_type or "application/octet-stream", **self._lock_args(retain_until))
        self.ensure_retention(key, response.get("VersionId"), retain_until)

    def read(self, key: str, size: int, step: str = "read") -> Iterator[bytes]:
        def fetch(offset: int, length: int) -> bytes:
            with self._errors(step, key):
                body = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}")["Body"]
                return body.read()

        return _ranged(fetch, size, self.transfer.block_size, self._pool, self.transfer.concurrency)

    def get(self, key: str, step: str = "read") -> bytes:
        with self._errors(step, key):
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def delete(self, key: str) -> None:
        """Every version and delete marker of `key`: under object lock a plain DELETE only adds a delete marker."""
        from botocore.exceptions import ClientError

        with self._errors("delete", key):
            versions: list[dict] = []
            for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=key):
                versions += [v for v in page.get("Versions", []) + page.get("DeleteMarkers", []) if v["Key"] == key]
        for version in versions:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version["VersionId"])
            except ClientError as error:
                info = error.response.get("Error", {})
                if info.get("Code") in ("AccessDenied", "InvalidRequest") and error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (400, 403):
                    raise ImmutableRefusal(f"{info.get('Code')}: {info.get('Message', '')} (version {version['VersionId']} under object lock)") from None
                raise OpsError("delete", _s3_reason(error), obj=key, target=self.label) from None
            except Exception as error:  # noqa: BLE001
                raise OpsError("delete", _s3_reason(error), obj=key, target=self.label) from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _S3Writer(ObjectWriter):
    def __init__(self, store: S3Store, key: str, retain_until: Optional[datetime.datetime], content_type: Optional[str]):
        self.store, self.key, self.retain_until, self.content_type = store, key, retain_until, content_type
        self.upload_id: Optional[str] = None
        self._start_lock = threading.Lock()
        self.blocks = _Blocks(store._pool, max(store.transfer.block_size, S3_MIN_PART), store.transfer.concurrency, self._part)

    def _start(self) -> str:
        with self._start_lock:
            if self.upload_id is None:
                with self.store._errors("upload", self.key):
                    self.upload_id = self.store.client.create_multipart_upload(
                        Bucket=self.store.bucket, Key=self.key, ContentType=self.content_type or "application/octet-stream",
                        **self.store._lock_args(self.retain_until),
                    )["UploadId"]
            return self.upload_id  # type: ignore[return-value]

    def _part(self, index: int, block: bytes) -> dict:
        upload_id = self._start()
        with self.store._errors("upload", self.key):
            response = self.store.client.upload_part(Bucket=self.store.bucket, Key=self.key, UploadId=upload_id,
                                                     PartNumber=index + 1, Body=block, ContentMD5=_md5(block))
        return {"PartNumber": index + 1, "ETag": response["ETag"]}

    def write(self, data: bytes) -> None:
        self.blocks.write(data)

    def commit(self) -> None:
        parts = self.blocks.finish(allow_empty_block=True)
        with self.store._errors("upload", self.key):
            response = self.store.client.complete_multipart_upload(
                Bucket=self.store.bucket, Key=self.key, UploadId=self._start(), MultipartUpload={"Parts": parts}
            )
        self.store.ensure_retention(self.key, response.get("VersionId"), self.retain_until)

    def abort(self) -> None:
        self.blocks.abort()
        if self.upload_id:
            with contextlib.suppress(Exception):
                self.store.client.abort_multipart_upload(Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id)
