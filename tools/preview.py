"""Offline preview: run a stack's real program under the Azure mocks, check it with the policy pack.

    python -m tools.preview <stack> [--json PATH] [--config PATH] [--policy-config PATH]

Exit codes: 0 clean, 1 a mandatory policy violation or a deployment-rule finding (tools/deploy_rules.py),
2 invalid configuration.
"""
import argparse
import json
import os
import pickle
import queue
import subprocess
import sys
import threading
from typing import Any, Callable, Optional

import pulumi

from stacks.config import PROJECT, ConfigError, load_config, raw_from_stack_file

from . import deploy_rules, stack_file
from .cost.report import cost_section, summary_lines
from .plan import build_plan, render_tree, resource_entry, write_plan
from .policy_runner import PolicyPackError, load_pack_config
from .recording import RecordedResource, Recording, run_program

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLICY_DIR = os.path.join(ROOT, "policies")


class UsageError(Exception):
    """Bad command-line input: a missing or unreadable file."""


def project_defaults() -> dict[str, Any]:
    """Defaults declared in Pulumi.yaml's `config:` block, which the CLI applies to every stack."""
    declared = (stack_file.load(os.path.join(ROOT, "Pulumi.yaml"), "Pulumi.yaml") or {}).get("config") or {}
    return {k: v["default"] for k, v in declared.items() if isinstance(v, dict) and "default" in v}


def stack_settings(stack: str, config_path: Optional[str] = None) -> dict[str, Any]:
    """The stack file's settings over Pulumi.yaml's defaults. Raises UsageError (no file) or ConfigError (unreadable, bad shape)."""
    path = config_path or os.path.join(ROOT, f"Pulumi.{stack}.yaml")
    source = config_path or f"Pulumi.{stack}.yaml"
    try:
        document = stack_file.load(path, source)
    except FileNotFoundError:
        raise UsageError(f"no configuration for stack {stack!r}: {path} does not exist") from None
    if document is not None and not isinstance(document, dict):
        raise ConfigError([f"{source}: must be a mapping with a `config:` key, not a {type(document).__name__}"])
    return {**project_defaults(), **raw_from_stack_file(document or {}, source)}


def run_stack(stack: str, raw: dict[str, Any], on_register: Optional[Callable[[RecordedResource], None]] = None) -> Recording:
    """Validate, then run the real program of `stack` under mocks. Raises ConfigError before creating anything."""
    load_config(stack, raw)
    from stacks.program import main

    return run_program(main, stack, raw, project=PROJECT, on_register=on_register)


