"""Dedicated production: the same platform, dedicated to one business unit and hardened."""
from .config import StackConfig
from .shared import budgets, export_platform, observability, platform, platform_rotations, tenant_environment


def build(cfg: StackConfig) -> None:
    shared = platform(cfg)
    budgets(shared, observability(shared))
    [tenant] = cfg.tenants
    export_platform(shared, {tenant.key: tenant_environment(shared, tenant)})
    platform_rotations(shared, [tenant])
