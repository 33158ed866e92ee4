"""Dedicated production: the same platform, dedicated to one business unit and hardened."""
import pulumi

from .config import StackConfig
from .shared import landing_zone


def build(cfg: StackConfig) -> None:
    zone = landing_zone(cfg)
    pulumi.export("resourceGroups", {k: v.name for k, v in zone.resource_groups.items()})
    pulumi.export("keyVaultUri", zone.key_vault.properties.vault_uri)
    pulumi.export("unit", cfg.units[0].name)
