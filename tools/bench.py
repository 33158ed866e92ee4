"""`make bench`: how long the offline preview takes, beside the program alone and the floor, and the fleet's speed-up.

Per stack (dev, prod) and per scale (the multi-tenant stack on generated configurations of 10, 50 and 200 tenant
environments, `xlarge` sizing, units of four environments), each repetition measures in one go:

- end to end: `python -m tools.preview` as a user runs it (interpreter, imports, program, policy pack, cost,
  deployment rules, plan file), wall seconds and peak memory;
- the program alone, as the language host runs it: a fresh interpreter, the imports the program needs and the real
  program under the mocks, no pack, no plan: wall seconds from starting the process to the program's end. Of that,
  the SDK imports alone (`imports s`) and the program's run after them (`run s`);
- the floor: a bare program that registers the same resources (types, names, parents, inputs, and as many
  properties as each type declares) directly as generic resources under the same mocks, after the same imports:
  what registration alone costs.

The targets (issue 13) are ratios, so that other work on the machine cancels out: end to end within 1.25x of the
program alone (what the preview adds to the program: the pack, which the second core should hide, the cost and the
plan), and the program's run within 1.6x of the floor (what the components add to bare registration). Each ratio
is taken within one repetition; reported are the median and the spread (min-max) over the repetitions.

The fleet row previews the shipped stacks plus generated `prod-<unit>` stacks with `python -m tools.fleet preview`
(one stack per core at a time) and sets its wall time against the sum of the single previews of the same stacks.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Any, Optional

import pulumi
import yaml

from .preview import ROOT, run_stack, stack_settings
from .recording import STACK_TYPE, Recording, run_program

STACKS = ("dev", "prod")
SCALES = (10, 50, 200)
ENVIRONMENTS = ("dev", "qa", "uat", "training")
TARGET_END_TO_END = 1.25  # end to end / the program alone (process)
TARGET_PROGRAM = 1.6  # the program's run / the floor
FLEET_DIR = os.path.join(ROOT, "build", "bench-fleet")


def floor_program(recording: Recording, properties: dict[str, int]):
    """Each resource of the recording registered as a generic resource with its inputs, and as many properties as
    its type declares (`properties`, by type): the SDK makes an output of every declared property of a typed resource
    (pulumi/runtime/rpc.py transfer_properties), set or not, so that is part of registering it."""
    def program() -> None:
        registered: dict[str, pulumi.Resource] = {}
        for r in recording.resources:
            if r.type == STACK_TYPE:
                continue
            opts = pulumi.ResourceOptions(parent=registered.get(r.parent or ""), protect=r.protect)
            if r.custom:
                unset = {f"declared{n}": None for n in range(properties.get(r.type, 0) - len(r.inputs))}
                registered[r.urn] = pulumi.CustomResource(r.type, r.name, {**r.inputs, **unset}, opts)
            else:
                registered[r.urn] = pulumi.ComponentResource(r.type, r.name, None, opts)

    return program


@contextmanager
def declared_properties():
    """The number of properties each resource type registers with (the most seen), counted as the program runs."""
    from pulumi.runtime import rpc

    counts: dict[str, int] = {}
    transfer = rpc.transfer_properties

    def counting(res, props, custom):
        counts[res._type] = max(counts.get(res._type, 0), len(props))
        return transfer(res, props, custom)

    rpc.transfer_properties = counting
    try:
        yield counts
    finally:
        rpc.transfer_properties = transfer


def _write_yaml(path: str, document: dict[str, Any]) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(document, f)
    return path


def _stack_document(stack: str) -> dict[str, Any]:
    with open(os.path.join(ROOT, f"Pulumi.{stack}.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def scale_config(environments: int) -> str:
    """A dev stack file with `environments` tenant environments, in build/."""
    document = _stack_document("dev")
    units, left = [], environments
    while left > 0:
        envs = list(ENVIRONMENTS[: min(4, left)])
        units.append({"name": f"u{len(units):03d}", "displayName": f"Unit {len(units)}", "environments": envs})
        left -= len(envs)
    document["config"]["odoo-platform:sizing"] = "xlarge"
    document["config"]["odoo-platform:units"] = units
    # Per-unit budgets name the shipped units, which the generated stack does not have.
    (document["config"].get("odoo-platform:budgets") or {}).pop("units", None)
    return _write_yaml(os.path.join(ROOT, "build", f"bench-dev-{environments}.yaml"), document)


def fleet_root(units: int) -> str:
    """build/bench-fleet/: the shipped stack files and `units` generated `prod-u<NN>` stacks (prod's settings, each
    its own unit, address space and domain)."""
    shutil.rmtree(FLEET_DIR, ignore_errors=True)
    os.makedirs(FLEET_DIR)
    for stack in STACKS:
        shutil.copy(os.path.join(ROOT, f"Pulumi.{stack}.yaml"), os.path.join(FLEET_DIR, f"Pulumi.{stack}.yaml"))
    prod = _stack_document("prod")
    for n in range(units):
        name = f"u{n:02d}"
        document = yaml.safe_load(yaml.safe_dump(prod))
        config = document["config"]
        config["odoo-platform:units"] = [{**config["odoo-platform:units"][0], "name": name, "displayName": f"Unit {n}"}]
        config["odoo-platform:baseDomain"] = f"{name}.{config['odoo-platform:baseDomain']}"
        config["odoo-platform:tags"] = {**config["odoo-platform:tags"], "business-unit": name}
        _write_yaml(os.path.join(FLEET_DIR, f"Pulumi.prod-{name}.yaml"), document)
    return FLEET_DIR


PROGRAM_DONE = "program done"  # what `--one` prints when the program has run: the parent times the process to it


def measure(stack: str, config: Optional[str]) -> dict[str, Any]:
    """In this process: the program, then the floor on its recording."""
    raw = stack_settings(stack, config)
    start = time.perf_counter()
    import stacks.dedicated  # noqa: F401  (the SDK modules the program uses: a one-off cost per process)
    import stacks.multi_tenant  # noqa: F401

    import_s = time.perf_counter() - start
    with declared_properties() as properties:  # a dict update per resource: within the noise
        start = time.perf_counter()
        recording = run_stack(stack, raw)
        program_s = time.perf_counter() - start
    print(PROGRAM_DONE, flush=True)
    floor_s = float("inf")
    for _ in range(2):  # registration alone is fast and noisy: keep the better of two
        start = time.perf_counter()
        floor = run_program(floor_program(recording, properties), stack, raw)
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
    # Exit 1 is a finding of the pack or the rules, not a failed measurement; 2 and beyond are.
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"preview of {stack} failed: {process.stderr.read().decode() if process.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def program_alone(stack: str, config: Optional[str]) -> dict[str, Any]:
    """`--one` in a fresh process: its figures, and `process_s` from starting it to the program's end."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "tools.bench", "--one", stack] + (["--config", config] if config else []),
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process_s, lines = None, []
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == PROGRAM_DONE:
            process_s = time.perf_counter() - start
        lines.append(line)
    err = child.stderr.read() if child.stderr else ""
    if child.wait() != 0 or process_s is None:
        raise SystemExit(f"measuring the program of {stack} failed: {err.strip()[-2000:]}")
    return {**json.loads(lines[-1]), "process_s": process_s}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def row(label: str, stack: str, config: Optional[str], repeat: int) -> dict[str, Any]:
    """`repeat` repetitions of the three figures, each ratio within its own repetition."""
    runs = []
    for _ in range(repeat):
        m = program_alone(stack, config)
        m["preview_s"], m["peak_mib"] = preview(stack, config)
        m["end_to_end_ratio"] = m["preview_s"] / m["process_s"]
        m["program_ratio"] = m["program_s"] / m["floor_s"]
        runs.append(m)
    e2e = [m["end_to_end_ratio"] for m in runs]
    prog = [m["program_ratio"] for m in runs]
    result = {
        "label": label,
        "resources": runs[0]["resources"],
        "runs": runs,
        "end_to_end_ratio": statistics.median(e2e),
        "program_ratio": statistics.median(prog),
        "meets": {"end_to_end": statistics.median(e2e) <= TARGET_END_TO_END, "program": statistics.median(prog) <= TARGET_PROGRAM},
    }
    med = {k: statistics.median(m[k] for m in runs) for k in ("preview_s", "process_s", "import_s", "program_s", "floor_s", "peak_mib")}
    ok = lambda flag: "yes" if flag else "NO"  # noqa: E731
    print(f"{label:<14} {result['resources']:>9} {med['preview_s']:>8.1f} {med['process_s']:>8.1f} {med['import_s']:>9.1f} {med['program_s']:>7.1f} "
          f"{med['floor_s']:>8.1f} {med['peak_mib']:>8.0f}"
          f"  {spread(e2e):>18} {ok(result['meets']['end_to_end']):>4}  {spread(prog):>18} {ok(result['meets']['program']):>4}", flush=True)
    return result


