"""Streaming helpers: one producer written to several stores at once with its SHA-256 computed on the way, chunk
iterators hashed as they are consumed, a file-like view of chunks (for tarfile), parallel tasks that stop together."""
from __future__ import annotations

import collections
import datetime
import hashlib
import io
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar

from .errors import Cancelled, OpsError
from .log import Progress
from .targets import ObjectWriter, Store

T = TypeVar("T")
R = TypeVar("R")


class FanOut:
    """Writes one object to every store; the SHA-256 and size are of the bytes actually written. Nothing becomes
    visible until commit(), which commits on each store in order."""

    def __init__(self, stores: list[Store], key: str, progress: Progress, cancel: threading.Event,
                 retain_until: Optional[datetime.datetime] = None, content_type: Optional[str] = None):
        self.key = key
        self.progress = progress
        self.cancel = cancel
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.writers: list[tuple[Store, ObjectWriter]] = [(s, s.writer(key, retain_until, content_type)) for s in stores]
        self.committed: list[Store] = []

    def write(self, data: bytes) -> None:
        if self.cancel.is_set():
            raise Cancelled()
        self.sha256.update(data)
        self.size += len(data)
        for _, writer in self.writers:
            writer.write(data)
        self.progress.add(len(data))

    def commit(self) -> dict[str, Any]:
        for store, writer in self.writers:
            writer.commit()
            self.committed.append(store)
        self.progress.done()
        return {"size": self.size, "sha256": self.sha256.hexdigest()}

    def abort(self) -> None:
        for store, writer in self.writers:
            if store not in self.committed:
                writer.abort()


class Hashed:
    """Iterates chunks, counting and hashing them (the check happens after the last chunk, by the caller)."""

    def __init__(self, chunks: Iterable[bytes], progress: Optional[Progress] = None):
        self._chunks = chunks
        self.progress = progress
        self.sha256 = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for data in self._chunks:
            self.sha256.update(data)
            self.size += len(data)
            if self.progress:
                self.progress.add(len(data))
            yield data

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


class ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (tarfile's stream mode reads from it)."""

    def __init__(self, chunks: Iterable[bytes]):
        super().__init__()
        self._chunks = iter(chunks)
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            data = next(self._chunks, None)
            if data is None:
                return 0
            self._buffer = memoryview(data)
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def drain(self) -> None:
        """Read what is left (so a hashing iterator sees every byte, such as a tar's trailing padding)."""
        self._buffer = memoryview(b"")
        for _ in self._chunks:
            pass


def prefetch(items: Iterable[T], fetch: Callable[[T], R], pool: ThreadPoolExecutor, depth: int) -> Iterator[tuple[T, R]]:
    """(item, fetch(item)) in the items' order, with up to `depth` fetches running ahead."""
    source = iter(items)
    pending: collections.deque[tuple[T, Future]] = collections.deque()

    def more() -> None:
        for item in source:
            pending.append((item, pool.submit(fetch, item)))
            return

    try:
        for _ in range(depth):
            more()
        while pending:
            item, future = pending.popleft()
            result = future.result()
            more()
            yield item, result
    finally:
        for _, future in pending:
            future.cancel()


def run_parallel(tasks: dict[str, Callable[[threading.Event], Any]]) -> dict[str, Any]:
    """Run each task in its own thread with a shared cancel event; the first failure cancels the others and is
    raised once they have stopped (an OpsError in preference to the Cancelled of the tasks it stopped)."""
    cancel = threading.Event()
    results: dict[str, Any] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(name: str, task: Callable[[threading.Event], Any]) -> None:
        try:
            results[name] = task(cancel)
        except BaseException as error:  # noqa: BLE001 - handed to the caller below
            with lock:
                errors.append(error)
            cancel.set()

    threads = [threading.Thread(target=run, args=(name, task), name=f"task-{name}", daemon=True) for name, task in tasks.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        real = [e for e in errors if not isinstance(e, Cancelled)]
        ops = [e for e in real if isinstance(e, OpsError)]
        raise (ops or real or errors)[0]
    return results
