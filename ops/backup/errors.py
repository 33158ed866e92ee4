"""Faults the CLI reports as one line (the step, the object, why) and the process exit codes."""
from __future__ import annotations

from typing import Optional

EXIT_OK = 0
EXIT_FAILED = 1  # the job ran and found a problem: verify found a bad object, a drill failed a check or missed a target
EXIT_USAGE = 2  # bad flags or configuration (argparse's own code)
EXIT_FAULT = 3  # the job could not do its work: a target unreachable, wrong credentials, a dump or upload that broke


class OpsError(Exception):
    """A fault with enough context for one clear line: `step` (what the job was doing), `obj` (the object,
    database or container concerned), `target` (azure, s3, database, ...)."""

    def __init__(self, step: str, message: str, obj: Optional[str] = None, target: Optional[str] = None,
                 exit_code: int = EXIT_FAULT):
        super().__init__(message)
        self.step = step
        self.message = message
        self.obj = obj
        self.target = target
        self.exit_code = exit_code

    def line(self) -> str:
        where = f" [{self.target}]" if self.target else ""
        what = f" {self.obj}:" if self.obj else ""
        return f"{self.step}{where}:{what} {self.message}"

    def fields(self) -> dict:
        return {"step": self.step, "object": self.obj, "target": self.target, "error": self.message}


class Cancelled(Exception):
    """Another part of the same job failed: stop quietly, its error is the one reported."""


class ImmutableRefusal(Exception):
    """The store refused a delete because the object is still under an immutability policy or object lock."""


def first_line(error: BaseException, limit: int = 300) -> str:
    text = str(error).strip() or type(error).__name__
    line = text.splitlines()[0].strip()
    return line if len(line) <= limit else line[: limit - 3] + "..."
