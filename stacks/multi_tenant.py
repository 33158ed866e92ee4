"""Multi-tenant non-production: one shared platform, every business unit's environments on it."""
from .config import StackConfig
from .shared import export_platform, observability, platform, tenant_environment


def build(cfg: StackConfig) -> None:
    shared = platform(cfg)
    observability(shared)
    export_platform(shared, {t.key: tenant_environment(shared, t) for t in cfg.tenants})