def fleet(units: int, parallel: int) -> dict[str, Any]:
    """The fleet preview of the shipped stacks plus `units` prod-<unit> stacks against the sum of single previews."""
    root = fleet_root(units)
    stacks = sorted(f[len("Pulumi.") : -len(".yaml")] for f in os.listdir(root) if f.startswith("Pulumi."))
    singles = {s: preview(s, os.path.join(root, f"Pulumi.{s}.yaml"))[0] for s in stacks}
    summary = os.path.join(root, "summary.json")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tools.fleet", "preview", "--root", root, "--plans", os.path.join(root, "build"),
                    "--parallel", str(parallel), "--json", summary], cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    with open(summary, encoding="utf-8") as f:
        rows = json.load(f)["stacks"]
    broken = [r["stack"] for r in rows if r["exit"] not in (0, 1)]
    if broken:
        raise SystemExit(f"fleet preview failed for {', '.join(broken)}")
    total = sum(singles.values())
    print(f"\nfleet preview of {len(stacks)} stacks ({', '.join(STACKS)} and {units} prod-<unit>), {parallel} at a time: "
          f"{wall:.1f} s; the single previews one after another: {total:.1f} s; speed-up {total / wall:.2f}x on {os.cpu_count()} cores", flush=True)
    return {"stacks": stacks, "parallel": parallel, "fleet_s": wall, "singles_s": singles, "sum_s": total, "speedup": total / wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--scales", default=",".join(map(str, SCALES)), help="tenant-environment counts for the scale rows ('' for none)")
    parser.add_argument("--stacks", default=",".join(STACKS), help="shipped stacks to measure ('' for none)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per row (ratios: median and spread)")
    parser.add_argument("--units", type=int, default=10, help="generated prod-<unit> stacks in the fleet row (-1: no fleet row)")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1, help="the fleet's stacks at a time")
    parser.add_argument("--json", dest="json_path", help="also write every figure here")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.config)))
        return 0
    print(f"targets: end to end <= {TARGET_END_TO_END}x the program alone, its run <= {TARGET_PROGRAM}x the floor; "
          f"medians of {args.repeat}, ratio (min-max)\n")
    print(f"{'run':<14} {'resources':>9} {'e2e s':>8} {'prog s':>8} {'imports s':>9} {'run s':>7} {'floor s':>8} {'peak MiB':>8}"
          f"  {'e2e/prog':>18} {'met':>4}  {'run/floor':>18} {'met':>4}")
    rows = [row(s, s, None, args.repeat) for s in filter(None, args.stacks.split(","))]
    scales = [int(n) for n in filter(None, args.scales.split(","))]
    scale_rows = [row(f"dev x{n} envs", "dev", scale_config(n), args.repeat) for n in scales]
    if len(scale_rows) >= 2:
        first, last = scale_rows[0], scale_rows[-1]
        per_env = (statistics.median(m["preview_s"] for m in last["runs"]) - statistics.median(m["preview_s"] for m in first["runs"])) / (scales[-1] - scales[0])
        print(f"\nmarginal cost: {per_env:.2f} s and {(last['resources'] - first['resources']) / (scales[-1] - scales[0]):.0f} resources per tenant environment")
    fleet_row = fleet(args.units, args.parallel) if args.units >= 0 else None
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as f:
            json.dump({"rows": rows + scale_rows, "fleet": fleet_row}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
