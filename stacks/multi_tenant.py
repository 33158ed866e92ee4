"""Multi-tenant non-production: one shared platform, every business unit's environments on it."""
import pulumi

from .config import StackConfig
from .shared import platform, tenant_namespace

ODOO_SERVICE_ACCOUNT = "odoo"


def build(cfg: StackConfig) -> None:
    shared = platform(cfg)
    zone = shared.zone
    tenants = {}
    for unit, env in cfg.tenant_environments:
        namespace = tenant_namespace(unit.name, env)
        identity = shared.aks.workload_identity(f"{unit.name}-{env}", namespace, ODOO_SERVICE_ACCOUNT, zone.resource_groups["management"].name)
        tenants[f"{unit.name}-{env}"] = {"namespace": namespace, "identityClientId": identity.client_id}
    pulumi.export("resourceGroups", {k: v.name for k, v in zone.resource_groups.items()})
    pulumi.export("keyVaultUri", zone.key_vault.properties.vault_uri)
    pulumi.export("oidcIssuerUrl", shared.aks.oidc_issuer_url)
    pulumi.export("tenantEnvironments", tenants)
