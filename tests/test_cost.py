"""The cost estimator on a small stack computed by hand, the split per environment, unpriced meters, the price table
and its refresh from a recorded Retail Prices API response.

tests/data/retail-prices-page{1,2}.json are two pages in the API's documented response format
(https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices: BillingCurrency, Items,
NextPageLink, Count; item fields unitPrice, armRegionName, meterName, productName, unitOfMeasure, type, ...), built
offline from data/prices.json (no network here) with decoys a refresh must skip: a Spot and a Windows price, a
reservation and another region for Standard_D4ds_v5. Two rows of the table (grafana/Standard, dns/private-zone) are
left out of the recording on purpose.
"""
import copy
import json
import os
from decimal import Decimal

import pytest

from stacks.config import CostAssumptions
from tools.cost import prices as price_table
from tools.cost.__main__ import main as cost_main
from tools.cost.estimate import FREE, estimate, split
from tools.cost.prices import PriceRow, PriceTable, load_prices, parse_table, refresh
from tools.cost.report import cost_section, marginal, one_more_environment

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
REGION = "westeurope"
WORKING = {"WORKING_START": "30 6 * * 1-5", "WORKING_END": "0 20 * * 1-5"}  # 13.5 h x 5 days = 67.5 h a week


def row(meter: str, unit: str, price: str, region: str = REGION) -> PriceRow:
    return PriceRow(meter, region, unit, Decimal(price), "test", "2026-11-23")


PRICES = PriceTable("USD", REGION, "2026-11-23", [
    row("aks/control-plane/Free", "1 Hour", "0"),
    row("lb/Standard", "1 Hour", "0.025"),
    row("vm/Standard_D2ds_v5", "1 Hour", "0.131"),
    row("vm/Standard_D4ds_v5", "1 Hour", "0.262"),
    row("postgres/compute/Standard_B2ms", "1 Hour", "0.1584"),
    row("postgres/storage", "1 GB/Month", "0.133"),
    row("postgres/backup/LRS", "1 GB/Month", "0.10"),
    row("storage/blob-hot/ZRS", "1 GB/Month", "0.026"),
])
ASSUMPTIONS = CostAssumptions(hours_per_month=730, files_gb_per_environment=20, postgres_backup_gb_over_free=10)


def resource(type_: str, name: str, inputs: dict, parent: str = "urn:component::aks") -> dict:
    return {"urn": f"urn:pulumi:t::p::{type_}::{name}", "type": type_, "name": name, "custom": True, "parent": parent, "inputs": inputs}


def tenant(unit: str, environment: str) -> list[dict]:
    ns = f"odoo-{unit}-{environment}"
    labels = {"odoo-platform/tenant": unit, "odoo-platform/environment": environment}
    values = {
        "WEB_MIN_REPLICAS": "1", "WEB_MAX_REPLICAS": "2", "WEB_IDLE_REPLICAS": "0", "WEB_CPU_REQUEST": "500m", "WEB_MEMORY_REQUEST": "1024Mi",
        "CRON_CPU_REQUEST": "500m", "CRON_MEMORY_REQUEST": "1024Mi", "CRON_THREADS": "1", **WORKING,
    }
    return [
        resource("kubernetes:core/v1:Namespace", f"{unit}-{environment}-ns", {"metadata": {"name": ns, "labels": labels}}),
        resource("kubernetes:core/v1:ConfigMap", f"{unit}-{environment}-values", {"metadata": {"name": "release-values", "namespace": ns, "labels": labels}, "data": values}),
        resource("kubernetes:core/v1:ConfigMap", f"{unit}-{environment}-config", {"metadata": {"name": "odoo-config", "namespace": ns}, "data": {"odoo.conf": "[options]\nworkers = 2\n"}}),
    ]


def small_stack() -> list[dict]:
    system = {"name": "system", "vmSize": "Standard_D2ds_v5", "enableAutoScaling": True, "count": 1, "minCount": 1, "maxCount": 3, "maxPods": 50, "nodeLabels": {"workload-class": "system"}}
    return [
        {"urn": "urn:component::aks", "type": "odoo-platform:aks:AksCluster", "name": "aks", "custom": False, "parent": None, "inputs": {}},
        resource("azure-native:containerservice:ManagedCluster", "aks", {
            "location": REGION, "sku": {"name": "Base", "tier": "Free"}, "networkProfile": {"loadBalancerSku": "standard"}, "agentPoolProfiles": [system],
        }),
        resource("azure-native:containerservice:AgentPool", "pool-web", {
            "agentPoolName": "web", "vmSize": "Standard_D4ds_v5", "enableAutoScaling": True, "count": 0, "minCount": 0, "maxCount": 4, "maxPods": 50,
            "nodeLabels": {"workload-class": "web"},
        }),
        resource("azure-native:dbforpostgresql:Server", "psql", {
            "location": REGION, "sku": {"name": "Standard_B2ms", "tier": "Burstable"}, "storage": {"storageSizeGB": 64},
            "highAvailability": {"mode": "Disabled"}, "backup": {"geoRedundantBackup": "Disabled"},
        }, parent="urn:component::postgres"),
        resource("azure-native:storage:StorageAccount", "st", {"location": REGION, "sku": {"name": "Standard_ZRS"}}, parent="urn:component::storage"),
        resource("azure-native:redisenterprise:RedisEnterprise", "redis", {"location": REGION, "sku": {"name": "Balanced_B999"}, "highAvailability": "Disabled"}),
        resource("azure-native:resources:ResourceGroup", "rg", {"location": REGION}),
        *tenant("a", "dev"),
        *tenant("b", "dev"),
    ]


