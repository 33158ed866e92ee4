"""The one place that decides production versus non-production."""
from enum import Enum
from typing import Literal, Optional

LockLevel = Literal["CanNotDelete", "ReadOnly"]


class Tier(str, Enum):
    PRODUCTION = "production"
    NON_PRODUCTION = "non-production"

    @property
    def is_production(self) -> bool:
        return self is Tier.PRODUCTION


def tier_for_stack(stack: str) -> Tier:
    """`prod` and `prod-*` stacks are production; every other stack is not."""
    return Tier.PRODUCTION if stack == "prod" or stack.startswith("prod-") else Tier.NON_PRODUCTION


def lock_for(tier: Tier) -> Optional[LockLevel]:
    """Production stateful resources and resource groups get an Azure delete lock."""
    return "CanNotDelete" if tier.is_production else None


def protect_for(tier: Tier) -> bool:
    """Production stateful resources are protected from `pulumi destroy` and replacement."""
    return tier.is_production


AdmissionEffect = Literal["Deny", "Audit"]


def admission_effect(tier: Tier) -> AdmissionEffect:
    """Azure Policy for Kubernetes: production rejects a non-compliant object at admission (Deny); non-production
    admits it and reports it (Audit), so a trial manifest in dev is seen, not blocked."""
    return "Deny" if tier.is_production else "Audit"
