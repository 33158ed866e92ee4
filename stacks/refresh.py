"""Non-production refresh across two stacks (README.md "Refreshing non-production").

How the two stacks learn about each other:
- A NON-PRODUCTION stack's file names the source (`units[].environments[].refresh.from`). Its program reads the
  production stack's file (Pulumi.<prod>.yaml, through tools/stack_file.py and stacks/config.py) for the one fact it
  needs, the production storage account's name (components/naming.py: org, stack, location), and exports its refresh
  identity's principal id (`tenantEnvironments.<key>.refreshReader`).
- The PRODUCTION stack finds the non-production stack files that name it (same files, same loader, same validation),
  reads those principal ids through `pulumi.StackReference`, and creates every grant on its own scopes: read on
  `exports/<unit>/<environment>/` and nothing else. No non-production program ever writes to production.
Stack files are the deployment's source of truth and are in the repository next to Pulumi.yaml; principal ids exist
only once the non-production stack is deployed, so they come from its outputs. Order: deploy the non-production stack,
then production (production's `pulumi up` fails with a message naming the stack until the identity exists).
"""
import os
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_random as random

from components.db_bootstrap import refresh_database
from components.interfaces import private_endpoint
from components.naming import Naming, TenantNames
from components.postgres import TenantDatabaseOutputs
from components.refresh import (EXPORT, IMPORT, SERVICE_ACCOUNT, RefreshJob, RefreshJobs, RefreshJobsArgs, export_environment, exports_prefix,
                                import_environment)
from components.rotation import SecretLifetime
from components.storage import BACKUPS, EXPORTS
from tools import stack_file

from .config import PROJECT, ConfigError, StackConfig, load_config, production_units, raw_from_stack_file, refresh_source

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASKING_KEY = "refresh-masking-key"
# The masking key keys every pseudonym: rotating it changes them all, so it lives long (10 years) and rotates on purpose.
MASKING_KEY_LIFETIME = SecretLifetime(MASKING_KEY, 3650)
# The one description a grant to a non-production identity carries in a production stack (policies/rules/refresh.py).
READER_DESCRIPTION = "odoo-platform: refresh reader for non-production {stack} {unit}/{environment}"


@dataclass(frozen=True)
class RefreshRequest:
    stack: str  # the non-production stack
    target: TenantNames
    source_stack: str  # the production stack it refreshes from
    schedule: str
    masking: str


def _raw(stack: str) -> dict[str, Any]:
    path = os.path.join(ROOT, f"Pulumi.{stack}.yaml")
    declared = (stack_file.load(os.path.join(ROOT, "Pulumi.yaml"), "Pulumi.yaml") or {}).get("config") or {}
    defaults = {k: v["default"] for k, v in declared.items() if isinstance(v, dict) and "default" in v}
    return {**defaults, **raw_from_stack_file(stack_file.load(path) or {}, os.path.basename(path))}


def requests_of(cfg: StackConfig) -> list[RefreshRequest]:
    """The refreshed environments a (validated) non-production configuration declares."""
    production = production_units(ROOT)
    found = []
    for unit in cfg.units:
        for env in unit.environments:
            if env.refresh is None:
                continue
            source = refresh_source(env.refresh.source, unit.name, production)
            if source:
                found.append(RefreshRequest(cfg.stack, TenantNames(unit.name, env.name, env.ephemeral), source, env.refresh.schedule, env.refresh.masking))
    return found


def requests_for(production_stack: str) -> list[RefreshRequest]:
    """Every non-production stack file's refresh of an environment from `production_stack`."""
    found: list[RefreshRequest] = []
    for entry in sorted(os.listdir(ROOT)):
        stack = entry[len("Pulumi."):-len(".yaml")] if entry.startswith("Pulumi.") and entry.endswith(".yaml") else ""
        if not stack or stack == production_stack or stack == "prod" or stack.startswith("prod-"):
            continue
        try:
            cfg = load_config(stack, _raw(stack))
        except ConfigError as e:
            raise pulumi.RunError(f"{entry} (read for its refresh requests): {e}") from None
        found += [r for r in requests_of(cfg) if r.source_stack == production_stack]
    return found


