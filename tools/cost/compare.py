"""Shared versus dedicated for one business unit: its environments' share of the shared stack beside a `prod-<unit>` stack."""
import copy
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from stacks.config import load_config

from ..plan import backup_summary, resource_entry
from ..preview import run_stack, stack_settings
from .estimate import Estimate, estimate
from .prices import PriceTable


def unit_stack_settings(template: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
    """A dedicated `prod-<unit>` stack's settings: the production template serving `unit` alone, tagged with it.
    The template's network is kept: price does not depend on it (a real second stack needs its own address space)."""
    settings = copy.deepcopy(template)
    settings["units"] = [{**{k: v for k, v in unit.items() if k != "environments"}, "environments": ["prod"]}]
    settings["tags"] = {**settings["tags"], "business-unit": unit["name"]}
    return settings


@dataclass
class Side:
    stack: str
    estimate: Estimate
    environments: dict[str, Decimal]
    facts: dict[str, str]

    @property
    def monthly(self) -> Decimal:
        return sum(self.environments.values(), Decimal(0))


def _facts(stack: str, settings: dict[str, Any], resources: list[dict[str, Any]], backups: dict[str, Any], keys: list[str]) -> dict[str, str]:
    """The seeds' decision criteria (isolation, customisation, compliance, recovery objectives) as this stack meets them."""
    cfg = load_config(stack, settings)
    server = next(r["inputs"] for r in resources if r["type"] == "azure-native:dbforpostgresql:Server" and not r["inputs"].get("sourceServerResourceId"))
    replica = any(r["inputs"].get("sourceServerResourceId") for r in resources if r["type"] == "azure-native:dbforpostgresql:Server")
    others = len(cfg.tenants) - len(keys)
    namespaces = [t.namespace for t in cfg.tenants if t.key in keys]
    targets = [backups.get(ns, {}).get("targets", {}) for ns in namespaces]
    locks = sum(1 for r in resources if r["type"] == "azure-native:authorization:ManagementLockByScope")
    return {
        "isolation": (
            f"own namespace, database and role, Redis prefix, container and identity on a cluster and servers shared with {others} other environments"
            if others else "own cluster, PostgreSQL server, Redis, storage accounts, Key Vault and network"
        ),
        "customisation": f"sizing {cfg.sizing}, maintenance {cfg.maintenance.day_of_week} {cfg.maintenance.start_time}, Kubernetes {cfg.kubernetes_version}"
        + (", shared with every unit of the stack" if others else ", the unit's own"),
        "compliance": f"tier {cfg.tier.value}, data-classification {cfg.tags.data_classification}, {locks} delete locks, "
        f"{'resources protected' if any(r.get('protect') for r in resources) else 'nothing protected'}",
        "recovery objectives": f"drill RPO {', '.join(sorted({str(t.get('rpo')) for t in targets}))} / RTO {', '.join(sorted({str(t.get('rto')) for t in targets}))}; "
        f"PostgreSQL HA {server.get('highAvailability', {}).get('mode', 'Disabled')}, geo-backup {server.get('backup', {}).get('geoRedundantBackup', 'Disabled')}"
        + (", warm standby in the DR region" if replica else ""),
    }


def price_stack(stack: str, settings: dict[str, Any], prices: PriceTable, keys: list[str] | None = None) -> Side:
    cfg = load_config(stack, settings)
    recording = run_stack(stack, settings)
    resources = [resource_entry(r) for r in recording.resources]
    result = estimate(stack, resources, prices, cfg.cost_assumptions)
    shares = result.by_environment()
    chosen = keys if keys is not None else list(shares)
    return Side(stack, result, {k: shares[k] for k in chosen}, _facts(stack, settings, resources, backup_summary(recording), chosen))


def compare(unit_name: str, prices: PriceTable, shared_stack: str = "dev", template_stack: str = "prod") -> tuple[Side, Side]:
    shared_settings = stack_settings(shared_stack)
    units = {u["name"]: u for u in shared_settings["units"]}
    if unit_name not in units:
        raise ValueError(f"unit {unit_name!r} is not in stack {shared_stack} ({', '.join(units)})")
    unit = units[unit_name]
    keys = [f"{unit_name}-{e if isinstance(e, str) else e['name']}" for e in unit["environments"]]
    shared = price_stack(shared_stack, shared_settings, prices, keys)
    dedicated_stack = f"prod-{unit_name}"
    dedicated = price_stack(dedicated_stack, unit_stack_settings(stack_settings(template_stack), unit), prices)
    return shared, dedicated


def comparison_lines(unit: str, shared: Side, dedicated: Side, currency: str) -> list[str]:
    difference = dedicated.monthly - shared.monthly
    lines = [
        f"| {unit} | shared (`{shared.stack}`) | dedicated (`{dedicated.stack}`) |",
        "|---|---|---|",
        f"| environments | {', '.join(shared.environments)} | {', '.join(dedicated.environments)} |",
        f"| monthly ({currency}) | {shared.monthly} | {dedicated.monthly} |",
    ]
    for criterion in shared.facts:
        lines.append(f"| {criterion} | {shared.facts[criterion]} | {dedicated.facts[criterion]} |")
    lines.append(f"\nDedicated costs {difference} {currency} a month more than the unit's share of the shared stack"
                 + (" (the shared side is non-production; the dedicated side adds production hardening: HA, zones, DR)." if shared.estimate.tenants != dedicated.estimate.tenants else "."))
    return lines
