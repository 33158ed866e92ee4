"""Composition both tenancy models share: the same topology, sized and hardened by tier."""
import ipaddress
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_random as random
from pulumi_azure_native import authorization, keyvault, managedidentity

from components.admission import AdmissionGuardrails, AdmissionGuardrailsArgs
from components.aks import POD_CIDR, AksCluster, AksClusterArgs, MaintenanceWindow
from components.capacity import CONNECTIONS_PER_PROCESS, postgres_max_connections
from components.backup import SERVICE_ACCOUNT as BACKUP_SERVICE_ACCOUNT
from components.backup import QUOTA_ALLOWANCE, BackupJobs, BackupJobsArgs, OffsiteTarget, backup_plan, scratch_container
from components.backup_vault import BackupVault, BackupVaultArgs, PostgresRetention
from components.budgets import BudgetsArgs, StackBudgets
from components.certificates import NAMESPACE as CERT_MANAGER_NAMESPACE
from components.certificates import SERVICE_ACCOUNT as CERT_MANAGER_SERVICE_ACCOUNT
from components.certificates import UPSTREAM_IMAGES as CERT_MANAGER_IMAGES
from components.certificates import CertificateIssuer, CertificateIssuerArgs
from components.db_bootstrap import NAMESPACE as BOOTSTRAP_NAMESPACE
from components.db_bootstrap import SERVICE_ACCOUNT as BOOTSTRAP_SERVICE_ACCOUNT
from components.db_bootstrap import DatabaseBootstrap, DatabaseBootstrapArgs
from components.flux import FluxReleases, ReleaseSource
from components import metric_alerts as watched
from components.landing_zone import DrNetworkPlan, LandingZone, LandingZoneArgs, SubnetPlan
from components.observability import AlertTarget, MaintenanceSuppression, Observability, ObservabilityArgs, SecureWebhook
from components.prometheus_rules import Slo, TenantWatch
from components.severity import CRITICALITIES, BusinessWindow
from components.naming import Naming, TenantNames
from components.interfaces import custom_role, role_assignment
from components.odoo_tenant import TLS_SECRET, DataServices, OdooTenant, OdooTenantArgs, TenantSecrets, WorkingHours
from components.postgres import ADMIN_LOGIN, PASSWORD_SPECIALS, PostgresReplica, PostgresServer, PostgresServerArgs
from components.redis import RedisCache, RedisCacheArgs
from components.refresh import with_refresh_allowance
from components.registry import ContainerRegistry, ContainerRegistryArgs
from components.rotation import ODOO_ADMIN_PASSWORD, POSTGRES_ADMIN_PASSWORD, REDIS_ACCESS_KEY, TENANT_DB_PASSWORD
from components.rotation_jobs import RotationJobs, RotationJobsArgs, platform_service_account
from components.rotation_jobs import service_account as rotation_service_account
from components.storage import BACKUPS, ObjectStorage, ObjectStorageArgs
from components.tier import lock_for
from components.traefik import UPSTREAM_IMAGES as TRAEFIK_IMAGES
from components.traefik import TraefikIngress, TraefikIngressArgs

from .config import RELEASE_PATH, StackConfig
from .refresh import refresh_exports, refresh_import, refresh_jobs_in
from .sizing import connection_demand

CONTROL_PLANE, KUBELET = "aks-control-plane", "aks-kubelet"
ODOO_SERVICE_ACCOUNT = "odoo"


@dataclass
class Platform:
    cfg: StackConfig
    zone: LandingZone
    aks: AksCluster
    postgres: PostgresServer
    redis: RedisCache
    storage: ObjectStorage
    registry: ContainerRegistry
    certificates: CertificateIssuer
    traefik: TraefikIngress
    bootstrap: DatabaseBootstrap
    bootstrap_identity: managedidentity.UserAssignedIdentity
    # Grants the bootstrap Jobs need before they start (the server admin password).
    bootstrap_grants: list[pulumi.Resource]
    tenant_id: pulumi.Output[str]
    subscription_id: pulumi.Output[str]
    # Production: long-term PostgreSQL retention and operational blob backup in Azure Backup.
    backup_vault: Optional[BackupVault]
    # Odoo releases, reconciled from Git into each tenant namespace.
    flux: FluxReleases
    # Scheduled tenant database password rotations, in the bootstrap namespace (components/rotation_jobs.py).
    rotation: RotationJobs


