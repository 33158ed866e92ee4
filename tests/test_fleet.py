"""tools/fleet.py: one command over many stacks, with one stack made to fail.

The offline preview runs for real (the shipped prod stack, and a generated prod-<unit> stack with bad config). There is
no Pulumi CLI here: `up` runs the real Automation API against a fake `pulumi` executable on PATH that answers the few
commands the API sends (version, stack select, up with its event stream over gRPC, stack output, stack history) and
logs each call, so the tests check our side only: the arguments, per-stack isolation, the summary, Ctrl-C.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from tests.conftest import ROOT

FAKE_PULUMI = textwrap.dedent(
    '''\
    #!{python}
    """A stand-in for the Pulumi CLI: logs each call; `up` streams engine events the way the CLI does."""
    import json, os, signal, sys, time
    from datetime import datetime, timezone

    args = [a for a in sys.argv[1:] if a != "--non-interactive"]  # the Automation API's global flag
    stack = args[args.index("--stack") + 1] if "--stack" in args else None
    with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
        log.write(json.dumps({{"args": args, "cwd": os.getcwd(), "start": time.time()}}) + "\\n")
    if args == ["version"]:
        print("v3.272.0")
    elif args[:2] == ["stack", "output"]:
        print("{{}}")
    elif args[:2] == ["stack", "history"]:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        print(json.dumps([{{"kind": "update", "startTime": now, "endTime": now, "message": "", "environment": {{}},
                           "config": {{}}, "result": "succeeded", "resourceChanges": {{"create": 2, "same": 1}}}}]))
    elif args[0] == "up":
        import grpc
        from pulumi.runtime.proto import events_pb2, events_pb2_grpc

        if os.environ.get("FAKE_PULUMI_HANG"):
            def cancel(*_):
                open(os.environ["FAKE_PULUMI_HANG"], "w").write("cancelled " + stack)
                sys.exit(255)
            signal.signal(signal.SIGINT, cancel)
            with open(os.environ["FAKE_PULUMI_HANG"] + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.replace(os.environ["FAKE_PULUMI_HANG"] + ".tmp", os.environ["FAKE_PULUMI_HANG"] + ".pid")
            while True:
                time.sleep(0.1)
        target = args[args.index("--event-log") + 1].removeprefix("tcp://")
        urn = "urn:pulumi:" + stack + "::odoo-platform::"
        events = [{{"resourcePreEvent": {{"metadata": {{"op": op, "urn": urn + t, "type": t, "provider": ""}}}}}}
                  for op, t in (("same", "pulumi:pulumi:Stack"), ("create", "azure-native:resources:ResourceGroup"),
                                ("create", "azure-native:storage:StorageAccount"))]
        events.append({{"policyEvent": {{"message": "m", "color": "never", "policyName": "p", "policyPackName": "odoo-governance",
                                        "policyPackVersion": "1", "policyPackVersionTag": "1", "enforcementLevel": "advisory"}}}})
        failing = stack.endswith(os.environ.get("FAKE_PULUMI_FAIL", "-never-"))
        if failing:
            events.append({{"diagnosticEvent": {{"message": "azure-native:storage:StorageAccount st: quota exceeded in westeurope\\n  details",
                                                "color": "never", "severity": "error"}}}})
        else:
            events.append({{"summaryEvent": {{"maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": {{"create": 2, "same": 1}},
                                             "PolicyPacks": {{}}}}}})
        time.sleep(float(os.environ.get("FAKE_PULUMI_UP_SECONDS", "0")))
        requests = (events_pb2.EventRequest(event=json.dumps({{"sequence": i, "timestamp": 0, **e}})) for i, e in enumerate(events))
        with grpc.insecure_channel(target) as channel:
            events_pb2_grpc.EventsStub(channel).StreamEvents(requests)
        with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
            log.write(json.dumps({{"args": ["up-ended"], "stack": stack, "end": time.time()}}) + "\\n")
        if failing:
            print("error: update failed", file=sys.stderr)
            sys.exit(255)
    '''
)


def run_fleet(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.fleet", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def write_stack(root, name: str, settings: dict) -> None:
    """A stack file from the shipped prod stack with `settings` changed."""
    with open(os.path.join(ROOT, "Pulumi.prod.yaml"), encoding="utf-8") as f:
        document = yaml.safe_load(f)
    document["config"].update({f"odoo-platform:{k}": v for k, v in settings.items()})
    (root / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")


@pytest.fixture(scope="module")
def previewed(tmp_path_factory):
    """One fleet preview: the shipped prod stack, a generated prod-civil with bad config, a stack outside the glob."""
    root = tmp_path_factory.mktemp("fleet")
    write_stack(root, "prod", {})
    unit = {"name": "civil", "displayName": "Acme Civil Works", "environments": ["prod"]}
    write_stack(root, "prod-civil", {"units": [unit], "sizing": "small"})
    write_stack(root, "staging", {"sizing": "nonsense"})
    summary = root / "summary.json"
    done = run_fleet("preview", "--root", str(root), "--stacks", "prod*", "--parallel", "2", "--plans", str(root / "build"),
                     "--json", str(summary))
    return root, done, json.loads(summary.read_text())


def test_one_failing_stack_fails_the_fleet_and_the_others_complete(previewed):
    root, done, summary = previewed
    assert done.returncode == 1, done.stderr
    rows = {r["stack"]: r for r in summary["stacks"]}
    assert sorted(rows) == ["prod", "prod-civil"]  # staging is outside --stacks prod*
    broken = rows["prod-civil"]
    assert broken["exit"] == 2 and broken["resources"] is None
    assert broken["error"].startswith('odoo-platform:sizing = "small": production needs medium or large')
    # The completed stack's row is its own plan file's figures.
    plan = json.loads((root / "build" / "plan-prod.json").read_text())
    prod = rows["prod"]
    violations = plan["policy"]["violations"]
    mandatory = sum(1 for v in violations if v["level"] == "mandatory")
    findings = len(plan["deploymentRules"]["findings"])
    assert prod["resources"] == len(plan["resources"]) > 100
    assert prod["changes"] == {"create": prod["resources"]}
    assert (prod["mandatory"], prod["advisory"], prod["findings"]) == (mandatory, len(violations) - mandatory, findings)
    assert prod["exit"] == (1 if mandatory or findings else 0)
    assert not (root / "build" / "plan-prod-civil.json").exists()


def test_preview_log_and_table_for_ci(previewed):
    _, done, summary = previewed
    out = done.stdout
    # Not a terminal: plain lines per event, no cursor movement.
    assert "\x1b[" not in out
    assert "[prod] started" in out and "[prod-civil] started" in out
    assert '[prod-civil] error: odoo-platform:sizing = "small"' in out
    header = next(line for line in out.splitlines() if line.startswith("stack "))
    assert header.split() == ["stack", "resources", "changes", "policy", "m/a", "rule", "findings", "duration", "exit", "error"]
    civil = next(line for line in out.splitlines() if line.startswith("prod-civil "))
    assert civil.split()[1:4] == ["-", "-", "-"] and 'odoo-platform:sizing = "small"' in civil
    succeeded = sum(1 for r in summary["stacks"] if r["exit"] == 0)
    assert f"{succeeded} of 2 stacks succeeded" in out and "failed: " in out


@pytest.fixture()
def fake_cli(tmp_path):
    """A project directory with three stacks and the fake CLI first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cli = bin_dir / "pulumi"
    cli.write_text(FAKE_PULUMI.format(python=sys.executable))
    cli.chmod(0o755)
    root = tmp_path / "project"
    root.mkdir()
    for name in ("dev", "prod", "prod-civil"):
        (root / f"Pulumi.{name}.yaml").write_text("config: {}\n")
    log = tmp_path / "calls.jsonl"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_PULUMI_LOG": str(log)}
    return root, log, env


