"""Node pools per workload class and how many tenant pods they hold. Pure: no Pulumi, usable by config validation."""
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from .tier import Tier

WORKLOAD_CLASSES = ("web", "jobs", "integration")
PRODUCTION_ZONES = ("1", "2", "3")
MIN_PRODUCTION_SYSTEM_NODES = 3
# Pods every node runs for the platform (Cilium, CSI drivers, monitoring agents, secrets provider, ...)
# and what they request: taken off each node before tenant pods are counted.
DAEMONSET_PODS = 12
DAEMONSET_CPU_M = 600
DAEMONSET_MEMORY_MIB = 1200

# vCPUs and memory (MiB) of the VM sizes the sizing profiles use.
VM_SIZES: dict[str, tuple[int, int]] = {
    "Standard_D2ds_v5": (2, 8192),
    "Standard_D4ds_v5": (4, 16384),
    "Standard_D8ds_v5": (8, 32768),
    "Standard_D16ds_v5": (16, 65536),
    "Standard_E4ds_v5": (4, 32768),
    "Standard_E8ds_v5": (8, 65536),
}


@dataclass(frozen=True)
class NodePoolSpec:
    vm_size: str
    min_count: int
    max_count: int
    max_pods: int = 50
    os_disk_type: str = "Ephemeral"
    os_disk_size_gb: int = 64
    zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class PodDemand:
    """What one tenant environment asks of one workload class at its largest scale."""

    tenant: str
    pods: int
    cpu_m: int
    memory_mib: int


class CapacityError(ValueError):
    """The tenant plan cannot fit the node pools at their maximum size."""


def pools_for_tier(tier: Tier, system: NodePoolSpec, user: Mapping[str, NodePoolSpec]) -> tuple[NodePoolSpec, dict[str, NodePoolSpec]]:
    """Production spreads every pool over three zones, keeps 3+ system nodes and never scales user pools to zero."""
    if not tier.is_production:
        return system, dict(user)
    sys_min = max(system.min_count, MIN_PRODUCTION_SYSTEM_NODES)
    system = replace(system, zones=PRODUCTION_ZONES, min_count=sys_min, max_count=max(system.max_count, sys_min))
    return system, {
        cls: replace(spec, zones=PRODUCTION_ZONES, min_count=max(spec.min_count, 1), max_count=max(spec.max_count, 1))
        for cls, spec in user.items()
    }


def pods_per_node(spec: NodePoolSpec, cpu_m: int, memory_mib: int) -> int:
    """Tenant pods of this size one node holds: by pod slots, CPU and memory after AKS reservations and daemonsets."""
    vcpus, memory = VM_SIZES[spec.vm_size]
    cpu_allocatable = vcpus * 1000 * 0.9 - DAEMONSET_CPU_M
    # AKS reserves 20 MiB per pod slot + 50 MiB for the kubelet, and 100 MiB for eviction.
    memory_allocatable = memory - (20 * spec.max_pods + 50) - 100 - DAEMONSET_MEMORY_MIB
    return max(0, min(spec.max_pods - DAEMONSET_PODS, int(cpu_allocatable // cpu_m), int(memory_allocatable // memory_mib)))


def check_capacity(pools: Mapping[str, NodePoolSpec], demand: Mapping[str, Sequence[PodDemand]]) -> dict[str, int]:
    """Pod capacity per workload class at the pools' max size; CapacityError if the tenants' demand exceeds it."""
    capacity: dict[str, int] = {}
    for cls, demands in demand.items():
        if not demands:
            continue
        spec = pools[cls]
        largest = max(demands, key=lambda d: (d.cpu_m, d.memory_mib))
        per_node = pods_per_node(spec, largest.cpu_m, largest.memory_mib)
        capacity[cls] = per_node * spec.max_count
        needed = sum(d.pods for d in demands)
        if needed > capacity[cls]:
            listing = ", ".join(f"{d.tenant} {d.pods}" for d in demands)
            raise CapacityError(
                f"workload class {cls!r} needs {needed} pods for {len(demands)} tenant environments ({listing}) "
                f"but its pool holds at most {capacity[cls]} ({spec.max_count} x {spec.vm_size} nodes, {per_node} pods of "
                f"{largest.cpu_m}m CPU / {largest.memory_mib} MiB each); raise the pool's max size or use a larger sizing profile"
            )
    return capacity


# Default max_connections per PostgreSQL Flexible Server SKU (Azure reserves 15 of them).
POSTGRES_MAX_CONNECTIONS: dict[str, int] = {
    "Standard_B1ms": 50,
    "Standard_B2s": 429,
    "Standard_B2ms": 859,
    "Standard_D2ds_v5": 859,
    "Standard_D4ds_v5": 1718,
    "Standard_D8ds_v5": 3437,
    "Standard_D16ds_v5": 5000,
    "Standard_E4ds_v5": 3437,
}
POSTGRES_RESERVED_CONNECTIONS = 15
# Odoo opens 2-3 connections per process (request cursor, bus/notify, cron lock); plan for 3.
CONNECTIONS_PER_PROCESS = 3
CONNECTION_HEADROOM = 1.2


@dataclass(frozen=True)
class ConnectionDemand:
    """One tenant environment's Odoo processes at full scale."""

    tenant: str
    web_pods: int
    http_workers: int
    cron_pods: int
    cron_threads: int

    @property
    def connections(self) -> int:
        # Each web pod runs its HTTP workers plus one gevent (websocket) process; a cron pod its cron threads plus one.
        processes = self.web_pods * (self.http_workers + 1) + self.cron_pods * (self.cron_threads + 1)
        return processes * CONNECTIONS_PER_PROCESS


def postgres_max_connections(sku: str, demand: Sequence[ConnectionDemand]) -> int:
    """The `max_connections` to set: the tenants' connections plus headroom and Azure's reserve; CapacityError if the SKU cannot."""
    needed = sum(d.connections for d in demand)
    wanted = int(needed * CONNECTION_HEADROOM) + POSTGRES_RESERVED_CONNECTIONS
    limit = POSTGRES_MAX_CONNECTIONS[sku]
    if wanted > limit:
        listing = ", ".join(f"{d.tenant} {d.connections}" for d in demand)
        raise CapacityError(
            f"PostgreSQL {sku} allows {limit} connections but {len(demand)} tenant environments need {needed} "
            f"({listing}), {wanted} with {round((CONNECTION_HEADROOM - 1) * 100)}% headroom and {POSTGRES_RESERVED_CONNECTIONS} reserved; "
            f"use a larger sizing profile or move units to their own stack"
        )
    return wanted
