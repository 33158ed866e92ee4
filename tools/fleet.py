"""Fleet operations: one command over every stack of the project (what pulumi/pulumi#9257 asks the CLI for).

    python -m tools.fleet preview|up [--stacks GLOB] [--parallel N] [--json FILE] [--root DIR] [--plans DIR]

Every `Pulumi.<stack>.yaml` in the root whose stack matches GLOB runs in a child process of its own, at most N at a
time (default: the number of cores): `preview` is the offline preview with the policy pack (tools/preview.py, plan
file in build/plan-<stack>.json), `up` is the real `pulumi up --policy-pack policies` through the Automation API.
A child reports JSON events on its stdout; this process draws one progress line per stack (redrawn on a terminal,
one line per event otherwise, for CI logs), then a summary table, and exits non-zero if any stack failed. A failing
stack does not stop the others. Ctrl-C (or SIGTERM) interrupts every child's process group, which also reaches the
policy pack and the Pulumi CLI, waits for them, and exits 130.
"""
import argparse
import fnmatch
import io
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Callable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPERATIONS = ("preview", "up")
INTERRUPTED = 130
# How long an interrupted child may take to stop before it is killed: `pulumi up` finishes its in-flight
# operations on the first SIGINT (https://www.pulumi.com/docs/iac/cli/commands/pulumi_cancel/), a preview has nothing to save.
GRACE_S = {"preview": 10.0, "up": 120.0}
PLAIN_PROGRESS_EVERY_S = 15.0


@dataclass
class StackResult:
    """One row of the summary. None where the step never got that far (e.g. bad config: no resources)."""

    stack: str
    exit: Optional[int] = None
    resources: Optional[int] = None
    changes: Optional[dict[str, int]] = None
    mandatory: Optional[int] = None
    advisory: Optional[int] = None
    findings: Optional[int] = None
    duration_s: float = 0.0
    error: Optional[str] = None
    errors: list[str] = field(default_factory=list)


def discover(root: str, pattern: str) -> list[str]:
    """Stacks with a `Pulumi.<stack>.yaml` in `root` whose name matches the glob `pattern`, sorted."""
    names = []
    for entry in os.listdir(root):
        if entry.startswith("Pulumi.") and entry.endswith(".yaml") and entry.count(".") >= 2:
            stack = entry[len("Pulumi.") : -len(".yaml")]
            if fnmatch.fnmatchcase(stack, pattern):
                names.append(stack)
    return sorted(names)


def error_summary(lines: list[str]) -> Optional[str]:
    """The first problem, and how many more there are, on one line."""
    if not lines:
        return None
    more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
    return f"{lines[0]}{more}"


# --- children ---------------------------------------------------------------------------------------------


class Emitter:
    """A child's JSON event stream; progress at most every `every_s` so a big stack does not flood the pipe."""

    def __init__(self, out: IO[str], noun: str, every_s: float = 0.5):
        self.out, self.noun, self.every_s, self._last, self.count = out, noun, every_s, 0.0, 0

    def emit(self, **event: Any) -> None:
        self.out.write(json.dumps(event) + "\n")
        self.out.flush()

    def registered(self, _resource: Any) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.emit(progress=f"{self.count} {self.noun}")


def error_lines(text: str) -> list[str]:
    """The `error: ...` lines of a command's output, without the prefix; else its last non-empty line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line.split("error: ", 1)[1] for line in lines if "error: " in line]
    return errors or lines[-1:]


def child_preview(stack: str, root: str, plans: str, policy_config: Optional[str], events: Emitter) -> StackResult:
    """The offline preview of one stack, as `python -m tools.preview` runs it, and its plan file's figures."""
    from . import preview

    plan_path = os.path.join(plans, f"plan-{stack}.json")
    if os.path.exists(plan_path):
        os.remove(plan_path)  # a failed run must not leave last run's plan looking current
    argv = [stack, "--quiet", "--json", plan_path]
    if os.path.abspath(root) != ROOT:
        argv += ["--config", os.path.join(root, f"Pulumi.{stack}.yaml")]
    if policy_config:
        argv += ["--policy-config", policy_config]
    out, err = io.StringIO(), io.StringIO()
    events.emit(progress="running")
    with redirect_stdout(out), redirect_stderr(err):
        try:
            status = preview.main(argv, on_register=events.registered)
        except Exception as e:  # the program itself failed: report it on one line like any other failure
            print(f"error: {type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}", file=sys.stderr)
            status = 1
    result = StackResult(stack, exit=status, errors=error_lines(err.getvalue()) if status else [])
    if os.path.exists(plan_path):
        with open(plan_path, encoding="utf-8") as f:
            plan = json.load(f)
        violations = plan["policy"]["violations"]
        result.resources = plan["summary"]["resources"]
        result.changes = {"create": result.resources}  # offline: no state, every resource is a create
        result.mandatory = sum(1 for v in violations if v["level"] == "mandatory")
        result.advisory = len(violations) - result.mandatory
        result.findings = len(plan["deploymentRules"]["findings"])
        if status and not result.errors:  # the preview ran through: what failed it is in the plan
            result.errors = [f"{result.mandatory} mandatory policy violations, {result.findings} deployment-rule findings"]
    if status and not result.errors:
        result.errors = error_lines(out.getvalue()) or [f"preview exited {status}"]
    return result