@pytest.fixture(scope="module")
def small():
    return estimate("dev", small_stack(), PRICES, ASSUMPTIONS)


def by_name(result, name):
    [item] = [i for i in result.items + result.unpriced if i.name == name]
    return item


def test_a_small_stack_to_the_cent(small):
    # By hand, 730 hours a month:
    #   AKS Free control plane                       730 x 0         =   0.00
    #   load balancer (standard, created by AKS)     730 x 0.025     =  18.25
    #   system pool: typical = min 1 node            730 x 0.131     =  95.63
    #   web pool: 2 environments x 1 web pod (500m/1024Mi) fit one D4ds_v5 (6 such pods a node), min 0; the node runs
    #     67.5 of 168 hours a week:  730 x 67.5/168 = 293.3035714 node-hours x 0.262           =  76.85
    #   PostgreSQL B2ms 730 x 0.1584 = 115.632 -> 115.63; storage 64 GB x 0.133 = 8.512 -> 8.51; backup 10 GB x 0.10 = 1.00
    #   files: 2 environments x 20 GB x 0.026         = 1.04
    expected = {"aks control plane": "0.00", "aks load balancer": "18.25", "pool system": "95.63", "pool web": "76.85",
                "psql compute": "115.63", "psql storage": "8.51", "psql backup storage": "1.00", "st": "1.04"}
    assert {i.name: str(i.monthly) for i in small.items} == expected
    assert small.total == Decimal("316.91")
    # Range: nodes at the autoscalers' minimum (system 1, web 0) and maximum (system 3: 286.89, web 4: 765.04).
    assert small.total_range() == (Decimal("240.06"), Decimal("1196.36"))
    assert small.assumptions["nodes"]["web"] == {"vmSize": "Standard_D4ds_v5", "min": 0, "typical": 1, "max": 4}


def test_off_hours_saving_matches_a_hand_computation(small):
    # The web node is idle 168 - 67.5 = 100.5 hours a week: 730 x 100.5/168 x 0.262 = 114.4144... -> 114.41
    assert small.off_hours_saving == Decimal("114.41")
    assert small.assumptions["workingHoursPerWeek"] == "67.5"
    # The same resources in a production stack run around the clock: no saving, the web node all month.
    production = estimate("prod-x", small_stack(), PRICES, ASSUMPTIONS)
    assert production.off_hours_saving == Decimal("0.00")
    assert by_name(production, "pool web").monthly == Decimal("191.26")  # 730 x 0.262


def test_an_unknown_sku_or_type_is_unpriced_never_zero(small):
    redis = by_name(small, "redis")
    assert redis.monthly is None and redis.meter == "redis/Balanced_B999" and "no price" in redis.note
    assert all(i.monthly is not None for i in small.items) and small.unpriced == [redis]
    unknown = resource("azure-native:foo:Bar", "bar", {"location": REGION})
    result = estimate("dev", [*small_stack(), unknown], PRICES, ASSUMPTIONS)
    assert [i.name for i in result.unpriced] == ["redis", "bar"] and result.total == small.total
    # The plan's section lists them apart from the total.
    section = cost_section("dev", small_stack(), ASSUMPTIONS, PRICES)
    assert section["total"] == "316.91" and [u["meter"] for u in section["unpriced"]] == ["redis/Balanced_B999"]


def test_the_split_per_environment_sums_to_the_total(small):
    shares = small.by_environment()
    assert set(shares) == {"a-dev", "b-dev"} and sum(shares.values()) == small.total
    # Two identical environments: equal shares to the cent, the odd cent of each item to one of them.
    assert abs(shares["a-dev"] - shares["b-dev"]) <= Decimal("0.08")


def test_split_keeps_every_cent_and_follows_the_weights():
    shares = split(Decimal("100.00"), {"a": Decimal(1), "b": Decimal(1), "c": Decimal(1)})
    assert sum(shares.values()) == Decimal("100.00") and sorted(shares.values()) == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]
    assert split(Decimal("10.00"), {"a": Decimal(3), "b": Decimal(1)}) == {"a": Decimal("7.50"), "b": Decimal("2.50")}


