"""The governance rules, by service. `policies/__main__.py` turns them into the PolicyPack."""
from pulumi_policy import Policy

from . import aks, cluster, governance, keyvault, kubernetes, network, observability, postgres, rbac, redis, refresh, stack, storage
from .common import DOCS, policies_for, stack_policy


def all_policies() -> list[Policy]:
    """Every policy of the pack, built once (building registers each policy's README row in DOCS)."""
    if not _BUILT:
        for module in (storage, postgres, redis, keyvault, aks, network, kubernetes, cluster, governance):
            for rule in module.RULES:
                _BUILT.extend(policies_for(rule))
        _BUILT.extend(stack_policy(rule) for rule in (*stack.RULES, *cluster.STACK_RULES, *rbac.RULES, *observability.RULES, *refresh.RULES))
    return list(_BUILT)


_BUILT: list[Policy] = []

__all__ = ["DOCS", "all_policies"]