def landing_zone(cfg: StackConfig) -> LandingZone:
    subnets = cfg.network.subnets
    return LandingZone(
        "landing-zone",
        LandingZoneArgs(
            naming=cfg.naming,
            tier=cfg.tier,
            address_space=cfg.network.address_space,
            subnets=SubnetPlan(
                aks_system=subnets.aks_system,
                aks_user=subnets.aks_user,
                private_endpoints=subnets.private_endpoints,
                postgres=subnets.postgres,
                runners=subnets.runners,
            ),
            admin_cidrs=cfg.admin_cidrs,
            identities=(CONTROL_PLANE, KUBELET),
            # Traefik runs on the system pool (components/traefik.py): its subnet takes the Internet on 80/443.
            public_ingress_subnet=None if cfg.ingress_internal else "aks-system",
            pod_cidr=POD_CIDR,
            dr=DrNetworkPlan(cfg.dr_location, cfg.dr_network.address_space, cfg.dr_network.postgres_subnet)
            if cfg.dr_mode == "warm-standby" and cfg.dr_location and cfg.dr_network
            else None,
            lock=lock_for(cfg.tier),
        ),
    )


def aks_cluster(cfg: StackConfig, zone: LandingZone, deployer_object_id: pulumi.Input[str]) -> AksCluster:
    window = cfg.maintenance
    return AksCluster(
        "aks",
        AksClusterArgs(
            naming=cfg.naming,
            tier=cfg.tier,
            kubernetes_version=cfg.kubernetes_version,
            resource_group_name=zone.resource_groups["compute"].name,
            system_subnet_id=zone.subnet_ids["aks-system"],
            user_subnet_id=zone.subnet_ids["aks-user"],
            control_plane_identity=zone.identities[CONTROL_PLANE],
            kubelet_identity=zone.identities[KUBELET],
            diagnostics=zone.diagnostics,
            admin_group_ids=[cfg.entra_admin_group_id],
            system_pool=cfg.profile.system_pool,
            user_pools=cfg.profile.user_pools,
            maintenance=MaintenanceWindow(
                day_of_week=window.day_of_week,
                start_time=window.start_time,
                duration_hours=window.duration_hours,
                utc_offset=window.utc_offset,
                not_allowed=tuple((d.start.isoformat(), d.end.isoformat()) for d in window.not_allowed_dates),
            ),
            api_server_cidrs=cfg.admin_cidrs,
            deployer_object_id=deployer_object_id,
            load_balancer_ip_group_id=zone.resource_groups["network"].id if zone.ingress_public_ip is not None else None,
            lock=lock_for(cfg.tier),
        ),
    )


def container_registry(cfg: StackConfig, zone: LandingZone) -> ContainerRegistry:
    return ContainerRegistry(
        "registry",
        ContainerRegistryArgs(
            naming=cfg.naming,
            tier=cfg.tier,
            resource_group_name=zone.resource_groups["compute"].name,
            private_access=zone.private_access,
            diagnostics=zone.diagnostics,
            push_cidrs=cfg.admin_cidrs,
            replica_location=cfg.dr_location if cfg.tier.is_production else None,
            cached_repositories={**TRAEFIK_IMAGES, **CERT_MANAGER_IMAGES},
            lock=lock_for(cfg.tier),
        ),
    )


def postgres_server(cfg: StackConfig, zone: LandingZone) -> PostgresServer:
    size = cfg.profile.postgres
    tenants = cfg.tenants
    return PostgresServer(
        "postgres",
        PostgresServerArgs(
            naming=cfg.naming,
            tier=cfg.tier,
            resource_group_name=zone.resource_groups["data"].name,
            delegated_subnet_id=zone.subnet_ids["postgres"],
            private_dns_zone_id=zone.dns_zone_ids["postgres"],
            key_vault_name=zone.key_vault.name,
            key_vault_resource_group_name=zone.resource_groups["management"].name,
            diagnostics=zone.diagnostics,
            sku=size.sku,
            sku_tier=size.tier,
            storage_gb=size.storage_gb,
            version=cfg.postgres_version,
            max_connections=postgres_max_connections(size.sku, connection_demand([t.key for t in tenants], cfg.profile.odoo)),
            entra_admin_group_id=cfg.entra_admin_group_id,
            entra_admin_group_name=cfg.entra_admin_group_name,
            tenants=tenants,
            maintenance_day=cfg.maintenance.day_of_week,
            maintenance_hour=int(cfg.maintenance.start_time[:2]),
            replica=replica(cfg, zone),
            depends_on=list(zone.dns_links.values()),
            lock=lock_for(cfg.tier),
            admin_password_lifetime=cfg.secret_rotation.lifetime(POSTGRES_ADMIN_PASSWORD),
            tenant_password_lifetime=cfg.secret_rotation.lifetime(TENANT_DB_PASSWORD),
        ),
    )


