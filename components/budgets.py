"""Monthly cost budgets: one per stack, one per business unit of a shared stack, notifying the stack's action groups.

Scope: the subscription, filtered on the stack's resource groups (its own, the AKS node group and the DR group).
A resource-group-scoped budget would miss the node group, where AKS bills the nodes and the load balancer, and the
tag filter alone would miss usage billed before a tag reached a resource. Azure evaluates a budget about once a day
and keeps its notifications at most five (https://learn.microsoft.com/azure/cost-management-billing/costs/tutorial-acm-create-budgets).
A Budget takes no tags (Microsoft.Consumption/budgets has no `tags` property), so the stack's tags cannot go on it.
Filters, notification fields and the start-date rules: https://learn.microsoft.com/azure/templates/microsoft.consumption/budgets
(a start date in the past must lie in the current month when the budget is created).
"""
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
from pulumi_azure_native import consumption

from .naming import Naming

# The tag that names a business unit (Pulumi.prod.yaml `tags.business-unit`): what a unit's budget filters on.
UNIT_TAG = "business-unit"
DEFAULT_ACTUAL = (80.0, 100.0, 120.0)
DEFAULT_FORECASTED = (100.0,)


@dataclass(frozen=True)
class BudgetsArgs:
    naming: Naming
    subscription_id: pulumi.Input[str]
    resource_group_names: Sequence[pulumi.Input[str]]
    amount: float
    start: str  # YYYY-MM-01
    contact_groups: Sequence[pulumi.Input[str]]  # action group ids
    contact_emails: Sequence[str] = ()
    units: Mapping[str, float] = field(default_factory=dict)
    actual_thresholds: Sequence[float] = DEFAULT_ACTUAL
    forecasted_thresholds: Sequence[float] = DEFAULT_FORECASTED


def notifications(args: BudgetsArgs) -> dict[str, consumption.NotificationArgs]:
    """One notification per threshold, keyed `actual-80`, `forecasted-100`: every one to the same action groups."""
    found: dict[str, consumption.NotificationArgs] = {}
    for kind, thresholds in (("Actual", args.actual_thresholds), ("Forecasted", args.forecasted_thresholds)):
        for threshold in thresholds:
            found[f"{kind.lower()}-{threshold:g}".replace(".", "_")] = consumption.NotificationArgs(
                enabled=True,
                operator=consumption.OperatorType.GREATER_THAN,
                threshold=threshold,
                threshold_type=kind,
                contact_groups=list(args.contact_groups),
                contact_emails=list(args.contact_emails),
            )
    return found


class StackBudgets(pulumi.ComponentResource):
    """`stack`: the whole stack's budget; `units`: per business unit, the stack's groups and the unit's tag."""

    def __init__(self, name: str, args: BudgetsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:budgets:StackBudgets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        scope = pulumi.Output.concat("/subscriptions/", args.subscription_id)
        groups = consumption.BudgetComparisonExpressionArgs(name="ResourceGroupName", operator="In", values=list(args.resource_group_names))
        period = consumption.BudgetTimePeriodArgs(start_date=f"{args.start}T00:00:00Z")
        alerts = notifications(args)

        def budget(resource_name: str, budget_name: str, amount: float, filter_: consumption.BudgetFilterArgs) -> consumption.Budget:
            return consumption.Budget(
                resource_name,
                budget_name=budget_name,
                scope=scope,
                amount=amount,
                category="Cost",
                time_grain="Monthly",
                time_period=period,
                filter=filter_,
                notifications=alerts,
                opts=child,
            )

        self.stack = budget("budget", args.naming.resource("budget"), args.amount, consumption.BudgetFilterArgs(dimensions=groups))
        self.units = {
            unit: budget(
                f"budget-{unit}",
                args.naming.resource("budget", unit),
                amount,
                consumption.BudgetFilterArgs(
                    and_=[
                        consumption.BudgetFilterPropertiesArgs(dimensions=groups),
                        consumption.BudgetFilterPropertiesArgs(tags=consumption.BudgetComparisonExpressionArgs(name=UNIT_TAG, operator="In", values=[unit])),
                    ]
                ),
            )
            for unit, amount in args.units.items()
        }
        self.register_outputs({"stack": self.stack.id, "units": {u: b.id for u, b in self.units.items()}})
