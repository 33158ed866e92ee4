"""Composition both tenancy models share: the same topology, sized and hardened by tier."""
from dataclasses import dataclass

from components.aks import AksCluster, AksClusterArgs, MaintenanceWindow
from components.landing_zone import LandingZone, LandingZoneArgs, SubnetPlan
from components.tier import lock_for

from .config import StackConfig

CONTROL_PLANE, KUBELET = "aks-control-plane", "aks-kubelet"


@dataclass
class Platform:
    zone: LandingZone
    aks: AksCluster


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


def platform(cfg: StackConfig) -> Platform:
    zone = landing_zone(cfg)
    return Platform(zone=zone, aks=aks_cluster(cfg, zone))


def tenant_namespace(unit: str, environment: str) -> str:
    return f"odoo-{unit}-{environment}"