class UpEvents:
    """Counts what the engine reports during `pulumi up`: resource steps, policy violations, errors, the summary."""

    def __init__(self, events: Emitter):
        self.events = events
        self.policy: dict[str, int] = {"mandatory": 0, "advisory": 0}
        self.errors: list[str] = []
        self.changes: Optional[dict[str, int]] = None

    def __call__(self, event: Any) -> None:
        if event.resource_pre_event is not None:
            self.events.registered(None)
        elif event.policy_event is not None:
            level = event.policy_event.enforcement_level
            self.policy[level] = self.policy.get(level, 0) + 1
        elif event.diagnostic_event is not None and event.diagnostic_event.severity == "error":
            self.errors.extend(line.strip() for line in event.diagnostic_event.message.splitlines()[:1] if line.strip())
        elif event.summary_event is not None:
            self.changes = dict(event.summary_event.resource_changes or {})


def child_up(stack: str, root: str, events: Emitter) -> StackResult:
    """`pulumi up --policy-pack policies` of one stack through the Automation API (the CLI must be on PATH)."""
    from pulumi import automation as auto

    seen = UpEvents(events)
    result = StackResult(stack)
    # The fleet interrupts the whole process group: the CLI gets the SIGINT and cancels gracefully; this process
    # keeps waiting for it (a Python handler, unlike SIG_IGN, is not inherited by the CLI).
    signal.signal(signal.SIGINT, lambda *_: events.emit(progress="interrupted: waiting for the CLI to cancel"))
    try:
        events.emit(progress="selecting stack")
        selected = auto.select_stack(stack_name=stack, work_dir=root)
        events.emit(progress="up")
        outcome = selected.up(policy_packs=["policies"], on_event=seen, color="never", suppress_progress=True)
        result.exit = 0
        seen.changes = seen.changes or dict(outcome.summary.resource_changes or {})
    except auto.CommandError as e:
        result.exit = 1
        result.errors = seen.errors or error_lines(str(e))
    except Exception as e:  # e.g. no CLI on PATH: one line, like every other failure
        result.exit = 1
        result.errors = [f"{type(e).__name__}: {e}"]
    if seen.changes is not None:
        result.resources = sum(seen.changes.values())
        result.changes = {op: n for op, n in seen.changes.items() if op != "same"}
    result.mandatory, result.advisory = seen.policy.get("mandatory", 0), seen.policy.get("advisory", 0)
    return result


def run_child(operation: str, stack: str, root: str, plans: str, policy_config: Optional[str]) -> int:
    events = Emitter(sys.stdout, "resources registered" if operation == "preview" else "resource steps")
    if operation == "preview":
        result = child_preview(stack, root, plans, policy_config, events)
    else:
        result = child_up(stack, root, events)
    result.error = error_summary(result.errors)
    events.emit(result=asdict(result))
    return 0


# --- the parent --------------------------------------------------------------------------------------------


@dataclass
class Job:
    stack: str
    process: Optional[subprocess.Popen] = None
    started: float = 0.0
    ended: Optional[float] = None
    state: str = "queued"
    progress: str = ""
    result: Optional[StackResult] = None
    stderr: list[str] = field(default_factory=list)
    _last_plain: float = 0.0

    def elapsed(self) -> float:
        return ((self.ended or time.monotonic()) - self.started) if self.started else 0.0

    def line(self, width: int) -> str:
        if self.result is not None:
            r = self.result
            what = f"{r.resources} resources, exit {r.exit}" if r.resources is not None else f"exit {r.exit}"
            tail = f": {r.error}" if r.error else ""
            return f"{self.stack:<{width}}  {self.state:<11} {self.elapsed():6.1f}s  {what}{tail}"
        return f"{self.stack:<{width}}  {self.state:<11} {self.elapsed():6.1f}s  {self.progress}"


