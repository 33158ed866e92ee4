"""Sizing profiles (`sizing: small|medium|large`) and the tenant plan's demand on the node pools."""
from dataclasses import dataclass

from components.backup import CPU_M as BACKUP_CPU_M
from components.backup import MEMORY_MIB as BACKUP_MEMORY_MIB
from components.capacity import ConnectionDemand, NodePoolSpec, PodDemand
from components.odoo_tenant import OdooSizing


@dataclass(frozen=True)
class PostgresSize:
    sku: str
    tier: str
    storage_gb: int


@dataclass(frozen=True)
class SizingProfile:
    system_pool: NodePoolSpec
    user_pools: dict[str, NodePoolSpec]
    odoo: OdooSizing
    postgres: PostgresSize
    redis_sku: str


PROFILES: dict[str, SizingProfile] = {
    "small": SizingProfile(
        system_pool=NodePoolSpec("Standard_D2ds_v5", 1, 3),
        user_pools={
            "web": NodePoolSpec("Standard_D4ds_v5", 0, 6),
            # Up to 4: crons, bootstrap Jobs and one backup job per environment (scales from zero).
            "jobs": NodePoolSpec("Standard_D4ds_v5", 0, 4),
            "integration": NodePoolSpec("Standard_D2ds_v5", 0, 2),
        },
        odoo=OdooSizing(1, 2, http_workers=2, cron_threads=1, web_cpu_m=500, web_memory_mib=1024, cron_cpu_m=500, cron_memory_mib=1024),
        postgres=PostgresSize("Standard_B2ms", "Burstable", 64),
        redis_sku="Balanced_B0",
    ),
    "medium": SizingProfile(
        system_pool=NodePoolSpec("Standard_D4ds_v5", 2, 4),
        user_pools={
            "web": NodePoolSpec("Standard_D8ds_v5", 1, 10),
            "jobs": NodePoolSpec("Standard_D4ds_v5", 1, 4),
            "integration": NodePoolSpec("Standard_D4ds_v5", 0, 3),
        },
        odoo=OdooSizing(2, 4, http_workers=4, cron_threads=2, web_cpu_m=1000, web_memory_mib=2048, cron_cpu_m=1000, cron_memory_mib=2048),
        postgres=PostgresSize("Standard_D2ds_v5", "GeneralPurpose", 128),
        redis_sku="Balanced_B1",
    ),
    "large": SizingProfile(
        system_pool=NodePoolSpec("Standard_D4ds_v5", 3, 5),
        user_pools={
            "web": NodePoolSpec("Standard_D8ds_v5", 3, 12),
            "jobs": NodePoolSpec("Standard_E4ds_v5", 2, 6),
            "integration": NodePoolSpec("Standard_D4ds_v5", 1, 4),
        },
        odoo=OdooSizing(3, 8, http_workers=6, cron_threads=2, web_cpu_m=1000, web_memory_mib=2560, cron_cpu_m=1000, cron_memory_mib=3072),
        postgres=PostgresSize("Standard_D4ds_v5", "GeneralPurpose", 256),
        redis_sku="Balanced_B5",
    ),
    # A big shared non-production platform: many light environments (one web pod each).
    "xlarge": SizingProfile(
        system_pool=NodePoolSpec("Standard_D4ds_v5", 3, 6),
        user_pools={
            "web": NodePoolSpec("Standard_D8ds_v5", 0, 40),
            # Three jobs pods per environment (JOBS_PODS_PER_ENVIRONMENT), 13 per node: 200 environments need 47 nodes.
            "jobs": NodePoolSpec("Standard_D8ds_v5", 0, 48),
            "integration": NodePoolSpec("Standard_D4ds_v5", 0, 10),
        },
        odoo=OdooSizing(1, 1, http_workers=2, cron_threads=1, web_cpu_m=500, web_memory_mib=1024, cron_cpu_m=500, cron_memory_mib=1024),
        postgres=PostgresSize("Standard_D16ds_v5", "GeneralPurpose", 1024),
        redis_sku="Balanced_B20",
    ),
}

# Pods on the jobs pool per tenant environment: the cron Deployment, the database bootstrap Job and one backup job
# (the default schedules keep backup, verify, drill and prune apart), each counted at the larger of their sizes.
JOBS_PODS_PER_ENVIRONMENT = 3


def tenant_demand(tenants: list[str], odoo: OdooSizing) -> dict[str, list[PodDemand]]:
    """What every tenant environment asks of each workload class at its largest scale."""
    return {
        "web": [PodDemand(t, odoo.web_max_replicas, odoo.web_cpu_m, odoo.web_memory_mib) for t in tenants],
        "jobs": [
            PodDemand(t, JOBS_PODS_PER_ENVIRONMENT, max(odoo.cron_cpu_m, BACKUP_CPU_M), max(odoo.cron_memory_mib, BACKUP_MEMORY_MIB)) for t in tenants
        ],
    }


def connection_demand(tenants: list[str], odoo: OdooSizing) -> list[ConnectionDemand]:
    """Every tenant environment's PostgreSQL connections at full scale (one cron pod each)."""
    return [ConnectionDemand(t, odoo.web_max_replicas, odoo.http_workers, 1, odoo.cron_threads) for t in tenants]
