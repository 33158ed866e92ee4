"""Budgets per stack and per business unit (components/budgets.py) under the mocks, and their configuration rules."""
import copy

import pytest

from components.budgets import UNIT_TAG
from stacks.config import ConfigError, load_config
from tools.mocks import SUBSCRIPTION_ID
from tools.preview import run_stack, stack_settings
from tools.recording import Recording

BUDGET = "azure-native:consumption:Budget"
SCOPE = f"/subscriptions/{SUBSCRIPTION_ID}"


def budgets(recording: Recording) -> dict[str, dict]:
    return {b.inputs["budgetName"]: b.inputs for b in recording.of_type(BUDGET)}


def notifications(budget: dict) -> set[tuple[str, float]]:
    return {(n["thresholdType"], n["threshold"]) for n in budget["notifications"].values()}


def groups_of(budget: dict) -> list[str]:
    filter_ = budget["filter"]
    expressions = [f.get("dimensions") for f in filter_.get("and", [])] if "and" in filter_ else [filter_.get("dimensions")]
    [groups] = [e for e in expressions if e]
    assert groups["name"] == "ResourceGroupName" and groups["operator"] == "In"
    return groups["values"]


@pytest.fixture(scope="module")
def custom_dev() -> Recording:
    """The dev stack with its own thresholds and unit amounts."""
    settings = copy.deepcopy(stack_settings("dev"))
    settings["budgets"] = {"amount": 2000, "start": "2027-01-01", "units": {"gc": 900, "civil": 400}, "thresholds": {"actual": [50, 90], "forecasted": [110, 150]}}
    return run_stack("dev", settings)


def test_the_shared_stack_has_a_budget_and_one_per_unit(dev):
    found = budgets(dev)
    assert found["budget-acme-dev-weu"]["amount"] == 1000
    assert {name: b["amount"] for name, b in found.items() if name != "budget-acme-dev-weu"} == {
        "budget-acme-dev-weu-gc": 550, "budget-acme-dev-weu-civil": 275, "budget-acme-dev-weu-nordbau": 150,
    }
    for name, budget in found.items():
        assert budget["scope"] == SCOPE and budget["timeGrain"] == "Monthly" and budget["category"] == "Cost"
        assert budget["timePeriod"]["startDate"] == "2026-12-01T00:00:00Z"
        assert notifications(budget) == {("Actual", 80), ("Actual", 100), ("Actual", 120), ("Forecasted", 100)}, name
        # Every resource group of the stack, and the one AKS bills its nodes in.
        assert sorted(groups_of(budget)) == sorted([*(f"rg-acme-dev-weu-{p}" for p in ("compute", "data", "management", "network")), "rg-acme-dev-weu-aks-nodes"])
    unit = found["budget-acme-dev-weu-civil"]["filter"]["and"]
    assert {"tags": {"name": UNIT_TAG, "operator": "In", "values": ["civil"]}} in unit


def test_budgets_notify_the_stacks_notify_action_group(stack):
    [notify] = [g for g in stack.of_type("azure-native:monitor:ActionGroup") if g.name == "ag-notify"]
    for budget in budgets(stack).values():
        for notification in budget["notifications"].values():
            assert [g.rsplit("/", 1)[-1] for g in notification["contactGroups"]] == [notify.inputs["actionGroupName"]]
            assert notification["enabled"] and notification["operator"] == "GreaterThan"


def test_a_dedicated_stack_has_one_budget_over_its_groups_and_dr_group(prod):
    [(name, budget)] = budgets(prod).items()
    assert name == "budget-acme-prod-weu" and budget["amount"] == 6000 and "and" not in budget["filter"]
    assert "rg-acme-prod-neu-dr" in groups_of(budget) and "rg-acme-prod-weu-aks-nodes" in groups_of(budget)
    assert notifications(budget) == {("Actual", 80), ("Actual", 100), ("Actual", 120), ("Forecasted", 100)}


def test_thresholds_and_unit_amounts_come_from_config(custom_dev):
    found = budgets(custom_dev)
    assert {name: b["amount"] for name, b in found.items()} == {"budget-acme-dev-weu": 2000, "budget-acme-dev-weu-gc": 900, "budget-acme-dev-weu-civil": 400}
    for budget in found.values():
        assert notifications(budget) == {("Actual", 50), ("Actual", 90), ("Forecasted", 110), ("Forecasted", 150)}
        assert budget["timePeriod"]["startDate"] == "2027-01-01T00:00:00Z"


def test_no_budgets_when_the_stack_sets_none(dev_settings):
    settings = {k: v for k, v in dev_settings.items() if k != "budgets"}
    assert load_config("dev", settings).budgets is None


def errors(stack: str, raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_config(stack, raw)
    return e.value.problems


def test_bad_budgets_get_one_line_each_all_at_once(dev_settings):
    dev_settings["budgets"] = {
        "amount": -5, "start": "2026-12-15", "units": {"gc": 100, "roads": 50},
        "thresholds": {"actual": [80, 1500, 0], "forecasted": [100]},
    }
    found = errors("dev", dev_settings)
    assert all("\n" not in line for line in found)
    expected = [
        "odoo-platform:budgets.amount = -5: must be a positive monthly amount",
        "odoo-platform:budgets.start = \"2026-12-15\": must be the first day of a month",
        "odoo-platform:budgets.thresholds.actual[1] = 1500: must be a percentage of the budget from 0.01 to 1000",
        "odoo-platform:budgets.thresholds.actual[2] = 0: must be a percentage of the budget from 0.01 to 1000",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in found), (start, found)


def test_budget_cross_field_rules(dev_settings, prod_settings):
    dev_settings["budgets"] = {"amount": 100, "start": "2026-12-01", "units": {"gc": 80, "roads": 50}}
    found = errors("dev", dev_settings)
    assert any(line.startswith("odoo-platform:budgets.units.roads = 50.0: is not a unit of this stack") for line in found), found
    assert any(line.startswith("odoo-platform:budgets.units = ") and "add up to 130, more than the stack's budgets.amount 100" in line for line in found), found
    dev_settings["budgets"] = {"amount": 100, "start": "2026-12-01", "thresholds": {"actual": [50, 80, 100, 120], "forecasted": [100, 120, 120]}}
    found = errors("dev", dev_settings)
    assert any(line.startswith("odoo-platform:budgets.thresholds.forecasted = [100.0, 120.0, 120.0]: lists a threshold twice") for line in found), found
    assert any(line.startswith("odoo-platform:budgets.thresholds = ") and "at most 5 notifications per budget" in line for line in found), found
    prod_settings["budgets"] = {"amount": 100, "start": "2026-12-01", "units": {"gc": 50}}
    assert any(line.startswith("odoo-platform:budgets.units.gc = 50.0: a dedicated stack serves one unit") for line in errors("prod", prod_settings))


def test_good_budgets_pass(dev_settings):
    dev_settings["budgets"] = {"amount": 100, "start": "2026-12-01", "units": {"gc": 60, "civil": 40}, "thresholds": {"actual": [0.01, 1000]}}
    budgets_ = load_config("dev", dev_settings).budgets
    assert budgets_ is not None and budgets_.thresholds.actual == [0.01, 1000] and budgets_.thresholds.forecasted == [100]
