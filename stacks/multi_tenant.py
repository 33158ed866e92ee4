"""Multi-tenant non-production: one shared platform, every business unit's environments on it."""
from .config import StackConfig
from .refresh import export_endpoints
from .shared import budgets, export_platform, observability, platform, platform_rotations, tenant_environment


def build(cfg: StackConfig) -> None:
    shared = platform(cfg)
    budgets(shared, observability(shared))
    export_endpoints(shared)
    export_platform(shared, {t.key: tenant_environment(shared, t) for t in cfg.tenants})
    platform_rotations(shared, cfg.tenants)