def _read(job: Job, stream: IO[str], kind: str, inbox: "queue.Queue[tuple[Job, str, Optional[str]]]") -> None:
    for line in stream:
        inbox.put((job, kind, line.rstrip("\n")))
    inbox.put((job, kind, None))


class Fleet:
    def __init__(self, operation: str, stacks: list[str], parallel: int, root: str, plans: str,
                 policy_config: Optional[str], out: IO[str], tty: bool):
        self.operation, self.parallel, self.root, self.plans, self.policy_config = operation, parallel, root, plans, policy_config
        self.jobs = [Job(s) for s in stacks]
        self.out, self.tty = out, tty
        self.inbox: "queue.Queue[tuple[Job, str, Optional[str]]]" = queue.Queue()
        self.width = max((len(s) for s in stacks), default=5)
        self._drawn = 0
        self._open: dict[str, int] = {}

    def command(self, stack: str) -> list[str]:
        command = [sys.executable, "-m", "tools.fleet", "--child", self.operation, stack, "--root", self.root, "--plans", self.plans]
        return command + (["--policy-config", self.policy_config] if self.policy_config else [])

    def start(self, job: Job) -> None:
        job.started, job.state = time.monotonic(), "running"
        # A session of its own: the terminal's Ctrl-C reaches this process only, which then stops each child's
        # whole group (the preview's analysis process and its policy pack, or the Pulumi CLI and its plugins) in order.
        job.process = subprocess.Popen(self.command(job.stack), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._open[job.stack] = 2
        for kind, stream in (("out", job.process.stdout), ("err", job.process.stderr)):
            threading.Thread(target=_read, args=(job, stream, kind, self.inbox), daemon=True).start()
        self.plain(job, "started")

    def plain(self, job: Job, text: str) -> None:
        if not self.tty:
            self.out.write(f"[{job.stack}] {text}\n")
            self.out.flush()

    def draw(self) -> None:
        if not self.tty:
            return
        # Cut to the terminal's width: a wrapped line would throw the cursor arithmetic off.
        columns = shutil.get_terminal_size().columns - 1
        lines = [job.line(self.width)[:columns] for job in self.jobs]
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        self.out.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
        self.out.flush()
        self._drawn = len(lines)

    def handle(self, job: Job, kind: str, line: Optional[str]) -> None:
        if line is None:
            self._open[job.stack] -= 1
            if self._open[job.stack] == 0:
                self.finish(job)
            return
        if kind == "err":
            job.stderr.append(line)
            return
        try:
            event = json.loads(line)
        except ValueError:
            job.stderr.append(line)
            return
        if "result" in event:
            job.result = StackResult(**event["result"])
        elif "progress" in event:
            job.progress = event["progress"]
            now = time.monotonic()
            if now - job._last_plain >= PLAIN_PROGRESS_EVERY_S or not job.progress[:1].isdigit():
                job._last_plain = now
                self.plain(job, f"{job.progress} ({job.elapsed():.0f}s)")

    def finish(self, job: Job) -> None:
        assert job.process is not None
        code = job.process.wait()
        job.ended = time.monotonic()
        duration = job.ended - job.started
        if job.result is None:  # the child died before reporting: its exit status and last words
            job.result = StackResult(job.stack, exit=code or 1, errors=error_lines("\n".join(job.stderr)) or [f"child exited {code}"])
            job.result.error = error_summary(job.result.errors)
        if job.state == "interrupted":
            job.result.exit, job.result.error = INTERRUPTED, "interrupted"
        job.result.duration_s = round(duration, 2)
        job.state = "interrupted" if job.state == "interrupted" else ("ok" if job.result.exit == 0 else "failed")
        summary = f"{job.state}: exit {job.result.exit}, {job.result.resources if job.result.resources is not None else '-'} resources, {duration:.1f}s"
        self.plain(job, summary)
        for error in job.result.errors:
            self.plain(job, f"error: {error}")

    def run(self) -> bool:
        """Run every stack; False if interrupted."""
        pending = list(self.jobs)
        try:
            while pending or any(self._open.values()):
                while pending and sum(1 for n in self._open.values() if n) < self.parallel:
                    self.start(pending.pop(0))
                self.pump(0.2)
                self.draw()
            return True
        except KeyboardInterrupt:
            for job in pending:
                job.state, job.result = "cancelled", StackResult(job.stack, exit=INTERRUPTED, error="not started")
            self.interrupt()
            return False

    def pump(self, timeout: float) -> None:
        try:
            item = self.inbox.get(timeout=timeout)
        except queue.Empty:
            return
        self.handle(*item)
        while True:
            try:
                self.handle(*self.inbox.get_nowait())
            except queue.Empty:
                return

    def interrupt(self) -> None:
        """SIGINT to each running child's group (the preview cleans up its pack; the CLI cancels gracefully), then
        SIGKILL whatever is left after the grace period."""
        live = [j for j in self.jobs if j.process is not None and self._open.get(j.stack)]
        for job in live:
            job.state = "interrupted"
            self._signal(job, signal.SIGINT)
        deadline = time.monotonic() + GRACE_S[self.operation]
        while any(self._open.get(j.stack) for j in live) and time.monotonic() < deadline:
            self.pump(0.2)
        for job in live:
            self._signal(job, signal.SIGKILL)
        while any(self._open.get(j.stack) for j in live):
            self.pump(0.2)

    @staticmethod
    def _signal(job: Job, sig: int) -> None:
        assert job.process is not None
        try:
            os.killpg(job.process.pid, sig)
        except ProcessLookupError:
            pass

    def results(self) -> list[StackResult]:
        return [j.result or StackResult(j.stack, exit=INTERRUPTED, error="not started") for j in self.jobs]


def _count(value: Optional[int]) -> str:
    return "-" if value is None else str(value)


def table(results: list[StackResult]) -> str:
    """The summary: one row per stack, its first error (if any) on the row."""
    header = ("stack", "resources", "changes", "policy m/a", "rule findings", "duration", "exit", "error")
    rows = [header]
    for r in results:
        changes = " ".join(f"{op} {n}" for op, n in sorted((r.changes or {}).items()) if n) if r.changes is not None else "-"
        policy = "-" if r.mandatory is None else f"{r.mandatory}/{r.advisory}"
        rows.append((r.stack, _count(r.resources), changes or "none", policy, _count(r.findings), f"{r.duration_s:.1f}s", _count(r.exit), r.error or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows).rstrip()


def main(argv: Optional[list[str]] = None, out: IO[str] = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fleet", description=__doc__.split("\n\n")[0])
    parser.add_argument("operation", choices=OPERATIONS, nargs="?")
    parser.add_argument("--stacks", default="*", help="glob over stack names (default every Pulumi.<stack>.yaml)")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1, help="stacks at a time (default: cores)")
    parser.add_argument("--json", dest="json_path", help="also write the summary here")
    parser.add_argument("--root", default=ROOT, help="directory with the Pulumi.<stack>.yaml files (the project directory for up)")
    parser.add_argument("--plans", default=os.path.join(ROOT, "build"), help="where preview writes plan-<stack>.json")
    parser.add_argument("--policy-config", help="policy pack config JSON for the offline preview")
    parser.add_argument("--child", nargs=2, metavar=("OPERATION", "STACK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root, plans = os.path.abspath(args.root), os.path.abspath(args.plans)
    if args.child:
        status = run_child(args.child[0], args.child[1], root, plans, args.policy_config)
        sys.stdout.flush()
        sys.stderr.flush()
        # The analysis process and its pack, or the CLI, have ended; tearing down a big stack's heap object by object
        # would only delay the fleet's row (seconds at 200 environments).
        os._exit(status)
    if args.operation is None:
        parser.error("say preview or up")
    if args.parallel < 1:
        parser.error(f"--parallel {args.parallel}: must be at least 1")
    stacks = discover(root, args.stacks)
    if not stacks:
        print(f"error: no Pulumi.<stack>.yaml in {root} matches --stacks {args.stacks!r}", file=sys.stderr)
        return 2
    fleet = Fleet(args.operation, stacks, args.parallel, root, plans, args.policy_config, out, out.isatty())
    out.write(f"fleet {args.operation}: {len(stacks)} stacks ({', '.join(stacks)}), {args.parallel} at a time\n")
    start = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # a cancelled CI job stops the children too
    try:
        completed = fleet.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    wall = time.monotonic() - start
    fleet.draw()
    results = fleet.results()
    failed = [r.stack for r in results if r.exit != 0]
    out.write("\n" + table(results) + "\n")
    out.write(f"\n{len(results) - len(failed)} of {len(results)} stacks succeeded in {wall:.1f}s"
              + (f"; failed: {', '.join(failed)}" if failed else "") + ("; interrupted" if not completed else "") + "\n")
    status = INTERRUPTED if not completed else (1 if failed else 0)
    if args.json_path:
        os.makedirs(os.path.dirname(os.path.abspath(args.json_path)), exist_ok=True)
        with open(args.json_path, "w", encoding="utf-8") as f:
            json.dump({"operation": args.operation, "parallel": args.parallel, "wall_s": round(wall, 2), "exit": status,
                       "stacks": [asdict(r) for r in results]}, f, indent=1)
            f.write("\n")
    return status


def _raise_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
