"""The odoo-governance CrossGuard pack. Run by `pulumi preview --policy-pack policies` or `python -u policies/`."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from rules import all_policies  # noqa: E402

PolicyPack(
    name="odoo-governance",
    description="Governance for the odoo-platform: security everywhere, resilience and cost by tier.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=all_policies(),
    provider="azure",
    tags=["azure", "aks", "odoo"],
)
