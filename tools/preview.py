"""Offline preview: run a stack's real program under the Azure mocks, check it with the policy pack.

    python -m tools.preview <stack> [--json PATH] [--config PATH] [--policy-config PATH]

Exit codes: 0 clean, 1 a mandatory policy violation (or the program failed), 2 invalid configuration.
"""
import argparse
import os
import sys
from typing import Any, Optional

import pulumi
import yaml

from stacks.config import PROJECT, ConfigError, load_config, raw_from_stack_file

from .plan import build_plan, render_tree, write_plan
from .policy_runner import PolicyPack, PolicyPackError, load_pack_config
from .recording import Recording, run_program

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLICY_DIR = os.path.join(ROOT, "policies")


class UsageError(Exception):
    """Bad command-line input: a missing or unreadable file."""


def project_defaults() -> dict[str, Any]:
    """Defaults declared in Pulumi.yaml's `config:` block, which the CLI applies to every stack."""
    with open(os.path.join(ROOT, "Pulumi.yaml"), encoding="utf-8") as f:
        declared = (yaml.safe_load(f) or {}).get("config") or {}
    return {k: v["default"] for k, v in declared.items() if isinstance(v, dict) and "default" in v}


def stack_settings(stack: str, config_path: Optional[str] = None) -> dict[str, Any]:
    path = config_path or os.path.join(ROOT, f"Pulumi.{stack}.yaml")
    try:
        with open(path, encoding="utf-8") as f:
            document = yaml.safe_load(f)
    except FileNotFoundError:
        raise UsageError(f"no configuration for stack {stack!r}: {path} does not exist") from None
    except yaml.YAMLError as e:
        raise UsageError(f"{path} is not valid YAML: {e}") from None
    if document is not None and not isinstance(document, dict):
        raise UsageError(f"{path} must be a mapping with a `config:` key")
    return {**project_defaults(), **raw_from_stack_file(document or {})}


def run_stack(stack: str, raw: dict[str, Any]) -> Recording:
    """Validate, then run the real program of `stack` under mocks. Raises ConfigError before creating anything."""
    load_config(stack, raw)
    from stacks.program import main

    return run_program(main, stack, raw, project=PROJECT)


def run_policies(recording: Recording, pack_config: dict[str, Any], resources: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    if not os.path.exists(os.path.join(POLICY_DIR, "__main__.py")):
        return None
    with PolicyPack(POLICY_DIR) as pack:
        return pack.analyze(resources, recording.project, recording.stack, pack_config).as_plan_section()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name, e.g. dev, prod, prod-civil")
    parser.add_argument("--json", dest="json_path", help="write the plan file here")
    parser.add_argument("--config", help="stack configuration file (default Pulumi.<stack>.yaml)")
    parser.add_argument("--policy-config", help="policy pack config JSON, as for --policy-pack-config")
    parser.add_argument("--quiet", action="store_true", help="print the summary only, not the tree")
    args = parser.parse_args(argv)

    try:
        raw = stack_settings(args.stack, args.config)
        pack_config = load_pack_config(args.policy_config)
        recording = run_stack(args.stack, raw)
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

    tree = render_tree(recording)
    print(f"Previewing stack {args.stack} (offline, Azure mocks)\n")
    print(tree if not args.quiet else tree.split("\nResources by type:")[-1].strip().splitlines()[-1])
    plan = build_plan(recording)

    try:
        policy = run_policies(recording, pack_config, plan["resources"])
    except (PolicyPackError, KeyError) as e:
        print(f"error: policy pack: {e}", file=sys.stderr)
        return 1
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
    if args.json_path:
        write_plan(args.json_path, plan)
        print(f"\nPlan written to {args.json_path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
