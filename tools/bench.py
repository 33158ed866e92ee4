"""`make bench`: how long the offline preview takes per stack, beside the floor.

The floor is a bare program that registers the same resources (same types, names, parents and
inputs) directly as generic resources under the same mocks: what registration alone costs.
The ratio program/floor is what we track; each measurement runs in its own process.
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import pulumi

from .preview import ROOT, run_stack, stack_settings
from .recording import STACK_TYPE, Recording, run_program

STACKS = ("dev", "prod")


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


def measure(stack: str) -> dict[str, Any]:
    raw = stack_settings(stack)
    start = time.perf_counter()
    import stacks.dedicated  # noqa: F401  (the SDK modules the program uses: a one-off cost per process)
    import stacks.multi_tenant  # noqa: F401

    import_s = time.perf_counter() - start
    start = time.perf_counter()
    recording = run_stack(stack, raw)
    program_s = time.perf_counter() - start
    floor_s = float("inf")
    for _ in range(3):  # registration alone is fast and noisy: keep the best of three
        start = time.perf_counter()
        floor = run_program(floor_program(recording), stack, raw)
        floor_s = min(floor_s, time.perf_counter() - start)
    assert len(floor.resources) == len(recording.resources)
    return {
        "stack": stack,
        "resources": len(recording.resources),
        "import_s": import_s,
        "program_s": program_s,
        "floor_s": floor_s,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def preview_wall(stack: str) -> float:
    """End to end, as a user runs it: interpreter start, imports, program, policy pack, plan file."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tools.preview", stack, "--quiet", "--json", f"build/bench-plan-{stack}.json"],
        cwd=ROOT,
        check=False,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return 0
    print(f"{'stack':<8} {'resources':>9} {'preview s':>10} {'imports s':>10} {'program s':>10} {'floor s':>8} {'ratio':>6} {'peak MiB':>9}")
    for stack in STACKS:
        out = subprocess.run([sys.executable, "-m", "tools.bench", "--one", stack], cwd=ROOT, capture_output=True, text=True, check=True)
        m = json.loads(out.stdout.strip().splitlines()[-1])
        wall = preview_wall(stack)
        ratio = m["program_s"] / m["floor_s"] if m["floor_s"] else float("nan")
        print(f"{stack:<8} {m['resources']:>9} {wall:>10.2f} {m['import_s']:>10.2f} {m['program_s']:>10.2f} {m['floor_s']:>8.2f} {ratio:>6.2f} {m['peak_mib']:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