def replica(cfg: StackConfig, zone: LandingZone) -> Optional[PostgresReplica]:
    """The warm standby in the DR region, when the stack's DR mode asks for one."""
    if zone.dr_resource_group is None or zone.dr_postgres_subnet_id is None or cfg.dr_location is None:
        return None
    return PostgresReplica(cfg.dr_location, zone.dr_resource_group.name, zone.dr_postgres_subnet_id, zone.dns_zone_ids["postgres"])


def redis_cache(cfg: StackConfig, zone: LandingZone) -> RedisCache:
    return RedisCache(
        "redis",
        RedisCacheArgs(
            naming=cfg.naming,
            tier=cfg.tier,
            resource_group_name=zone.resource_groups["data"].name,
            sku=cfg.profile.redis_sku,
            private_access=zone.private_access,
            key_vault_name=zone.key_vault.name,
            key_vault_resource_group_name=zone.resource_groups["management"].name,
            diagnostics=zone.diagnostics,
            tenants=cfg.tenants,
            lock=lock_for(cfg.tier),
            access_key_lifetime=cfg.secret_rotation.lifetime(REDIS_ACCESS_KEY),
        ),
    )


def object_storage(cfg: StackConfig, zone: LandingZone) -> ObjectStorage:
    return ObjectStorage(
        "storage",
        ObjectStorageArgs(
            naming=cfg.naming,
            tier=cfg.tier,
            resource_group_name=zone.resource_groups["data"].name,
            private_access=zone.private_access,
            diagnostics=zone.diagnostics,
            tenant_containers=[c for t in cfg.tenants for c in (t.container, scratch_container(t))],
            backup_immutability_days=cfg.backup_immutability_days,
            lock=lock_for(cfg.tier),
        ),
    )


def platform(cfg: StackConfig) -> Platform:
    client = authorization.get_client_config_output()
    zone = landing_zone(cfg)
    aks = aks_cluster(cfg, zone, client.object_id)
    postgres = postgres_server(cfg, zone)
    registry = container_registry(cfg, zone)
    tenant_id = client.tenant_id
    identities_rg = zone.resource_groups["management"].name
    vault = zone.key_vault.name
    subnets = cfg.network.subnets

    # Every image comes from the platform registry (or a configured external one): the kubelet may pull from them.
    kubelet = zone.identities[KUBELET].principal_id
    pull_grants = [registry.grant_pull("kubelet-acr-pull", kubelet)]
    for i, external in enumerate(cfg.external_registries):
        pull_grants.append(role_assignment(f"kubelet-acr-pull-external-{i}", external.resource_id, "AcrPull", kubelet, registry))

    # The ingress keeps one address for its lifetime, so DNS can point at it: the landing zone's public IP (the
    # cluster may attach it, see AksCluster) or the last address of the system subnet.
    private_ip = None if zone.ingress_public_ip is not None else str(list(ipaddress.ip_network(subnets.aks_system).hosts())[-1])
    cert_identity = aks.workload_identity("cert-manager", CERT_MANAGER_NAMESPACE, CERT_MANAGER_SERVICE_ACCOUNT, identities_rg)
    certificates = CertificateIssuer(
        "certificates",
        CertificateIssuerArgs(
            provider=aks.provider,
            base_domain=cfg.base_domain,
            units=[unit.name for unit in cfg.units],
            acme_server=cfg.acme_server,
            dns_resource_group_name=zone.resource_groups["network"].name,
            subscription_id=client.subscription_id,
            identity_client_id=cert_identity.client_id,
            identity_principal_id=cert_identity.principal_id,
            registry_server=registry.login_server,
            ingress_public_ip_id=zone.ingress_public_ip.id if zone.ingress_public_ip is not None else None,
            ingress_private_ip=private_ip,
        ),
        opts=pulumi.ResourceOptions(depends_on=pull_grants),
    )
    traefik = TraefikIngress(
        "traefik",
        TraefikIngressArgs(
            tier=cfg.tier,
            provider=aks.provider,
            registry_server=registry.login_server,
            admin_cidrs=cfg.admin_cidrs,
            trusted_proxy_cidrs=cfg.trusted_proxy_cidrs,
            internal_load_balancer=cfg.ingress_internal,
            public_ip=(cfg.naming.resource("pip", "ingress"), cfg.naming.resource_group("network")) if zone.ingress_public_ip is not None else None,
            private_ip=private_ip,
        ),
        opts=pulumi.ResourceOptions(depends_on=pull_grants),
    )
    bootstrap_identity = aks.workload_identity("db-bootstrap", BOOTSTRAP_NAMESPACE, BOOTSTRAP_SERVICE_ACCOUNT, identities_rg)
    admin_grant = zone.grant_secret_read("db-bootstrap-admin", postgres.admin_secret, bootstrap_identity.principal_id)
    bootstrap = DatabaseBootstrap(
        "db-bootstrap",
        DatabaseBootstrapArgs(
            provider=aks.provider,
            image=image(cfg, registry, "postgresClientImage"),
            identity_client_id=bootstrap_identity.client_id,
            tenant_id=tenant_id,
            key_vault_name=vault,
            admin_secret_name=postgres.admin_secret.name,
            admin_login=ADMIN_LOGIN,
            postgres_fqdn=postgres.fqdn,
            postgres_cidr=subnets.postgres,
            environments=len(cfg.tenants),
        ),
    )
    storage = object_storage(cfg, zone)
    admission_guardrails(cfg, aks, registry)
    return Platform(
        cfg=cfg,
        zone=zone,
        aks=aks,
        postgres=postgres,
        redis=redis_cache(cfg, zone),
        storage=storage,
        registry=registry,
        certificates=certificates,
        traefik=traefik,
        bootstrap=bootstrap,
        bootstrap_identity=bootstrap_identity,
        bootstrap_grants=[admin_grant, postgres.admin_secret, *pull_grants],
        tenant_id=tenant_id,
        subscription_id=client.subscription_id,
        backup_vault=backup_vault(cfg, zone, postgres, storage) if cfg.tier.is_production else None,
        flux=FluxReleases("flux", aks.cluster.name, zone.resource_groups["compute"].name, after=aks.last_operation),
        rotation=RotationJobs(
            "rotation",
            RotationJobsArgs(
                provider=aks.provider,
                namespace=BOOTSTRAP_NAMESPACE,
                image=image(cfg, registry, "backupImage"),
                tenant_id=tenant_id,
                key_vault_name=vault,
                key_vault_url=zone.key_vault.properties.vault_uri,
                admin_secret_name=postgres.admin_secret.name,
                admin_login=ADMIN_LOGIN,
                postgres_fqdn=postgres.fqdn,
                postgres_cidr=subnets.postgres,
                private_endpoint_cidr=subnets.private_endpoints,
                # Odoo reads its login at start: the job restarts web and cron, or the old login could never retire.
                restart_odoo=True,
                depends_on=[bootstrap.namespace],
            ),
        ),
    )


