"""Dedicated production: the same platform, dedicated to one business unit and hardened."""
import pulumi

from .config import StackConfig
from .multi_tenant import ODOO_SERVICE_ACCOUNT
from .shared import platform, tenant_namespace


def build(cfg: StackConfig) -> None:
    shared = platform(cfg)
    zone = shared.zone
    [(unit, env)] = cfg.tenant_environments
    namespace = tenant_namespace(unit.name, env)
    identity = shared.aks.workload_identity(f"{unit.name}-{env}", namespace, ODOO_SERVICE_ACCOUNT, zone.resource_groups["management"].name)
    pulumi.export("resourceGroups", {k: v.name for k, v in zone.resource_groups.items()})
    pulumi.export("keyVaultUri", zone.key_vault.properties.vault_uri)
    pulumi.export("oidcIssuerUrl", shared.aks.oidc_issuer_url)
    pulumi.export("tenantEnvironments", {f"{unit.name}-{env}": {"namespace": namespace, "identityClientId": identity.client_id}})