def test_one_more_environment_costs_its_storage_until_a_node_is_needed(small):
    grown, like = one_more_environment(small_stack())
    assert like == "a-dev" and len(grown) == len(small_stack()) + 3
    more = marginal("dev", small_stack(), PRICES, ASSUMPTIONS, small)
    assert more.monthly == Decimal("0.52")  # 20 GB x 0.026; three web pods still fit the one node


def test_every_price_row_names_its_source_and_date():
    table = load_prices()
    assert table.currency == "USD" and table.region == REGION
    seen = set()
    for r in table.rows:
        assert r.price >= 0 and r.source and r.date and r.unit and r.retail.get("serviceName"), r.meter
        assert (r.meter, r.region) not in seen, r.meter
        seen.add((r.meter, r.region))


def test_free_types_and_priced_types_do_not_overlap():
    from tools.cost.estimate import Pricer

    pricer = Pricer("dev", [], PRICES, ASSUMPTIONS)
    assert not set(FREE) & set(pricer.dispatch())


def recorded_pages() -> list[dict]:
    pages = []
    for n in (1, 2):
        with open(os.path.join(DATA, f"retail-prices-page{n}.json"), encoding="utf-8") as f:
            pages.append(json.load(f))
    return pages


def test_refresh_reprices_from_the_api_and_keeps_what_it_does_not_answer():
    pages = recorded_pages()
    d4 = next(i for i in pages[1]["Items"] + pages[0]["Items"] if i["armSkuName"] == "Standard_D4ds_v5" and i["type"] == "Consumption"
              and i["armRegionName"] == REGION and "Spot" not in i["meterName"] and "Windows" not in i["productName"])
    d4["unitPrice"] = 0.3  # as if Azure had changed the price
    requested = []

    def fetch(url: str) -> dict:
        requested.append(url)
        return pages[1] if url == pages[0]["NextPageLink"] else pages[0]

    table = load_prices()
    result = refresh(table, fetch, today="2027-01-04")
    new = {(r.meter, r.region): r for r in result.table.rows}
    assert new[("vm/Standard_D4ds_v5", REGION)].price == Decimal("0.3")  # not the Spot, Windows, reservation or eastus decoys
    assert new[("vm/Standard_D4ds_v5", REGION)].source.startswith(price_table.API) and d4["meterId"] in new[("vm/Standard_D4ds_v5", REGION)].source
    assert new[("vm/Standard_D4ds_v5", REGION)].date == "2027-01-04" == result.table.date
    assert sorted(result.unmatched) == ["dns/private-zone (global)", "grafana/Standard (westeurope)"]
    old = {(r.meter, r.region): r for r in table.rows}
    assert new[("grafana/Standard", REGION)] == old[("grafana/Standard", REGION)]
    # Both pages read for each query (the regional one and the global one), on-demand prices asked for.
    assert len(requested) == 2 * len({r.region for r in table.rows})
    assert all("priceType%20eq%20%27Consumption%27" in u for u in requested if u != pages[0]["NextPageLink"])


def test_refresh_prices_command_writes_a_table_the_estimator_reads(tmp_path, capsys):
    out = tmp_path / "prices.json"
    pages = [os.path.join(DATA, f"retail-prices-page{n}.json") for n in (1, 2)]
    assert cost_main(["refresh-prices", "--recorded", *pages, "--out", str(out)]) == 0
    assert "2 rows kept as they were" in capsys.readouterr().out
    refreshed = parse_table(json.loads(out.read_text()))
    assert len(refreshed.rows) == len(load_prices().rows)
    assert estimate("dev", small_stack(), refreshed, ASSUMPTIONS).total > 0


def test_assumptions_change_the_estimate():
    more_files = copy.deepcopy(ASSUMPTIONS).model_copy(update={"files_gb_per_environment": 120})
    result = estimate("dev", small_stack(), PRICES, more_files)
    assert by_name(result, "st").monthly == Decimal("6.24")  # 2 x 120 GB x 0.026


def test_a_dedicated_unit_stack_is_derived_from_the_production_template(prod_settings):
    from tools.cost.compare import unit_stack_settings
    from stacks.config import load_config

    unit = {"name": "civil", "displayName": "Acme Civil Works", "environments": ["dev", "uat"], "criticality": "project-operations"}
    cfg = load_config("prod-civil", unit_stack_settings(prod_settings, unit))
    assert [(u.name, [e.name for e in u.environments], u.criticality) for u in cfg.units] == [("civil", ["prod"], "project-operations")]
    assert cfg.tags.model_extra == {"business-unit": "civil"} and cfg.sizing == prod_settings["sizing"]