def admission_guardrails(cfg: StackConfig, aks: AksCluster, registry: ContainerRegistry) -> AdmissionGuardrails:
    """Azure Policy for Kubernetes on the cluster: images from the platform registry and the configured external ones."""
    return AdmissionGuardrails(
        "admission",
        AdmissionGuardrailsArgs(
            tier=cfg.tier,
            cluster_id=aks.cluster.id,
            cluster_name=cfg.naming.aks(),
            registry_servers=[registry.login_server, *(r.server for r in cfg.external_registries)],
        ),
        opts=pulumi.ResourceOptions(depends_on=[aks.last_operation]),
    )


def backup_vault(cfg: StackConfig, zone: LandingZone, postgres: PostgresServer, storage: ObjectStorage) -> BackupVault:
    retention = cfg.backups.retention
    return BackupVault(
        "backup-vault",
        BackupVaultArgs(
            naming=cfg.naming,
            tier=cfg.tier,
            resource_group_name=zone.resource_groups["data"].name,
            location=cfg.location,
            postgres_server_id=postgres.server.id,
            storage_account_id=storage.account.id,
            diagnostics=zone.diagnostics,
            postgres_retention=PostgresRetention(weeks=retention.weekly, months=retention.monthly, years=retention.yearly),
            depends_on=[postgres.last_operation, storage.blob_service],
            lock=lock_for(cfg.tier),
        ),
    )


def image(cfg: StackConfig, registry: ContainerRegistry, setting: str, repository_only: bool = False) -> pulumi.Output[str]:
    """The full reference of an image setting (or its repository alone): the platform registry's server filled in where none was given."""
    ref = cfg.images[setting]
    reference = ref.repository if repository_only else ref.reference
    return pulumi.Output.from_input(f"{ref.registry}/{reference}") if ref.registry else registry.image(reference)


