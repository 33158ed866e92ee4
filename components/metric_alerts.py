"""Azure Monitor metric alerts per resource type the platform creates: metric, aggregation, threshold per tier, kind.

Metric names, aggregations, dimensions and time grains are checked in tests/test_observability.py against Azure's
metric catalogue (shared/vendor/azure-monitor/metric-definitions.json, from Azure/azure-monitor-baseline-alerts).
Where we differ from AMBA's baseline (shared/vendor/azure-monitor/amba-alerts/), `why` says so.
"""
from dataclasses import dataclass
from typing import Literal, Optional

from .severity import Kind
from .tier import Tier

Operator = Literal["GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual"]
Aggregation = Literal["Average", "Maximum", "Minimum", "Total", "Count"]

POSTGRES = "Microsoft.DBforPostgreSQL/flexibleServers"
REDIS = "Microsoft.Cache/redisEnterprise"
STORAGE = "Microsoft.Storage/storageAccounts"
KEY_VAULT = "Microsoft.KeyVault/vaults"
AKS = "Microsoft.ContainerService/managedClusters"
PUBLIC_IP = "Microsoft.Network/publicIPAddresses"
LOAD_BALANCER = "Microsoft.Network/loadBalancers"
NAT_GATEWAY = "Microsoft.Network/natGateways"
REGISTRY = "Microsoft.ContainerRegistry/registries"
MONITOR_WORKSPACE = "Microsoft.Monitor/accounts"
BACKUP_VAULT = "Microsoft.DataProtection/backupVaults"

GIB = 1024**3


@dataclass(frozen=True)
class Dimension:
    name: str
    values: tuple[str, ...]
    operator: Literal["Include", "Exclude"] = "Include"


@dataclass(frozen=True)
class MetricAlertSpec:
    name: str  # short, unique per resource type: part of the alert rule's name
    metric: str
    aggregation: Aggregation
    operator: Operator
    # (production, non-production); with `relative_to`, a fraction of that limit of the watched resource.
    threshold: tuple[float, float]
    kind: Kind
    summary: str
    window: str = "PT5M"
    frequency: str = "PT1M"
    dimensions: tuple[Dimension, ...] = ()
    relative_to: Optional[str] = None  # a key of AlertTarget.limits, e.g. "max_connections"
    role: Optional[str] = None  # only for targets of this role (e.g. "replica"); None: every target of the type
    why: str = ""  # where and why we differ from AMBA

    def threshold_for(self, tier: Tier, limits: dict[str, float]) -> float:
        value = self.threshold[0 if tier.is_production else 1]
        if self.relative_to is None:
            return value
        if self.relative_to not in limits:
            raise ValueError(f"metric alert {self.name} needs the target's {self.relative_to}")
        return round(value * limits[self.relative_to])


