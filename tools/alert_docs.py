"""Regenerate README's alert tables ("What is watched") from the definitions the stacks deploy (`make alert-docs`)."""
import os
import sys

from components.metric_alerts import METRIC_ALERTS
from components import prometheus_rules as prom
from components.observability import LOG_ALERTS
from components.severity import Kind, severity
from components.tier import Tier

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- alert-tables:begin -->", "<!-- alert-tables:end -->"


def _number(value: float) -> str:
    if value >= 1024**3 and value % 1024**3 == 0:
        return f"{value / 1024**3:g} GiB"
    return f"{value:g}"


def tables() -> str:
    lines = ["| resource type | alert | metric (aggregation) | production | non-production | kind |", "|---|---|---|---|---|---|"]
    for arm_type, specs in METRIC_ALERTS.items():
        for spec in specs:
            relation = {"GreaterThan": ">", "GreaterThanOrEqual": ">=", "LessThan": "<", "LessThanOrEqual": "<="}[spec.operator]
            limit = f" x {spec.relative_to}" if spec.relative_to else ""
            role = f" ({spec.role} only)" if spec.role else ""
            lines.append(
                f"| `{arm_type}` | {spec.name}{role} | `{spec.metric}` ({spec.aggregation}, {spec.window}) "
                f"| {relation} {_number(spec.threshold[0])}{limit} | {relation} {_number(spec.threshold[1])}{limit} | {spec.kind.value} |"
            )
    example = prom.TenantWatch("gc-prod", "gc", "prod", "odoo-gc-prod", "prod.gc.example.com", Tier.PRODUCTION, "standard", prom.Slo(0.995, 1.0, 0.95))
    groups = [*prom.cluster_rule_groups(Tier.PRODUCTION, "standard"), *prom.tenant_rule_groups(example)]
    lines += ["", "| Prometheus rule group | alerts (kind, for) |", "|---|---|"]
    for group in groups:
        alerts = [f"{r.alert} ({r.kind.value if r.kind else ''}, {prom.prometheus_duration(r.for_)})" for r in group.rules if r.alert]
        recorded = sum(1 for r in group.rules if r.record)
        name = group.name.replace("gc-prod", "<tenant>")
        lines.append(f"| {name} | {', '.join(alerts) or '-'}{f'; {recorded} recording rules' if recorded else ''} |")
    lines += ["", "| log alert | kind | fires when |", "|---|---|---|"]
    lines += [f"| {a.name} | {a.kind.value} | {a.summary}: more than {a.threshold:g} in {a.window} per {a.split_by} |" for a in LOG_ALERTS]
    lines += ["", "| kind | production: standard | production: core-finance | core-finance in a business window | non-production |", "|---|---|---|---|---|"]
    for kind in Kind:
        lines.append(
            f"| {kind.value} | {severity(Tier.PRODUCTION, 'standard', kind)} | {severity(Tier.PRODUCTION, 'core-finance', kind)} "
            f"| {severity(Tier.PRODUCTION, 'core-finance', kind, True)} | {severity(Tier.NON_PRODUCTION, 'core-finance', kind)} |"
        )
    return "\n".join(lines)


def render(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return f"{text[:start]}\n{tables()}\n{text[end:]}"


def main() -> int:
    path = os.path.join(ROOT, "README.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(render(text))
    print(f"{path}: alert tables regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
