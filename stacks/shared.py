"""Composition both tenancy models share: the same topology, sized and hardened by tier."""
from dataclasses import dataclass

from typing import Any

import pulumi

from components.aks import AksCluster, AksClusterArgs, MaintenanceWindow
from components.capacity import postgres_max_connections
from components.landing_zone import LandingZone, LandingZoneArgs, SubnetPlan
from components.naming import TenantNames
from components.postgres import PostgresServer, PostgresServerArgs
from components.redis import RedisCache, RedisCacheArgs
from components.storage import ObjectStorage, ObjectStorageArgs
from components.tier import lock_for

from .config import StackConfig
from .sizing import connection_demand

CONTROL_PLANE, KUBELET = "aks-control-plane", "aks-kubelet"
ODOO_SERVICE_ACCOUNT = "odoo"


@dataclass
class Platform:
    zone: LandingZone
    aks: AksCluster
    postgres: PostgresServer
    redis: RedisCache
    storage: ObjectStorage


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
            ),
            admin_cidrs=cfg.admin_cidrs,
            identities=(CONTROL_PLANE, KUBELET),
            public_ingress=not cfg.ingress_internal,
            lock=lock_for(cfg.tier),
        ),
    )


def aks_cluster(cfg: StackConfig, zone: LandingZone) -> AksCluster:
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
            depends_on=[zone.dns_links["postgres"]],
            lock=lock_for(cfg.tier),
        ),
    )


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
            tenant_containers=[t.container for t in cfg.tenants],
            backup_immutability_days=cfg.backup_immutability_days,
            lock=lock_for(cfg.tier),
        ),
    )


def platform(cfg: StackConfig) -> Platform:
    zone = landing_zone(cfg)
    return Platform(
        zone=zone,
        aks=aks_cluster(cfg, zone),
        postgres=postgres_server(cfg, zone),
        redis=redis_cache(cfg, zone),
        storage=object_storage(cfg, zone),
    )


def tenant_environment(shared: Platform, tenant: TenantNames) -> dict[str, Any]:
    """One tenant environment's own identity, container grant and data-service handles; its stack outputs."""
    identity = shared.aks.workload_identity(
        tenant.key, tenant.namespace, ODOO_SERVICE_ACCOUNT, shared.zone.resource_groups["management"].name
    )
    shared.storage.grant_read_write(f"{tenant.key}-blob", tenant.container, identity.principal_id)
    database = shared.postgres.tenants[tenant.key]
    return {
        "namespace": tenant.namespace,
        "identityClientId": identity.client_id,
        "database": database.database,
        "databaseRole": database.role,
        "databasePasswordSecret": database.password_secret_name,
        "redisKeyPrefix": shared.redis.key_prefixes[tenant.key],
        "container": tenant.container,
    }


def export_platform(shared: Platform, tenants: dict[str, Any]) -> None:
    pulumi.export("resourceGroups", {k: v.name for k, v in shared.zone.resource_groups.items()})
    pulumi.export("keyVaultUri", shared.zone.key_vault.properties.vault_uri)
    pulumi.export("oidcIssuerUrl", shared.aks.oidc_issuer_url)
    pulumi.export("postgresFqdn", shared.postgres.fqdn)
    pulumi.export("redisHost", shared.redis.host_name)
    pulumi.export("blobEndpoint", shared.storage.blob_endpoint)
    pulumi.export("tenantEnvironments", tenants)
