"""`make bench`: how long the offline preview takes, beside the floor, per stack and at scale.

The floor is a bare program that registers the same resources (same types, names, parents and
inputs) directly as generic resources under the same mocks: what registration alone costs.
Scale rows run the multi-tenant stack on generated configurations of 10, 50 and 200 tenant
environments (`xlarge` sizing, units of four environments). Each measurement runs in its own process.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any, Optional

import pulumi
import yaml

from .preview import ROOT, run_stack, stack_settings
from .recording import STACK_TYPE, Recording, run_program

STACKS = ("dev", "prod")
SCALES = (10, 50, 200)
ENVIRONMENTS = ("dev", "qa", "uat", "training")


def floor_program(recording: Recording):
    def program() -> None:
        registered: dict[str, pulumi.Resource] = {}
        for r in recording.resources:
            if r.type == STACK_TYPE:
                continue
            opts = pulumi.ResourceOptions(parent=registered.get(r.parent or ""), protect=r.protect)
            if r.custom:
                registered[r.urn] = pulumi.CustomResource(r.type, r.name, dict(r.inputs), opts)
            else:
                registered[r.urn] = pulumi.ComponentResource(r.type, r.name, None, opts)

    return program


def scale_config(environments: int) -> str:
    """A dev stack file with `environments` tenant environments, in build/."""
    with open(os.path.join(ROOT, "Pulumi.dev.yaml"), encoding="utf-8") as f:
        document = yaml.safe_load(f)
    units, left = [], environments
    while left > 0:
        envs = list(ENVIRONMENTS[: min(4, left)])
        units.append({"name": f"u{len(units):03d}", "displayName": f"Unit {len(units)}", "environments": envs})
        left -= len(envs)
    document["config"]["odoo-platform:sizing"] = "xlarge"
    document["config"]["odoo-platform:units"] = units
    path = os.path.join(ROOT, "build", f"bench-dev-{environments}.yaml")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(document, f)
    return path


def measure(stack: str, config: Optional[str]) -> dict[str, Any]:
    """In this process: the program alone, then the floor on its recording."""
    raw = stack_settings(stack, config)
    start = time.perf_counter()
    import stacks.dedicated  # noqa: F401  (the SDK modules the program uses: a one-off cost per process)
    import stacks.multi_tenant  # noqa: F401

    import_s = time.perf_counter() - start
    start = time.perf_counter()
    recording = run_stack(stack, raw)
    program_s = time.perf_counter() - start
    floor_s = float("inf")
    for _ in range(2):  # registration alone is fast and noisy: keep the better of two
        start = time.perf_counter()
        floor = run_program(floor_program(recording), stack, raw)
        floor_s = min(floor_s, time.perf_counter() - start)
    assert len(floor.resources) == len(recording.resources)
    return {"resources": len(recording.resources), "import_s": import_s, "program_s": program_s, "floor_s": floor_s}


def preview(stack: str, config: Optional[str]) -> tuple[float, float]:
    """End to end, as a user runs it (interpreter, imports, program, policy pack, plan file): wall seconds, peak MiB."""
    command = [sys.executable, "-m", "tools.preview", stack, "--quiet", "--json", os.path.join(ROOT, "build", f"bench-plan-{stack}.json")]
    if config:
        command += ["--config", config]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"preview of {stack} failed: {process.stderr.read().decode() if process.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def row(label: str, stack: str, config: Optional[str] = None) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "tools.bench", "--one", stack] + (["--config", config] if config else []),
                         cwd=ROOT, capture_output=True, text=True, check=True)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    m["preview_s"], m["peak_mib"] = preview(stack, config)
    m["label"] = label
    ratio = m["program_s"] / m["floor_s"] if m["floor_s"] else float("nan")
    print(f"{label:<14} {m['resources']:>9} {m['preview_s']:>10.1f} {m['peak_mib']:>9.0f} {m['program_s']:>10.2f} {m['floor_s']:>8.2f} {ratio:>6.1f}", flush=True)
    return m


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--scales", default=",".join(map(str, SCALES)), help="tenant-environment counts for the scale rows")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.config)))
        return 0
    print(f"{'run':<14} {'resources':>9} {'preview s':>10} {'peak MiB':>9} {'program s':>10} {'floor s':>8} {'ratio':>6}")
    for stack in STACKS:
        row(stack, stack)
    scale = [row(f"dev x{n} envs", "dev", scale_config(n)) for n in map(int, args.scales.split(","))]
    if len(scale) >= 2:
        first, last = scale[0], scale[-1]
        counts = [int(s["label"].split("x")[1].split()[0]) for s in (first, last)]
        per_env = (last["preview_s"] - first["preview_s"]) / (counts[1] - counts[0])
        print(f"\nmarginal cost: {per_env:.2f} s and {(last['resources'] - first['resources']) / (counts[1] - counts[0]):.0f} resources per tenant environment")
    return 0


if __name__ == "__main__":
    sys.exit(main())