def tenant_environment(shared: Platform, tenant: TenantNames) -> dict[str, Any]:
    """One tenant environment: its identity and grants, database role bootstrap and Odoo workloads; its stack outputs."""
    cfg, zone = shared.cfg, shared.zone
    identity = shared.aks.workload_identity(tenant.key, tenant.namespace, ODOO_SERVICE_ACCOUNT, zone.resource_groups["management"].name)
    blob_grant = shared.storage.grant_read_write(f"{tenant.key}-blob", tenant.container, identity.principal_id)
    database = shared.postgres.tenants[tenant.key]
    admin_secret_name = f"odoo-{tenant.key}-admin-password"
    admin_password = random.RandomPassword(admin_secret_name, length=32, special=True, override_special=PASSWORD_SPECIALS)
    admin_secret = zone.store_secret(admin_secret_name, admin_password.result, cfg.secret_rotation.lifetime(ODOO_ADMIN_PASSWORD))
    stored = {"db": database.password_secret, "redis": shared.redis.access_key_secret, "admin": admin_secret}
    secrets = TenantSecrets(db_password=stored["db"].name, redis_key=stored["redis"].name, admin_password=stored["admin"].name)
    grants: list[pulumi.Resource] = [blob_grant, *stored.values()]
    for purpose, secret in stored.items():
        grants.append(zone.grant_secret_read(f"{tenant.key}-kv-{purpose}", secret, identity.principal_id))
    bootstrap_grant = zone.grant_secret_read(f"{tenant.key}-kv-bootstrap", database.password_secret, shared.bootstrap_identity.principal_id)
    # The role bootstrap needs the database, both passwords and the grants to read them before its pod starts.
    job = shared.bootstrap.job(
        tenant, database.password_secret.name,
        depends_on=[database.resource, database.drill_resource, *filter(None, [database.refresh_resource]), database.password_secret,
                    bootstrap_grant, *shared.bootstrap_grants],
        refresh_database_name=database.refresh_database,
    )
    subnets = cfg.network.subnets
    workloads = OdooTenant(
        tenant.key,
        OdooTenantArgs(
            tier=cfg.tier,
            provider=shared.aks.provider,
            names=tenant,
            base_domain=cfg.base_domain,
            image=image(cfg, shared.registry, "odooImage"),
            image_repository=image(cfg, shared.registry, "odooImage", repository_only=True),
            sizing=cfg.profile.odoo,
            identity_client_id=identity.client_id,
            data=DataServices(
                postgres_fqdn=shared.postgres.fqdn,
                postgres_cidr=subnets.postgres,
                redis_host=shared.redis.host_name,
                redis_port=shared.redis.port,
                private_endpoint_cidr=subnets.private_endpoints,
                blob_endpoint=shared.storage.blob_endpoint,
                key_vault_name=zone.key_vault.name,
                tenant_id=shared.tenant_id,
            ),
            secrets=secrets,
            working_hours=working_hours(cfg),
            depends_on=[job, shared.traefik, *grants],
            job_allowance=with_refresh_allowance(QUOTA_ALLOWANCE, refresh_jobs_in(cfg, tenant)),
        ),
    )
    # The release starts once the namespace, its values and the database's first initialisation are in place.
    release = shared.flux.release(tenant, release_source(cfg), depends_on=[workloads.init_job, workloads.release_values])
    backups = backup_jobs(shared, tenant, database.password_secret, database.drill_database, [workloads.namespace])
    password_rotation(shared, tenant, database.password_secret, [workloads.namespace])
    if cfg.tier.is_production:
        refresh = refresh_exports(shared, tenant, database, [workloads.namespace])
    else:
        refresh = refresh_import(shared, tenant, database, admin_secret, workloads.host, [workloads.namespace])
    shared.certificates.certificate(f"{tenant.key}-certificate", tenant.namespace, workloads.host, TLS_SECRET, workloads, [workloads.namespace])
    return {
        "url": f"https://{workloads.host}/",
        "namespace": tenant.namespace,
        "identityClientId": identity.client_id,
        "database": database.database,
        "databaseRole": database.role,
        "databasePasswordSecret": database.password_secret.name,
        "redisKeyPrefix": shared.redis.key_prefixes[tenant.key],
        "container": tenant.container,
        "ephemeral": tenant.ephemeral,
        "backupSchedules": backups.plan.schedules,
        # Register it as a read-only deploy key of the release repository (Flux generated the pair in the cluster).
        "releaseDeployKey": release.repository_public_key,
        **refresh,
    }


def release_source(cfg: StackConfig) -> ReleaseSource:
    releases = cfg.releases
    return ReleaseSource(releases.repository, releases.branch, releases.sync_interval_seconds, RELEASE_PATH)