def calls(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_up_through_the_automation_api_isolates_a_failing_stack(fake_cli, tmp_path):
    root, log, env = fake_cli
    summary = tmp_path / "up.json"
    done = run_fleet("up", "--root", str(root), "--parallel", "3", "--json", str(summary), env={**env, "FAKE_PULUMI_FAIL": "civil"})
    assert done.returncode == 1, done.stdout + done.stderr
    rows = {r["stack"]: r for r in json.loads(summary.read_text())["stacks"]}
    for stack in ("dev", "prod"):
        assert rows[stack]["exit"] == 0
        assert (rows[stack]["resources"], rows[stack]["changes"]) == (3, {"create": 2})
        assert (rows[stack]["mandatory"], rows[stack]["advisory"]) == (0, 1)
    assert rows["prod-civil"]["exit"] == 1
    assert rows["prod-civil"]["error"] == "azure-native:storage:StorageAccount st: quota exceeded in westeurope"
    ups = [c for c in calls(log) if c["args"][0] == "up"]
    assert sorted(c["args"][c["args"].index("--stack") + 1] for c in ups) == ["dev", "prod", "prod-civil"]
    for call in ups:
        args = call["args"]
        assert call["cwd"] == str(root)  # the project directory: the CLI finds Pulumi.yaml and Pulumi.<stack>.yaml there
        assert args[:3] == ["up", "--yes", "--skip-preview"]
        assert args[args.index("--policy-pack") + 1] == "policies"
        assert args[args.index("--event-log") + 1].startswith("tcp://127.0.0.1:")
    selects = [c["args"] for c in calls(log) if c["args"][:2] == ["stack", "select"]]
    assert sorted(a[a.index("--stack") + 1] for a in selects) == ["dev", "prod", "prod-civil"]


@pytest.mark.parametrize("parallel", [1, 3])
def test_parallelism_is_bounded(fake_cli, parallel):
    root, log, env = fake_cli
    done = run_fleet("up", "--root", str(root), "--parallel", str(parallel), env={**env, "FAKE_PULUMI_UP_SECONDS": "1.5"})
    assert done.returncode == 0, done.stdout + done.stderr
    starts = {c["args"][c["args"].index("--stack") + 1]: c["start"] for c in calls(log) if c["args"][0] == "up"}
    ends = {c["stack"]: c["end"] for c in calls(log) if c["args"] == ["up-ended"]}
    intervals = sorted((starts[s], ends[s]) for s in starts)
    overlapping = max(sum(1 for s, e in intervals if s <= t < e) for t, _ in intervals)
    assert overlapping == parallel


def test_ctrl_c_cancels_the_cli_and_stops_every_child(fake_cli, tmp_path):
    root, log, env = fake_cli
    marker = tmp_path / "cancelled"
    fleet = subprocess.Popen([sys.executable, "-m", "tools.fleet", "up", "--root", str(root), "--stacks", "prod", "--json", str(tmp_path / "s.json")],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env, "FAKE_PULUMI_HANG": str(marker)})
    pid_file = tmp_path / "cancelled.pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert pid_file.exists(), "the fake CLI's up never started"
        cli_pid = int(pid_file.read_text())
    finally:
        fleet.send_signal(signal.SIGINT)  # also when the test fails: the children stop with the fleet
    out, err = fleet.communicate(timeout=60)
    assert fleet.returncode == 130, out + err
    assert marker.read_text() == "cancelled prod"  # the CLI got its SIGINT (a graceful cancel), not a kill
    with pytest.raises(ProcessLookupError):
        os.kill(cli_pid, 0)
    row = json.loads((tmp_path / "s.json").read_text())["stacks"][0]
    assert (row["stack"], row["exit"], row["error"]) == ("prod", 130, "interrupted")
    assert "interrupted" in out


