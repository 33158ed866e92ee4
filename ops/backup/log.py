"""JSON log lines on stderr (one object a line, as the cluster's log pipeline reads them) and progress of long
transfers (bytes, MB/s), rate-limited to one line per interval and object."""
from __future__ import annotations

import datetime
import json
import sys
import threading
import time
from typing import IO, Any, Optional

MB = 1024 * 1024


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Log:
    def __init__(self, stream: Optional[IO[str]] = None, progress_interval: float = 5.0, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.progress_interval = progress_interval
        self.quiet = quiet
        self._lock = threading.Lock()

    def emit(self, level: str, event: str, **fields: Any) -> None:
        if self.quiet and level in ("debug", "progress"):
            return
        record = {"ts": iso(utc_now()), "level": level, "event": event, **{k: v for k, v in fields.items() if v is not None}}
        line = json.dumps(record, default=str, separators=(",", ":"))
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def info(self, event: str, **fields: Any) -> None:
        self.emit("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.emit("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.emit("error", event, **fields)

    def progress(self, step: str, obj: str, total: Optional[int] = None) -> "Progress":
        return Progress(self, step, obj, total)


class Progress:
    """Counts bytes of one transfer; logs {"event": "progress", bytes, mb_s} every `interval` seconds and once at the end."""

    def __init__(self, log: Log, step: str, obj: str, total: Optional[int] = None):
        self.log, self.step, self.obj, self.total = log, step, obj, total
        self.bytes = 0
        self.started = time.monotonic()
        self._last = self.started
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes += n
            now = time.monotonic()
            due = now - self._last >= self.log.progress_interval
            if due:
                self._last = now
        if due:
            self._emit("progress")

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def mb_s(self) -> float:
        return self.bytes / MB / self.elapsed

    def done(self) -> None:
        self._emit("done")

    def _emit(self, state: str) -> None:
        self.log.emit(
            "progress", "progress", step=self.step, object=self.obj, state=state, bytes=self.bytes, total=self.total,
            mb=round(self.bytes / MB, 2), elapsed_s=round(self.elapsed, 3), mb_s=round(self.mb_s, 2),
        )