def backup_jobs(
    shared: Platform, tenant: TenantNames, db_password: keyvault.Secret, drill_database: str, depends_on: list[pulumi.Resource]
) -> BackupJobs:
    """The environment's backup identity, its grants (its own prefix of the backup container, read on its attachments,
    its scratch container, its database password, the offsite keys) and the CronJobs that use them."""
    cfg, zone, storage = shared.cfg, shared.zone, shared.storage
    identity = shared.aks.workload_identity(f"{tenant.key}-backup", tenant.namespace, BACKUP_SERVICE_ACCOUNT, zone.resource_groups["management"].name)
    principal = identity.principal_id
    grants: list[pulumi.Resource] = [
        storage.grant_read_write(f"{tenant.key}-backup-sets", BACKUPS, principal, prefix=f"{tenant.key}/"),
        storage.grant_read(f"{tenant.key}-backup-attachments", tenant.container, principal),
        storage.grant_read_write(f"{tenant.key}-backup-scratch", scratch_container(tenant), principal),
        zone.grant_secret_read(f"{tenant.key}-kv-backup-db", db_password, principal),
    ]
    offsite = cfg.backups.offsite
    if offsite:
        for key, secret_name in (("access", offsite.access_key_secret), ("secret", offsite.secret_key_secret)):
            scope = pulumi.Output.concat(zone.key_vault.id, "/secrets/", secret_name)
            grants.append(role_assignment(f"{tenant.key}-kv-backup-offsite-{key}", scope, "Key Vault Secrets User", principal, zone))
    backups = cfg.backups
    plan = backup_plan(
        cfg.tier,
        {"backup": backups.schedule, "verify": backups.verify_schedule, "drill": backups.drill_schedule, "rpo": backups.rpo_hours, "rto": backups.rto_hours},
        backups.retention.model_dump(),
        cfg.backup_immutability_days,
    )
    jobs = BackupJobs(
        f"{tenant.key}-backups",
        BackupJobsArgs(
            provider=shared.aks.provider,
            names=tenant,
            image=image(cfg, shared.registry, "backupImage"),
            identity_client_id=identity.client_id,
            tenant_id=shared.tenant_id,
            key_vault_name=zone.key_vault.name,
            db_password_secret=db_password.name,
            postgres_fqdn=shared.postgres.fqdn,
            postgres_cidr=cfg.network.subnets.postgres,
            private_endpoint_cidr=cfg.network.subnets.private_endpoints,
            drill_database=drill_database,
            backup_account_url=storage.backup_account.primary_endpoints.blob,
            backup_container=BACKUPS,
            files_account_url=storage.blob_endpoint,
            scratch_container=scratch_container(tenant),
            plan=plan,
            offsite=OffsiteTarget(offsite.endpoint, offsite.bucket, offsite.region, offsite.access_key_secret, offsite.secret_key_secret, offsite.object_lock_days)
            if offsite
            else None,
            depends_on=[*depends_on, *grants],
        ),
    )
    return jobs


def password_rotation(shared: Platform, tenant: TenantNames, db_password: keyvault.Secret, depends_on: list[pulumi.Resource]) -> None:
    """The environment's rotation identity (federated to its own service account in the bootstrap namespace): Key
    Vault Secrets Officer on its database password only, read on the server admin password; and its CronJob."""
    zone, postgres = shared.zone, shared.postgres
    identity = shared.aks.workload_identity(f"{tenant.key}-rotate", BOOTSTRAP_NAMESPACE, rotation_service_account(tenant), zone.resource_groups["management"].name)
    grants: list[pulumi.Resource] = [
        role_assignment(f"{tenant.key}-kv-rotate-db", db_password.id, "Key Vault Secrets Officer", identity.principal_id, zone),
        zone.grant_secret_read(f"{tenant.key}-kv-rotate-admin", postgres.admin_secret, identity.principal_id),
    ]
    shared.rotation.tenant(tenant, identity.client_id, db_password.name, shared.cfg.secret_rotation.lifetime(TENANT_DB_PASSWORD),
                           depends_on=[*depends_on, *grants, db_password, *shared.bootstrap_grants])


# What each stack-wide rotation may do through ARM, on its resource only; and reading the status of the long-running
# operation it started, at subscription scope, where ARM serves it (.../providers/<RP>/locations/<region>/...).
# Operation names: learn.microsoft.com/azure/role-based-access-control/permissions/databases.
ROTATION_ACTIONS = {
    # regenerateKey may answer with a Location under the database (databases/operationResults)
    REDIS_ACCESS_KEY: ["Microsoft.Cache/redisEnterprise/databases/listKeys/action", "Microsoft.Cache/redisEnterprise/databases/regenerateKey/action",
                       "Microsoft.Cache/redisEnterprise/databases/operationResults/read"],
    POSTGRES_ADMIN_PASSWORD: ["Microsoft.DBforPostgreSQL/flexibleServers/read", "Microsoft.DBforPostgreSQL/flexibleServers/write"],
}
OPERATION_STATUS_ACTIONS = [
    "Microsoft.Cache/locations/operationsStatus/read", "Microsoft.Cache/locations/asyncOperations/read", "Microsoft.Cache/locations/operationResults/read",
    "Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read", "Microsoft.DBforPostgreSQL/locations/operationResults/read",
]


def custom_role_names(naming: Naming) -> dict[str, str]:
    """The stack's custom roles (tenant-unique names): the operation status reader, then one per rotated kind."""
    return {"status": f"odoo-platform {naming.base} operation status reader", **{kind: f"odoo-platform {naming.base} {kind} rotation" for kind in ROTATION_ACTIONS}}


