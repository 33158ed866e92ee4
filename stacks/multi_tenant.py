"""Multi-tenant non-production: one shared platform, every business unit's environments on it."""
from .config import StackConfig
from .shared import export_platform, platform, tenant_environment


def build(cfg: StackConfig) -> None:
    shared = platform(cfg)
    export_platform(shared, {t.key: tenant_environment(shared, t) for t in cfg.tenants})