# --- speed-ups of the preview that must not change what it reports ------------------------------------------


def test_pack_decoding_once_per_request_reports_the_same_violations(previewed):
    """decode_each_struct_once() against the pack as the CLI runs it, on a plan broken so that resource and stack
    policies fire."""
    from tools.policy_runner import PolicyPack

    root, _, _ = previewed
    plan = json.loads((root / "build" / "plan-prod.json").read_text())
    for r in plan["resources"]:
        r["protect"] = False
        r["inputs"].pop("tags", None)
        if "publicNetworkAccess" in r["inputs"]:
            r["inputs"]["publicNetworkAccess"] = "Enabled"
    found = {}
    for decode_once in (False, True):
        with PolicyPack(os.path.join(ROOT, "policies"), decode_once=decode_once) as pack:
            result = pack.analyze(plan["resources"], plan["project"], plan["stack"])
        found[decode_once] = [v.__dict__ for v in result.violations]
    assert len({v["policy"] for v in found[False]}) >= 3
    assert found[True] == found[False]


def _late_registrations():
    """Resources registered from inside applies, three deep, and an output nobody awaits."""
    import pulumi

    def thing(name, depth):
        resource = pulumi.CustomResource("test:index:Thing", name, {"depth": depth})
        if depth < 3:
            resource.id.apply(lambda _: [thing(f"{name}-{i}", depth + 1) for i in range(2)])
        return resource

    thing("root", 0)
    pulumi.Output.from_input("x").apply(lambda _: thing("late", 2))