def refresh_jobs_in(cfg: StackConfig, tenant: TenantNames) -> int:
    """How many refresh CronJobs run in `tenant`'s namespace: its import, or production's exports for its unit."""
    if cfg.tier.is_production:
        return len([r for r in requests_for(cfg.stack) if r.target.unit == tenant.unit])
    return len([r for r in requests_of(cfg) if r.target.key == tenant.key])


def reader_identity(target: TenantNames) -> str:
    """The workload identity (purpose) of an environment's import job: naming.identity(reader_identity(...))."""
    return f"{target.key}-refresh"


def refresh_readers(stack: str) -> list[tuple[str, str]]:
    """(environment key, Azure name of its reader identity) of every refreshed environment of `stack`, from its file:
    what the stack's program creates (tools/mocks.py answers a StackReference with it when no recording is given)."""
    cfg = load_config(stack, _raw(stack))
    return [(r.target.key, cfg.naming.identity(reader_identity(r.target))) for r in requests_of(cfg)]


def _production_naming(production_stack: str) -> Naming:
    raw = _raw(production_stack)
    return Naming(raw["org"], production_stack, raw["location"])


def exports_account_url(production_stack: str) -> str:
    return f"https://{_production_naming(production_stack).storage_account()}.blob.core.windows.net/"


def export_endpoints(shared: Any) -> list[Any]:
    """Non-production: a private endpoint in this network to each production storage account it imports exports from
    (public access is off there), registered in this landing zone's blob DNS zone. The account is assumed in the same
    subscription; another subscription's owner must approve the pending connection."""
    sources = sorted({r.source_stack for r in requests_of(shared.cfg)})
    endpoints = []
    for source in sources:
        naming = _production_naming(source)
        account_id = pulumi.Output.concat(
            "/subscriptions/", shared.subscription_id, "/resourceGroups/", naming.resource_group("data"),
            "/providers/Microsoft.Storage/storageAccounts/", naming.storage_account(),
        )
        endpoints.append(private_endpoint(f"{naming.storage_account()}-exports", account_id, "blob", shared.zone.private_access, {}, shared.zone))
    return endpoints


def refresh_import(shared: Any, tenant: TenantNames, database: TenantDatabaseOutputs, admin_secret: Any, host: str,
                   depends_on: list[pulumi.Resource]) -> dict[str, Any]:
    """Non-production: the environment's import job and its identity (its own database password and the admin
    password every internal user gets); the identity's principal id for production's grant."""
    cfg, zone = shared.cfg, shared.zone
    [request] = [r for r in requests_of(cfg) if r.target.key == tenant.key] or [None]
    if request is None:
        return {}
    identity = shared.aks.workload_identity(reader_identity(tenant), tenant.namespace, SERVICE_ACCOUNT, zone.resource_groups["management"].name)
    grants = [zone.grant_secret_read(f"{tenant.key}-kv-refresh-db", database.password_secret, identity.principal_id),
              zone.grant_secret_read(f"{tenant.key}-kv-refresh-users", admin_secret, identity.principal_id)]
    from .shared import image

    RefreshJobs(
        f"{tenant.key}-refresh-import",
        RefreshJobsArgs(
            provider=shared.aks.provider, names=tenant, command=IMPORT,
            jobs=[RefreshJob(tenant, request.schedule, import_environment(tenant, host, exports_account_url(request.source_stack), EXPORTS, shared.postgres.fqdn))],
            image=image(cfg, shared.registry, "backupImage"), identity_client_id=identity.client_id, tenant_id=shared.tenant_id,
            key_vault_name=zone.key_vault.name, secrets=[(database.password_secret.name, "db-password"), (admin_secret.name, "user-password")],
            postgres_cidr=cfg.network.subnets.postgres, private_endpoint_cidr=cfg.network.subnets.private_endpoints,
            # Odoo is paused (KEDA) for the swap: the environment is unavailable while it imports, never half-imported.
            pause_odoo=True,
            depends_on=[*depends_on, *grants],
        ),
    )
    return {"refreshReader": {"principalId": identity.principal_id, "from": request.source_stack, "schedule": request.schedule, "masking": request.masking}}


