"""Multi-tenant non-production: one shared platform, every business unit's environments on it."""
import pulumi

from .config import StackConfig
from .shared import landing_zone


def build(cfg: StackConfig) -> None:
    zone = landing_zone(cfg)
    pulumi.export("resourceGroups", {k: v.name for k, v in zone.resource_groups.items()})
    pulumi.export("keyVaultUri", zone.key_vault.properties.vault_uri)
    pulumi.export("tenantEnvironments", [f"{u.name}-{env}" for u in cfg.units for env in u.environments])