def platform_rotations(shared: Platform, tenants: list[TenantNames]) -> None:
    """The Redis access key's and the PostgreSQL admin password's rotations (components/rotation_jobs.py): each its own
    identity with Key Vault Secrets Officer on its secret and a custom role on its resource. The Redis run restarts
    Odoo in every environment of `tenants`."""
    cfg, zone, postgres, redis = shared.cfg, shared.zone, shared.postgres, shared.redis
    names = custom_role_names(cfg.naming)
    status_reader = custom_role("rotation-operation-status", names["status"], shared.subscription_id,
                                OPERATION_STATUS_ACTIONS, "Reads the status of the long-running operations the secret rotations start.", zone)
    subscription = pulumi.Output.concat("/subscriptions/", shared.subscription_id)
    rotated = {REDIS_ACCESS_KEY: (redis.database.id, redis.access_key_secret), POSTGRES_ADMIN_PASSWORD: (postgres.server.id, postgres.admin_secret)}
    for kind, (resource_id, secret) in rotated.items():
        identity = shared.aks.workload_identity(f"rotate-{kind}", BOOTSTRAP_NAMESPACE, platform_service_account(kind), zone.resource_groups["management"].name)
        role = custom_role(f"rotation-{kind}", names[kind], shared.subscription_id, ROTATION_ACTIONS[kind],
                           f"Rotates the {kind} of one resource (ops/rotate).", zone)
        grants: list[pulumi.Resource] = [
            role_assignment(f"rotate-{kind}-kv", secret.id, "Key Vault Secrets Officer", identity.principal_id, zone),
            role_assignment(f"rotate-{kind}-arm", resource_id, role, identity.principal_id, zone),
            role_assignment(f"rotate-{kind}-status", subscription, status_reader, identity.principal_id, zone),
        ]
        shared.rotation.platform(kind, identity.client_id, secret.name, cfg.secret_rotation.lifetime(kind), resource_id,
                                 tenants=tenants if kind == REDIS_ACCESS_KEY else (), depends_on=[*grants, secret, *shared.bootstrap_grants])


def working_hours(cfg: StackConfig) -> Optional[WorkingHours]:
    """Non-production off-hours scaling, when the stack asks for it."""
    hours = cfg.off_hours
    return WorkingHours(hours.timezone, hours.start, hours.end, hours.days) if hours.enabled else None


def alert_targets(shared: Platform) -> list[AlertTarget]:
    """Every Azure resource of the stack that metric alerts watch, with the limits their thresholds follow."""
    cfg, zone = shared.cfg, shared.zone
    demand = connection_demand([t.key for t in cfg.tenants], cfg.profile.odoo)
    targets = [
        AlertTarget("postgres", watched.POSTGRES, shared.postgres.server.id, limits={"max_connections": shared.postgres.max_connections}),
        AlertTarget("redis", watched.REDIS, shared.redis.cluster.id, limits={"expected_clients": sum(d.connections for d in demand) / CONNECTIONS_PER_PROCESS}),
        AlertTarget("storage-files", watched.STORAGE, shared.storage.account.id),
        AlertTarget("storage-backups", watched.STORAGE, shared.storage.backup_account.id),
        AlertTarget("key-vault", watched.KEY_VAULT, zone.key_vault.id),
        AlertTarget("aks", watched.AKS, shared.aks.cluster.id),
        AlertTarget("registry", watched.REGISTRY, shared.registry.registry.id),
        # AKS names the load balancer of LoadBalancer services `kubernetes` (`kubernetes-internal` for internal ones) in the node resource group.
        AlertTarget(
            "ingress-lb",
            watched.LOAD_BALANCER,
            pulumi.Output.concat(
                shared.aks.cluster.id.apply(lambda i: i.split("/resourceGroups/")[0]),
                "/resourceGroups/", cfg.naming.resource_group("aks-nodes"),
                "/providers/Microsoft.Network/loadBalancers/", "kubernetes-internal" if cfg.ingress_internal else "kubernetes",
            ),
        ),
    ]
    if shared.postgres.replica is not None:
        targets.append(AlertTarget("postgres-replica", watched.POSTGRES, shared.postgres.replica.id, role="replica", limits={"max_connections": shared.postgres.max_connections}))
    targets += [AlertTarget(f"pip-{name}", watched.PUBLIC_IP, ip.id) for name, ip in zone.public_ips.items()]
    targets += [AlertTarget(name, watched.NAT_GATEWAY, gateway.id) for name, gateway in zone.nat_gateways.items()]
    if shared.backup_vault is not None:
        targets.append(AlertTarget("backup-vault", watched.BACKUP_VAULT, shared.backup_vault.vault_id))
    return targets