METRIC_ALERTS: dict[str, tuple[MetricAlertSpec, ...]] = {
    POSTGRES: (
        MetricAlertSpec("alive", "is_db_alive", "Minimum", "LessThan", (1, 1), Kind.AVAILABILITY, "PostgreSQL server is down"),
        MetricAlertSpec("cpu", "cpu_percent", "Average", "GreaterThan", (80, 95), Kind.SATURATION, "PostgreSQL CPU above {threshold}% for 15 minutes",
                        window="PT15M", frequency="PT5M", why="AMBA: 90% over 5 minutes; Odoo's month-end reports spike CPU for minutes, sustained load is what matters"),
        MetricAlertSpec("memory", "memory_percent", "Average", "GreaterThan", (90, 95), Kind.SATURATION, "PostgreSQL memory above {threshold}% for 15 minutes",
                        window="PT15M", frequency="PT5M"),
        MetricAlertSpec("storage-percent", "storage_percent", "Maximum", "GreaterThan", (80, 90), Kind.CAPACITY, "PostgreSQL storage above {threshold}%",
                        why="AMBA: 90%; Flexible Server turns read-only at 95%, so production warns earlier"),
        MetricAlertSpec("storage-free", "storage_free", "Minimum", "LessThan", (10 * GIB, 2 * GIB), Kind.AVAILABILITY, "PostgreSQL has less than {threshold} bytes free",
                        why="not in AMBA: a percentage hides how little is left on a small disk"),
        MetricAlertSpec("iops", "disk_iops_consumed_percentage", "Average", "GreaterThan", (90, 95), Kind.SATURATION, "PostgreSQL IOPS above {threshold}% of the provisioned limit",
                        window="PT15M", frequency="PT5M"),
        MetricAlertSpec("failed-connections", "connections_failed", "Total", "GreaterThan", (25, 100), Kind.DEGRADATION, "more than {threshold} failed PostgreSQL connections in 5 minutes"),
        MetricAlertSpec("connections", "active_connections", "Maximum", "GreaterThan", (0.8, 0.9), Kind.SATURATION,
                        "PostgreSQL connections above {threshold}, 80% of the max_connections the platform computed", relative_to="max_connections",
                        why="AMBA: a fixed count; ours follows the max_connections set for the server's SKU and tenants"),
        MetricAlertSpec("txid-age", "maximum_used_transactionIDs", "Maximum", "GreaterThan", (1.0e9, 1.5e9), Kind.DATA_RISK,
                        "PostgreSQL transaction ids above {threshold}: autovacuum is not freezing, wraparound shuts the server down at 2^31",
                        window="PT15M", frequency="PT5M",
                        why="AMBA: 10,737,418,240, above the 2,147,483,648 wraparound limit, so it can never fire; 1e9 is five times autovacuum_freeze_max_age's default"),
        MetricAlertSpec("replica-lag", "physical_replication_delay_in_seconds", "Maximum", "GreaterThan", (300, 3600), Kind.DATA_RISK,
                        "DR replica more than {threshold} s behind the primary", role="replica", window="PT15M", frequency="PT5M"),
    ),
    REDIS: (
        MetricAlertSpec("memory", "usedmemorypercentage", "Maximum", "GreaterThan", (80, 90), Kind.SATURATION, "Redis memory above {threshold}%: sessions will be evicted",
                        frequency="PT5M", why="AMBA has no rule for Azure Managed Redis (redisEnterprise)"),
        MetricAlertSpec("server-load", "serverLoad", "Maximum", "GreaterThan", (80, 90), Kind.SATURATION, "Redis server load above {threshold}% for 15 minutes",
                        window="PT15M", frequency="PT5M"),
        MetricAlertSpec("errors", "errors", "Maximum", "GreaterThan", (0, 0), Kind.DEGRADATION, "Redis reports errors", window="PT5M", frequency="PT5M"),
        MetricAlertSpec("evictions", "evictedkeys", "Total", "GreaterThan", (0, 100), Kind.DEGRADATION, "Redis evicted keys: Odoo users lose their sessions",
                        window="PT5M", frequency="PT5M"),
        MetricAlertSpec("clients", "connectedclients", "Maximum", "GreaterThan", (2.0, 3.0), Kind.SATURATION,
                        "more than {threshold} Redis clients, twice what the platform's Odoo workers open: a connection leak", relative_to="expected_clients",
                        window="PT15M", frequency="PT5M"),
    ),
    STORAGE: (
        MetricAlertSpec("availability", "Availability", "Average", "LessThan", (99.9, 99.0), Kind.AVAILABILITY, "storage availability below {threshold}%",
                        window="PT15M", frequency="PT5M", why="AMBA: 90%; attachments fail for users long before"),
        MetricAlertSpec("latency", "SuccessE2ELatency", "Average", "GreaterThan", (1000, 3000), Kind.DEGRADATION, "storage end-to-end latency above {threshold} ms",
                        window="PT15M", frequency="PT5M"),
        MetricAlertSpec("throttling", "Transactions", "Total", "GreaterThan", (10, 100), Kind.DEGRADATION, "storage throttled more than {threshold} requests in 5 minutes",
                        dimensions=(Dimension("ResponseType", ("ServerBusyError", "ClientThrottlingError")),)),
    ),
    KEY_VAULT: (
        MetricAlertSpec("availability", "Availability", "Average", "LessThan", (99.9, 99.0), Kind.AVAILABILITY, "Key Vault availability below {threshold}%: pods cannot start",
                        window="PT15M", frequency="PT5M"),
        MetricAlertSpec("saturation", "SaturationShoebox", "Average", "GreaterThan", (75, 90), Kind.SATURATION, "Key Vault above {threshold}% of its request limit"),
        MetricAlertSpec("latency", "ServiceApiLatency", "Average", "GreaterThan", (1000, 3000), Kind.DEGRADATION, "Key Vault latency above {threshold} ms",
                        window="PT15M", frequency="PT5M"),
    ),
    AKS: (
        MetricAlertSpec("node-cpu", "node_cpu_usage_percentage", "Average", "GreaterThan", (90, 95), Kind.SATURATION, "node CPU above {threshold}% for 15 minutes",
                        window="PT15M", frequency="PT5M", dimensions=(Dimension("node", ("*",)),)),
        MetricAlertSpec("node-memory", "node_memory_working_set_percentage", "Average", "GreaterThan", (90, 95), Kind.SATURATION, "node memory above {threshold}%",
                        window="PT15M", frequency="PT5M", dimensions=(Dimension("node", ("*",)),)),
        MetricAlertSpec("node-disk", "node_disk_usage_percentage", "Average", "GreaterThan", (85, 90), Kind.CAPACITY, "node disk above {threshold}%",
                        window="PT15M", frequency="PT5M", dimensions=(Dimension("node", ("*",)),)),
        MetricAlertSpec("unschedulable", "cluster_autoscaler_unschedulable_pods_count", "Average", "GreaterThan", (0, 0), Kind.CAPACITY,
                        "pods the autoscaler cannot place for 30 minutes: the pools are at their maximum", window="PT30M", frequency="PT5M"),
    ),
    PUBLIC_IP: (
        MetricAlertSpec("data-path", "VipAvailability", "Average", "LessThan", (99, 90), Kind.AVAILABILITY, "ingress address data-path availability below {threshold}%"),
        MetricAlertSpec("ddos", "IfUnderDDoSAttack", "Maximum", "GreaterThan", (0, 0), Kind.SECURITY, "ingress address under DDoS attack"),
    ),
    LOAD_BALANCER: (
        MetricAlertSpec("health-probe", "DipAvailability", "Average", "LessThan", (90, 50), Kind.AVAILABILITY, "ingress health probes below {threshold}%: Traefik pods unreachable"),
        MetricAlertSpec("data-path", "VipAvailability", "Average", "LessThan", (99, 90), Kind.AVAILABILITY, "ingress load balancer data path below {threshold}%"),
        MetricAlertSpec("snat-failures", "SnatConnectionCount", "Total", "GreaterThan", (0, 10), Kind.DEGRADATION, "outbound SNAT connections failing",
                        dimensions=(Dimension("ConnectionState", ("Failed",)),)),
    ),
    NAT_GATEWAY: (
        MetricAlertSpec("data-path", "DatapathAvailability", "Average", "LessThan", (90, 50), Kind.DEGRADATION, "NAT gateway data path below {threshold}%: PostgreSQL cannot reach Entra ID"),
        MetricAlertSpec("snat-failures", "SNATConnectionCount", "Total", "GreaterThan", (0, 10), Kind.DEGRADATION, "NAT gateway SNAT connections failing",
                        dimensions=(Dimension("ConnectionState", ("Failed",)),)),
    ),
    REGISTRY: (
        MetricAlertSpec("storage", "StorageUsed", "Average", "GreaterThan", (400 * GIB, 400 * GIB), Kind.CAPACITY,
                        "registry storage above {threshold} bytes (Premium includes 500 GiB)", window="PT1H", frequency="PT1H"),
    ),
    MONITOR_WORKSPACE: (
        MetricAlertSpec("time-series", "ActiveTimeSeriesPercentUtilization", "Average", "GreaterThan", (80, 90), Kind.CAPACITY,
                        "Azure Monitor workspace above {threshold}% of its active time series limit: new series are dropped", window="PT15M", frequency="PT5M"),
        MetricAlertSpec("ingestion", "EventsPerMinuteIngestedPercentUtilization", "Average", "GreaterThan", (80, 90), Kind.CAPACITY,
                        "Azure Monitor workspace above {threshold}% of its ingestion limit: samples are throttled", window="PT15M", frequency="PT5M"),
    ),
    BACKUP_VAULT: (
        MetricAlertSpec("backup-health", "BackupHealthEvent", "Count", "GreaterThan", (0, 0), Kind.DATA_RISK, "a protected item's backup is unhealthy",
                        window="PT1H", frequency="PT1H", dimensions=(Dimension("healthStatus", ("TransientUnhealthy", "PersistentUnhealthy")),),
                        why="AMBA has no backup vault rule"),
    ),
}


def specs_for(arm_type: str, role: str) -> tuple[MetricAlertSpec, ...]:
    """The alerts a target of this type and role gets."""
    return tuple(s for s in METRIC_ALERTS[arm_type] if s.role is None or s.role == role)
