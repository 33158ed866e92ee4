"""The plan's `cost` section, the marginal cost of one more tenant environment, and the shared-versus-dedicated comparison."""
import copy
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Optional

from stacks.config import CostAssumptions

from .estimate import LABEL_TENANT, Estimate, estimate, money
from .prices import PriceTable, load_prices

MARGINAL_UNIT = "marginal"


def one_more_environment(resources: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Optional[str]]:
    """The resources with a copy of the first tenant environment's Kubernetes objects in a new namespace: what the
    program adds per environment on the cluster. Azure resources stay as they are (the same servers serve one more)."""
    namespaces = sorted(
        (r["inputs"]["metadata"]["name"], r["inputs"]["metadata"]["labels"]) for r in resources
        if r["type"] == "kubernetes:core/v1:Namespace" and LABEL_TENANT in r["inputs"].get("metadata", {}).get("labels", {})
    )
    if not namespaces:
        return resources, None
    namespace, labels = namespaces[0]
    like = f"{labels[LABEL_TENANT]}-{labels['odoo-platform/environment']}"
    copies = []
    for r in resources:
        metadata = r["inputs"].get("metadata", {}) if r["type"].startswith("kubernetes:") else {}
        if metadata.get("namespace") == namespace or (r["type"] == "kubernetes:core/v1:Namespace" and metadata.get("name") == namespace):
            twin = copy.deepcopy(r)
            twin["urn"] = f"{r['urn']}-{MARGINAL_UNIT}"
            meta = twin["inputs"]["metadata"]
            meta["namespace" if "namespace" in meta else "name"] = f"{namespace}-{MARGINAL_UNIT}"
            if LABEL_TENANT in meta.get("labels", {}):
                meta["labels"][LABEL_TENANT] = MARGINAL_UNIT
            copies.append(twin)
    return resources + copies, like


@dataclass
class Marginal:
    like: Optional[str]
    monthly: Decimal
    minimum: Decimal
    maximum: Decimal


def marginal(stack: str, resources: list[dict[str, Any]], prices: PriceTable, assumptions: CostAssumptions, base: Estimate) -> Marginal:
    grown, like = one_more_environment(resources)
    if like is None:
        return Marginal(None, Decimal(0), Decimal(0), Decimal(0))
    more = estimate(stack, grown, prices, assumptions)
    (low, high), (more_low, more_high) = base.total_range(), more.total_range()
    return Marginal(like, more.total - base.total, more_low - low, more_high - high)


def cost_section(stack: str, resources: list[dict[str, Any]], assumptions: Optional[CostAssumptions] = None, prices: Optional[PriceTable] = None) -> dict[str, Any]:
    """The plan file's `cost`: total, range, per resource, per component, per tenant environment, unpriced, assumptions."""
    prices = prices or load_prices()
    assumptions = assumptions or CostAssumptions()
    result = estimate(stack, resources, prices, assumptions)
    low, high = result.total_range()
    more = marginal(stack, resources, prices, assumptions, result)
    return {
        "currency": result.currency,
        "priceTable": {"region": prices.region, "date": prices.date},
        "total": str(result.total),
        "range": {"min": str(low), "max": str(high)},
        "offHoursSaving": str(result.off_hours_saving),
        "assumptions": result.assumptions,
        "byComponent": {k: str(v) for k, v in result.by_component().items()},
        "byEnvironment": {k: str(v) for k, v in result.by_environment().items()},
        "marginalEnvironment": {"like": more.like, "monthly": str(more.monthly), "range": {"min": str(more.minimum), "max": str(more.maximum)}},
        "averagePerEnvironment": str(money(result.total / len(result.tenants))) if result.tenants else None,
        "resources": [i.as_json() for i in result.items],
        "unpriced": [{"urn": i.urn, "name": i.name, "type": i.type, "meter": i.meter, "reason": i.note} for i in result.unpriced],
    }


def summary_lines(section: dict[str, Any]) -> list[str]:
    """What the preview prints: total and range, the five largest items, one more environment, what is unpriced."""
    c = section["currency"]
    lines = [f"Cost: {section['total']} {c}/month (nodes min-max: {section['range']['min']}-{section['range']['max']}), prices of {section['priceTable']['date']}"]
    if section["assumptions"].get("workingHoursPerWeek"):
        lines.append(f"  off-hours scaling ({section['assumptions']['workingHoursPerWeek']} working hours a week) saves {section['offHoursSaving']} {c}/month")
    for item in sorted(section["resources"], key=lambda i: -Decimal(i["monthly"]))[:5]:
        lines.append(f"  {item['monthly']:>10} {c}  {item['component']}/{item['name']} ({item['meter']})")
    more = section["marginalEnvironment"]
    if more["like"]:
        lines.append(
            f"  one more environment like {more['like']}: +{more['monthly']} {c}/month (at the nodes' maximum +{more['range']['max']}); "
            f"today's average per environment {section['averagePerEnvironment']}"
        )
    if section["unpriced"]:
        meters = sorted({u["meter"] for u in section["unpriced"]})
        lines.append(f"  unpriced (not counted): {len(section['unpriced'])} items: {', '.join(meters)}")
    return lines