def tenant_watch(cfg: StackConfig, tenant: TenantNames) -> TenantWatch:
    unit = next(u for u in cfg.units if u.name == tenant.unit)
    slo = cfg.slo
    return TenantWatch(
        key=tenant.key,
        unit=tenant.unit,
        environment=tenant.environment,
        namespace=tenant.namespace,
        host=tenant.host(cfg.base_domain),
        tier=cfg.tier,
        criticality=unit.criticality,
        slo=Slo(slo.availability / 100, slo.latency_threshold_seconds, slo.latency_target / 100) if cfg.tier.is_production else None,
    )


def maintenance_in_utc(cfg: StackConfig) -> MaintenanceSuppression:
    """The configured window (local time at utcOffset) as a UTC day and start."""
    window = cfg.maintenance
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    sign = -1 if window.utc_offset.startswith("-") else 1
    offset = sign * (int(window.utc_offset[1:3]) * 60 + int(window.utc_offset[4:6]))
    minutes = days.index(window.day_of_week) * 1440 + int(window.start_time[:2]) * 60 + int(window.start_time[3:]) - offset
    minutes %= 7 * 1440
    day, rest = divmod(minutes, 1440)
    return MaintenanceSuppression(days[day], f"{rest // 60:02d}:{rest % 60:02d}", window.duration_hours)


def observability(shared: Platform) -> Observability:
    cfg, zone = shared.cfg, shared.zone
    hook = cfg.alerts.webhook
    loudest = CRITICALITIES[min(CRITICALITIES.index(u.criticality) for u in cfg.units)]
    return Observability(
        "observability",
        ObservabilityArgs(
            naming=cfg.naming,
            tier=cfg.tier,
            resource_group_name=zone.resource_groups["management"].name,
            resource_group_ids=[g.id for g in zone.resource_groups.values()],
            subscription_id=shared.subscription_id,
            workspace_id=zone.workspace.id,
            cluster_id=shared.aks.cluster.id,
            cluster_name=shared.aks.cluster.name,
            criticality=loudest,
            emails=cfg.alerts.emails,
            webhook=SecureWebhook(hook.name, hook.url, hook.application_object_id, hook.identifier_uri) if hook else None,
            targets=alert_targets(shared),
            tenants=[tenant_watch(cfg, t) for t in cfg.tenants],
            windows=[BusinessWindow(w.name, tuple(w.days_of_month)) for w in cfg.business_calendar],
            maintenance=maintenance_in_utc(cfg),
            regions=[r for r in (cfg.location, cfg.dr_location) if r],
            admin_group_id=cfg.entra_admin_group_id,
            grafana=cfg.tier.is_production,
            key_vault_id=zone.key_vault.id,
        ),
    )


def budgets(shared: Platform, watch: Observability) -> Optional[StackBudgets]:
    """The stack's monthly budget and, in a shared stack, one per unit, when the stack sets `budgets`."""
    cfg, zone = shared.cfg, shared.zone
    if cfg.budgets is None:
        return None
    groups: list[pulumi.Input[str]] = [g.name for g in zone.resource_groups.values()]
    groups.append(cfg.naming.resource_group("aks-nodes"))  # AKS bills nodes and its load balancer there
    if zone.dr_resource_group is not None:
        groups.append(zone.dr_resource_group.name)
    return StackBudgets(
        "budgets",
        BudgetsArgs(
            naming=cfg.naming,
            subscription_id=shared.subscription_id,
            resource_group_names=groups,
            amount=cfg.budgets.amount,
            start=cfg.budgets.start.isoformat(),
            # Cost is no emergency: the notify group, never the pager.
            contact_groups=[watch.action_groups["notify"].id],
            units=dict(cfg.budgets.units),
            actual_thresholds=cfg.budgets.thresholds.actual,
            forecasted_thresholds=cfg.budgets.thresholds.forecasted,
        ),
    )


def export_platform(shared: Platform, tenants: dict[str, Any]) -> None:
    pulumi.export("resourceGroups", {k: v.name for k, v in shared.zone.resource_groups.items()})
    pulumi.export("keyVaultUri", shared.zone.key_vault.properties.vault_uri)
    pulumi.export("oidcIssuerUrl", shared.aks.oidc_issuer_url)
    pulumi.export("postgresFqdn", shared.postgres.fqdn)
    pulumi.export("redisHost", shared.redis.host_name)
    pulumi.export("blobEndpoint", shared.storage.blob_endpoint)
    pulumi.export("registryLoginServer", shared.registry.login_server)
    # Delegate each unit's zone (<unit>.<baseDomain>) to these name servers once: certificates are issued through it.
    pulumi.export("dnsNameServers", shared.certificates.name_servers)
    pulumi.export("tenantEnvironments", tenants)
