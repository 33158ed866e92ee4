"""The cost of the shipped stacks: every Azure resource accounted for, the split per environment, the AKS cost add-on."""
from decimal import Decimal

from stacks.config import load_config
from tools.cost.estimate import FREE, Pricer, estimate
from tools.cost.prices import load_prices
from tools.cost.report import cost_section
from tools.plan import resource_entry
from tools.preview import stack_settings

# Charges the estimate does not model yet, reported unpriced (never counted as zero).
NOT_ESTIMATED = {
    "azure-native:alertsmanagement:PrometheusRuleGroup",  # billed as query samples processed
    "azure-native:kubernetesconfiguration:Extension",  # the Flux extension
    "azure-native:kubernetesconfiguration:FluxConfiguration",
    "backup/instance/blobServices",  # Azure Backup protected-instance fees
    "backup/instance/flexibleServers",
}


def cost_of(recording):
    resources = [resource_entry(r) for r in recording.resources]
    cfg = load_config(recording.stack, stack_settings(recording.stack))
    return resources, estimate(recording.stack, resources, load_prices(), cfg.cost_assumptions)


def test_every_azure_resource_is_priced_free_or_reported(stack):
    resources, result = cost_of(stack)
    handled = set(FREE) | set(Pricer(stack.stack, [], load_prices(), load_config(stack.stack, stack_settings(stack.stack)).cost_assumptions).dispatch())
    types = {r["type"] for r in resources if r["type"].startswith("azure-native:")}
    assert {u.meter for u in result.unpriced} <= NOT_ESTIMATED | (types - handled), sorted({u.meter for u in result.unpriced})
    assert result.total > 0 and all(i.monthly is not None and i.monthly >= 0 for i in result.items)


def test_the_split_per_environment_sums_to_the_stacks_total(dev):
    _, result = cost_of(dev)
    shares = result.by_environment()
    assert set(shares) == {t.key for t in load_config("dev", stack_settings("dev")).tenants}
    assert sum(shares.values()) == result.total
    # A unit's public DNS zone is split among that unit's environments only.
    zone = next(i for i in result.items if i.meter == "dns/public-zone" and i.name == "dns-zone-nordbau")
    assert zone.split == "unit/nordbau"


def test_the_plan_cost_section(stack):
    resources, result = cost_of(stack)
    section = cost_section(stack.stack, resources, load_config(stack.stack, stack_settings(stack.stack)).cost_assumptions)
    assert Decimal(section["total"]) == result.total == sum(Decimal(v) for v in section["byComponent"].values())
    assert sum(Decimal(v) for v in section["byEnvironment"].values()) == result.total
    assert Decimal(section["range"]["min"]) <= result.total <= Decimal(section["range"]["max"])
    assert Decimal(section["marginalEnvironment"]["monthly"]) > 0
    if stack.stack == "dev":
        assert section["assumptions"]["workingHoursPerWeek"] == "67.5" and Decimal(section["offHoursSaving"]) > 0
    else:
        assert section["assumptions"]["workingHoursPerWeek"] is None and section["offHoursSaving"] == "0.00"


def test_cost_analysis_add_on_only_where_the_tier_allows_it(stack):
    cluster = stack.one("azure-native:containerservice:ManagedCluster").inputs
    enabled = cluster.get("metricsProfile", {}).get("costAnalysis", {}).get("enabled", False)
    assert enabled == (cluster["sku"]["tier"] in ("Standard", "Premium"))
    assert enabled == (stack.stack == "prod")