class StreamingAnalysis:
    """Feeds each resource to the pack as it registers, while the program goes on, as `pulumi preview` does.
    tools/pack_feed.py, a process of its own, starts the pack and does the encoding and the gRPC traffic, so the
    program's interpreter (and its lock) stays out of them and the program and the pack run on both cores. A thread
    here pickles the entries into its stdin, so registering never waits for the pipe."""

    def __init__(self, pack_dir: str, project: str, stack: str, pack_config: dict[str, Any]):
        self.feeder = subprocess.Popen(
            [sys.executable, "-m", "tools.pack_feed", pack_dir, project, stack, json.dumps(pack_config)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.entries: queue.SimpleQueue = queue.SimpleQueue()
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.writer.start()
        self._ended = False

    def _write(self) -> None:
        pipe = self.feeder.stdin
        assert pipe is not None
        try:
            while True:
                entry = self.entries.get()
                pipe.write(pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))
                if entry is None:
                    break
            pipe.close()
        except (BrokenPipeError, OSError):  # the feeder has failed: finish() reports why
            pass

    def __call__(self, resource: RecordedResource) -> None:
        self.entries.put(resource_entry(resource))

    def no_more_resources(self) -> None:
        if not self._ended:
            self._ended = True
            self.entries.put(None)

    def finish(self, resources: list[dict[str, Any]]) -> dict[str, Any]:
        self.no_more_resources()
        self.writer.join()
        out, err = self.feeder.stdout.read(), self.feeder.stderr.read()  # type: ignore[union-attr]  (pipes, see __init__)
        self.feeder.wait()
        try:
            status, payload, analyzed = pickle.loads(out)
        except Exception:
            raise PolicyPackError(f"the analysis process failed (exit {self.feeder.returncode}): {err.decode(errors='replace').strip()[-2000:]}") from None
        if status != "ok":
            raise PolicyPackError(f"analysis failed: {payload}")
        if analyzed != len(resources):
            raise PolicyPackError(f"the pack analyzed {analyzed} resources, the plan has {len(resources)}")
        return payload

    def close(self) -> None:
        """Stop the feeder and its pack if they are still running (the program failed)."""
        if self.feeder.poll() is None:
            self.feeder.terminate()
            try:
                self.feeder.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.feeder.kill()
                self.feeder.wait()
        for pipe in (self.feeder.stdin, self.feeder.stdout, self.feeder.stderr):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:  # entries still buffered for a feeder that is gone
                pass


def main(argv: Optional[list[str]] = None, on_register: Optional[Callable[[RecordedResource], None]] = None) -> int:
    """`on_register` also sees each resource as it registers (tools/fleet.py counts them for its progress line)."""
    parser = argparse.ArgumentParser(prog="python -m tools.preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name, e.g. dev, prod, prod-civil")
    parser.add_argument("--json", dest="json_path", help="write the plan file here")
    parser.add_argument("--config", help="stack configuration file (default Pulumi.<stack>.yaml)")
    parser.add_argument("--policy-config", help="policy pack config JSON, as for --policy-pack-config")
    parser.add_argument("--quiet", action="store_true", help="print the summary only, not the tree")
    args = parser.parse_args(argv)

    analysis = None
    try:
        raw = stack_settings(args.stack, args.config)
        pack_config = load_pack_config(args.policy_config)
        cfg = load_config(args.stack, raw)
        if os.path.exists(os.path.join(POLICY_DIR, "__main__.py")):
            analysis = StreamingAnalysis(POLICY_DIR, PROJECT, args.stack, pack_config)
        hooks = [hook for hook in (analysis, on_register) if hook is not None]
        recording = run_stack(args.stack, raw, on_register=(lambda r: [hook(r) for hook in hooks]) if hooks else None)
        if analysis is not None:
            analysis.no_more_resources()  # the feeder's AnalyzeStack runs while the plan and its cost are built here
        plan = build_plan(recording)
        plan["cost"] = cost_section(args.stack, plan["resources"], cfg.cost_assumptions)
        policy = analysis.finish(plan["resources"]) if analysis else None
    except (UsageError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ConfigError as e:
        for problem in e.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except pulumi.RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except PolicyPackError as e:
        print(f"error: policy pack: {e}", file=sys.stderr)
        return 1
    finally:
        if analysis is not None:
            analysis.close()

    tree = render_tree(recording)
    print(f"Previewing stack {args.stack} (offline, Azure mocks)\n")
    print(tree if not args.quiet else tree.split("\nResources by type:")[-1].strip().splitlines()[-1])
    alerts = plan["alerts"]
    sources = ", ".join(f"{n} {k}" for k, n in alerts["by_source"].items())
    severities = ", ".join(f"sev{k} {n}" for k, n in alerts["by_severity"].items())
    print(f"\nAlerts: {alerts['total']} ({sources}; {severities})")
    backups = plan["backups"]
    print(f"\nBackups: {len(backups)} tenant environments")
    for namespace, entry in backups.items():
        schedules = ", ".join(f"{job} '{cron}'" for job, cron in entry["schedules"].items())
        keep = "/".join(str(entry.get("keep", {}).get(p, "-")) for p in ("daily", "weekly", "monthly", "yearly"))
        targets = entry.get("targets", {})
        offsite = f", offsite s3://{entry['offsite']}" if entry.get("offsite") else ""
        print(f"  {namespace}: {schedules}; keep d/w/m/y {keep}; drill RPO {targets.get('rpo')} RTO {targets.get('rto')}{offsite}")
    print("\n" + "\n".join(summary_lines(plan["cost"])))
    status = 0
    if policy is None:
        print("\nPolicies: no policy pack in policies/ yet; skipped.")
        plan["policy"] = {"pack": None, "policies": 0, "violations": []}
    else:
        plan["policy"] = policy
        violations = policy["violations"]
        mandatory = [v for v in violations if v["level"] == "mandatory"]
        print(f"\nPolicies: pack {policy['pack']}, {policy['policies']} policies, {len(mandatory)} mandatory and {len(violations) - len(mandatory)} advisory violations")
        for v in violations:
            print(f"  [{v['level']}] {v['policy']}: {v['urn'].split('::')[-1]}: {v['message'].splitlines()[-1]}")
        status = 1 if mandatory else 0
    findings = deploy_rules.check(plan["resources"])
    plan["deploymentRules"] = {"rules": len(deploy_rules.RULES), "findings": [f.__dict__ for f in findings]}
    print(f"\nDeployment rules: {len(deploy_rules.RULES)} rules, {len(findings)} findings")
    for f in findings:
        print(f"  {f.line()}")
    status = 1 if findings else status
    if args.json_path:
        write_plan(args.json_path, plan)
        print(f"\nPlan written to {args.json_path}")
    return status


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The plan is written and the pack has stopped; freeing the program's objects one by one at interpreter exit
    # would only delay the exit (0.6-1.8 s for dev here, measured), as for tools/fleet.py's children.
    os._exit(status)
