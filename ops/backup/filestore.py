"""The filestore: every blob of the tenant's attachment container (where attachment_azure writes) as ONE tar stream
(POSIX pax format; the blob's name is the member's name, its content type a pax record), so a set has a fixed
number of objects whatever the number of attachments, and one SHA-256 covers them all. Blobs are fetched ahead in
parallel; a sample of them (evenly spread over the sorted names) gets its own SHA-256 in the manifest, which the drill
checks on the copy it restored.
"""
from __future__ import annotations

import hashlib
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

from .errors import Cancelled, OpsError, first_line
from .log import Log
from .stream import ChunkReader, prefetch
from .targets import AzureStore

BLOCK = tarfile.BLOCKSIZE
CONTENT_TYPE = "ODOOPLATFORM.content_type"


def sample_indices(n: int, k: int) -> set[int]:
    if n <= 0 or k <= 0:
        return set()
    if k >= n:
        return set(range(n))
    return {i * n // k for i in range(k)}


def write_tar(source: AzureStore, out: Callable[[bytes], None], cancel: threading.Event, log: Log, sample: int = 20) -> dict[str, Any]:
    """Stream the container's blobs as a tar to `out`; returns the manifest's filestore section."""
    try:
        blobs = sorted(source.client.list_blobs(), key=lambda b: b.name)
    except Exception as error:  # noqa: BLE001
        raise OpsError("list-filestore", first_line(error), obj=source.client.container_name, target=source.label) from None
    picked = sample_indices(len(blobs), sample)
    block = source.transfer.block_size
    pool = ThreadPoolExecutor(max_workers=source.transfer.concurrency * 2, thread_name_prefix="filestore-get")
    records: list[dict[str, Any]] = []
    skipped: list[str] = []
    total = 0

    def fetch(item: tuple[int, Any]) -> Optional[bytes]:
        _, blob = item
        if cancel.is_set() or int(blob.size) > block:
            return None  # large blobs are streamed in order below
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return source.client.get_blob_client(blob.name).download_blob().readall()
        except ResourceNotFoundError:
            return b"\x00missing"
        except Exception as error:  # noqa: BLE001
            raise OpsError("read-filestore", first_line(error), obj=blob.name, target=source.label) from None

    try:
        for (index, blob), data in prefetch(enumerate(blobs), fetch, pool, source.transfer.concurrency * 4):
            if cancel.is_set():
                raise Cancelled()
            size = int(blob.size)
            if data == b"\x00missing":
                skipped.append(blob.name)  # deleted since the listing: Odoo's garbage collection of unreferenced files
                log.warning("filestore-blob-gone", object=blob.name)
                continue
            if data is not None:
                size = len(data)
            info = tarfile.TarInfo(blob.name)
            info.size = size
            info.mode = 0o644
            info.mtime = int(blob.last_modified.timestamp()) if blob.last_modified else 0
            content_type = getattr(getattr(blob, "content_settings", None), "content_type", None)
            if content_type:
                info.pax_headers = {CONTENT_TYPE: content_type}
            out(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
            digest = hashlib.sha256() if index in picked else None
            written = 0
            chunks = [data] if data is not None else source.read(blob.name, size, step="read-filestore")
            for chunk in chunks:
                if digest:
                    digest.update(chunk)
                written += len(chunk)
                out(chunk)
            if written != size:
                raise OpsError("read-filestore", f"blob changed while being copied ({written} of {size} bytes)", obj=blob.name, target=source.label)
            if size % BLOCK:
                out(b"\0" * (BLOCK - size % BLOCK))
            total += size
            if digest:
                records.append({"name": blob.name, "size": size, "sha256": digest.hexdigest()})
        out(b"\0" * (2 * BLOCK))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return {"container": source.client.container_name, "blobs": len(blobs) - len(skipped), "bytes": total,
            "sample": records, "skipped": skipped}


def restore_tar(chunks: Any, scratch: AzureStore, cancel: threading.Event) -> dict[str, Any]:
    """Unpack a filestore tar stream into the scratch container; returns {"blobs", "blob_bytes", "names"}."""
    from azure.storage.blob import ContentSettings

    block = scratch.transfer.block_size
    pool = ThreadPoolExecutor(max_workers=scratch.transfer.concurrency * 2, thread_name_prefix="scratch-put")
    slots = threading.BoundedSemaphore(scratch.transfer.concurrency * 4)
    futures = []
    names: set[str] = set()
    total = 0

    def put(name: str, data: bytes, content_type: Optional[str]) -> None:
        try:
            scratch.client.get_blob_client(name).upload_blob(
                data, overwrite=True, length=len(data), content_settings=ContentSettings(content_type=content_type) if content_type else None
            )
        except Exception as error:  # noqa: BLE001
            raise OpsError("write-scratch", first_line(error), obj=name, target=scratch.label) from None
        finally:
            slots.release()

    reader = ChunkReader(chunks)
    try:
        with tarfile.open(fileobj=reader, mode="r|") as archive:  # type: ignore[call-overload]
            for member in archive:
                if cancel.is_set():
                    raise Cancelled()
                for future in futures:
                    if future.done() and future.exception():
                        raise future.exception()
                if not member.isreg():
                    continue
                content_type = member.pax_headers.get(CONTENT_TYPE)
                handle = archive.extractfile(member)
                assert handle is not None
                if member.size <= block:
                    data = handle.read()
                    slots.acquire()
                    futures.append(pool.submit(put, member.name, data, content_type))
                else:
                    writer = scratch.writer(member.name, content_type=content_type)
                    try:
                        while True:
                            data = handle.read(block)
                            if not data:
                                break
                            writer.write(data)
                        writer.commit()
                    except BaseException:
                        writer.abort()
                        raise
                names.add(member.name)
                total += member.size
        reader.drain()
        for future in futures:
            future.result()
    except tarfile.TarError as error:
        raise OpsError("restore-filestore", f"the tar stream is damaged: {first_line(error)}", obj="filestore.tar", target=scratch.label) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return {"blobs": len(names), "blob_bytes": total, "names": names}
