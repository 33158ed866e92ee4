"""The plan file (DESIGN.md "The plan file") and the preview tree printed to the terminal."""
import json
import os
from collections import Counter, defaultdict
from typing import Any, Optional

from .recording import Recording


def resource_entry(r) -> dict[str, Any]:
    return {
        "urn": r.urn,
        "type": r.type,
        "name": r.name,
        "custom": r.custom,
        "parent": r.parent,
        "provider": r.provider,
        "dependencies": r.dependencies,
        "protect": r.protect,
        "ignoreChanges": r.ignore_changes,
        "inputs": r.inputs,
    }


def build_plan(recording: Recording, policy: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    by_type = Counter(r.type for r in recording.resources)
    return {
        "project": recording.project,
        "stack": recording.stack,
        "resources": [resource_entry(r) for r in recording.resources],
        "outputs": recording.outputs,
        "policy": policy,
        "summary": {"resources": len(recording.resources), "by_type": dict(sorted(by_type.items()))},
        "alerts": alert_summary(recording),
        "backups": backup_summary(recording),
    }


def backup_summary(recording: Recording) -> dict[str, Any]:
    """Per tenant environment (namespace): each backup job's schedule, what prune keeps and the drill's targets."""
    summary: dict[str, Any] = {}
    for r in recording.resources:
        if r.type != "kubernetes:batch/v1:CronJob" or r.inputs.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/name") != "odoo-backup":
            continue
        container = r.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        entry = summary.setdefault(r.inputs["metadata"]["namespace"], {"schedules": {}})
        entry["schedules"][container["name"]] = r.inputs["spec"]["schedule"]
        if container["name"] == "prune":
            entry["keep"] = {k.removeprefix("BACKUP_KEEP_").lower(): int(v) for k, v in env.items() if k.startswith("BACKUP_KEEP_")}
        if container["name"] == "drill":
            entry["targets"] = {"rpo": env.get("DRILL_RPO_TARGET"), "rto": env.get("DRILL_RTO_TARGET")}
        if container["name"] == "backup":
            entry["offsite"] = env.get("OFFSITE_S3_BUCKET")
    return dict(sorted(summary.items()))


ALERT_TYPES = {
    "azure-native:monitor:MetricAlert": "metric",
    "azure-native:monitor:ScheduledQueryRule": "log",
    "azure-native:monitor:ActivityLogAlert": "activity-log",
}


def alert_summary(recording: Recording) -> dict[str, Any]:
    """How many alerts the stack ships, by source and by severity (activity-log alerts have none)."""
    by_source: Counter = Counter()
    by_severity: Counter = Counter()
    for r in recording.resources:
        if r.type in ALERT_TYPES:
            by_source[ALERT_TYPES[r.type]] += 1
            if "severity" in r.inputs:
                by_severity[str(r.inputs["severity"])] += 1
        elif r.type == "azure-native:alertsmanagement:PrometheusRuleGroup":
            for rule in r.inputs.get("rules", []):
                if "alert" in rule:
                    by_source["prometheus"] += 1
                    by_severity[str(rule["severity"])] += 1
    return {"total": sum(by_source.values()), "by_source": dict(sorted(by_source.items())), "by_severity": dict(sorted(by_severity.items()))}


def write_plan(path: str, plan: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(plan, f, indent=1, sort_keys=False)
        f.write("\n")


def render_tree(recording: Recording) -> str:
    """The resources as `pulumi preview` shows them: a tree by parent, protected ones marked."""
    children: dict[Optional[str], list] = defaultdict(list)
    for r in recording.resources:
        children[r.parent].append(r)
    width_type = max((len(r.type) for r in recording.resources), default=10) + 8
    lines = [f"     {'Type':<{width_type}} Name"]

    def walk(parent: Optional[str], prefix: str) -> None:
        kids = children.get(parent, [])
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            mark = "  [protected]" if r.protect else ""
            label = f"{prefix}{branch}{r.type}"
            lines.append(f" +   {label:<{width_type}} {r.name}{mark}")
            walk(r.urn, prefix + ("" if parent is None else ("   " if last else "│  ")))

    walk(None, "")
    counts = Counter(r.type for r in recording.resources)
    lines.append("")
    lines.append("Resources by type:")
    for type_, n in sorted(counts.items()):
        lines.append(f"    {n:4d} {type_}")
    protected = sum(1 for r in recording.resources if r.protect)
    lines.append(f"    {len(recording.resources):4d} to create ({protected} protected)")
    return "\n".join(lines)

