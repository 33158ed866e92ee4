"""Composition both tenancy models share: the same topology, sized and hardened by tier."""
from components.landing_zone import LandingZone, LandingZoneArgs, SubnetPlan
from components.tier import lock_for

from .config import StackConfig

PLATFORM_IDENTITIES = ("aks-control-plane", "aks-kubelet")


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
            identities=PLATFORM_IDENTITIES,
            public_ingress=not cfg.ingress_internal,
            lock=lock_for(cfg.tier),
        ),
    )