@pytest.mark.parametrize("drain", ["sdk", "linear"])
def test_the_drain_awaits_every_output_and_raises_the_first_failure(monkeypatch, drain):
    import contextlib

    import pulumi

    from tools import recording

    if drain == "sdk":
        monkeypatch.setattr(recording, "linear_drain", contextlib.nullcontext)
    recorded = recording.run_program(_late_registrations, "dev", {})
    names = sorted(r.name for r in recorded.resources if r.type == "test:index:Thing")
    assert len(names) == 1 + 2 + 4 + 8 + 1 + 2 and names[:3] == ["late", "late-0", "late-1"]

    def failing():
        pulumi.CustomResource("test:index:Thing", "a", {}).id.apply(lambda _: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        recording.run_program(failing, "dev", {})


def _small_program(fail: bool):
    """A stand-in for run_stack: three resources registered the way the real program registers them, then maybe a crash."""
    import pulumi

    from tools.recording import run_program

    def run_stack(stack, raw, on_register=None):
        def program():
            for n in range(3):
                pulumi.CustomResource("test:index:Thing", f"thing-{n}", {"n": n})
            if fail:
                raise RuntimeError("the program broke")

        return run_program(program, stack, raw, on_register=on_register)

    return run_stack


def _processes_naming(text: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_a_pack_that_fails_is_reported_once_the_program_has_run(tmp_path, monkeypatch, capsys):
    """The analysis process starts the pack beside the program: a pack that cannot start fails the preview (exit 1)
    with the pack's own error, and leaves no process behind."""
    from tools import preview

    pack = tmp_path / "broken-pack"
    pack.mkdir()
    (pack / "__main__.py").write_text("raise SystemExit('this pack cannot start: rules missing')\n")
    monkeypatch.setattr(preview, "POLICY_DIR", str(pack))
    monkeypatch.setattr(preview, "run_stack", _small_program(fail=False))
    assert preview.main(["dev", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "error: policy pack:" in err and "this pack cannot start: rules missing" in err
    assert _processes_naming(str(pack)) == []


def test_a_failing_program_stops_the_analysis_and_its_pack(tmp_path, monkeypatch):
    """The pack and the process feeding it are running when the program fails: both are stopped, none is left."""
    from tools import preview

    pack = tmp_path / "pack"
    pack.symlink_to(preview.POLICY_DIR)  # a path of its own, to find the processes by
    monkeypatch.setattr(preview, "POLICY_DIR", str(pack))
    monkeypatch.setattr(preview, "run_stack", _small_program(fail=True))
    started = []
    real = preview.StreamingAnalysis.__init__

    def spy(self, *args):
        real(self, *args)
        deadline = time.monotonic() + 30
        while len(_processes_naming(str(pack))) < 2 and time.monotonic() < deadline:  # the feeder and its pack
            time.sleep(0.05)
        started.extend(_processes_naming(str(pack)))

    monkeypatch.setattr(preview.StreamingAnalysis, "__init__", spy)
    try:
        status = preview.main(["dev", "--quiet"])
    except Exception as e:  # the fleet reports a program's exception; either way the processes must be gone
        status = e
    assert status == 2 or isinstance(status, RuntimeError), status
    assert len(started) == 2
    assert _processes_naming(str(pack)) == []