def refresh_exports(shared: Any, tenant: TenantNames, database: TenantDatabaseOutputs, depends_on: list[pulumi.Resource]) -> dict[str, Any]:
    """Production: for every non-production environment of this unit that refreshes from this stack, an export job
    here, and the grant that lets that environment's identity read its own exports prefix."""
    cfg, zone, storage = shared.cfg, shared.zone, shared.storage
    requests = [r for r in requests_for(cfg.stack) if r.target.unit == tenant.unit]
    if not requests or database.refresh_database is None:
        return {}
    identity = shared.aks.workload_identity(f"{tenant.key}-refresh", tenant.namespace, SERVICE_ACCOUNT, zone.resource_groups["management"].name)
    principal = identity.principal_id
    key = random.RandomPassword(MASKING_KEY, length=48, special=False)
    masking_key = zone.store_secret(MASKING_KEY, key.result, MASKING_KEY_LIFETIME)
    grants: list[pulumi.Resource] = [
        storage.grant_read(f"{tenant.key}-refresh-sets", BACKUPS, principal, prefix=f"{tenant.key}/"),
        storage.grant_read_write(f"{tenant.key}-refresh-exports", EXPORTS, principal, prefix=f"{tenant.unit}/"),
        zone.grant_secret_read(f"{tenant.key}-kv-refresh-db", database.password_secret, principal),
        zone.grant_secret_read(f"{tenant.key}-kv-refresh-key", masking_key, principal),
    ]
    references: dict[str, pulumi.StackReference] = {}
    for request in requests:
        if request.stack not in references:
            references[request.stack] = pulumi.StackReference(f"stack-{request.stack}", stack_name=f"{pulumi.get_organization()}/{PROJECT}/{request.stack}")
        reader = references[request.stack].get_output("tenantEnvironments").apply(lambda envs, r=request: _reader_principal(envs, r))
        storage.grant_read(
            f"{tenant.key}-refresh-reader-{request.stack}-{request.target.key}", EXPORTS, reader,
            prefix=exports_prefix(request.target.unit, request.target.environment),
            description=READER_DESCRIPTION.format(stack=request.stack, unit=request.target.unit, environment=request.target.environment),
        )
    from .shared import image

    jobs = RefreshJobs(
        f"{tenant.key}-refresh-export",
        RefreshJobsArgs(
            provider=shared.aks.provider, names=tenant, command=EXPORT,
            jobs=[RefreshJob(r.target, r.schedule, export_environment(tenant, r.target, r.masking, storage.backup_account.primary_endpoints.blob, BACKUPS,
                                                                     storage.blob_endpoint, EXPORTS, shared.postgres.fqdn, refresh_database(tenant)))
                  for r in requests],
            image=image(cfg, shared.registry, "backupImage"), identity_client_id=identity.client_id, tenant_id=shared.tenant_id,
            key_vault_name=zone.key_vault.name, secrets=[(database.password_secret.name, "db-password"), (masking_key.name, "masking-key")],
            postgres_cidr=cfg.network.subnets.postgres, private_endpoint_cidr=cfg.network.subnets.private_endpoints,
            odoo_image=image(cfg, shared.registry, "odooImage"),
            depends_on=[*depends_on, *grants],
        ),
    )
    return {"refreshExports": {r.target.key if r.stack == cfg.stack else f"{r.stack}/{r.target.key}": r.schedule for r in requests},
            "refreshJobs": list(jobs.cron_jobs)}


def _reader_principal(environments: Optional[dict[str, Any]], request: RefreshRequest) -> str:
    principal = ((environments or {}).get(request.target.key) or {}).get("refreshReader", {}).get("principalId")
    if not principal:
        raise pulumi.RunError(f"stack {request.stack} exports no refresh identity for {request.target.key}: deploy {request.stack} first")
    return principal
