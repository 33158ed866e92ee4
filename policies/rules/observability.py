"""Stack policy: in production every alertable resource has its baseline metric alerts, and every alert reaches someone.

A resource is covered for a metric when an enabled `azure-native:monitor:MetricAlert` names that metric
in `criteria.allOf[].metricName` and lists the resource in `scopes`. Whether a scope is the resource:

- by ARM resource id when the alert's scope is known: the resource's own `id` when the engine sends one,
  otherwise the id built from its `resourceGroupName` and Azure name (the pack sees inputs, not the
  subscription, so the id's tail from `/resourceGroups/` on is compared, case-insensitively);
- by the alert's property dependencies on `scopes` when a scope is unknown (in a real `pulumi preview`
  the id of a resource not created yet is unknown): the URNs the engine says `scopes` was computed from.
  An engine that sends no property dependencies falls back to the alert's dependencies.

Props arrive inside pulumi_policy's unknown-checking proxy: every read goes through `_read`, so an
unknown value never aborts the policy. An unknown `enabled`, action group id or metric namespace counts
as set (the policy runs again with every value known when the resources are created); an unknown
metric name covers nothing.

Only alerts on the resource itself count: an alert scoped to a resource group or subscription with
`targetResourceType`, or to a child resource (a storage account's blob service), does not.
"""
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

from pulumi_policy import Severity
from pulumi_policy.proxy import UnknownValueError

from .common import PRODUCTION, StackRule, get

METRIC_ALERT = "azure-native:monitor:MetricAlert"
ACTIVITY_LOG_ALERT = "azure-native:monitor:ActivityLogAlert"
SCHEDULED_QUERY_RULE = "azure-native:monitor:ScheduledQueryRule"
PROMETHEUS_RULE_GROUP = "azure-native:alertsmanagement:PrometheusRuleGroup"
METRIC_CRITERIA = ("Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria", "Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria")
URL = "https://azure.github.io/azure-monitor-baseline-alerts/"

# The baseline: Pulumi type -> (ARM resource type, the input holding the Azure name, metric names that each
# need an enabled metric alert scoped to the resource). The floor below which a production resource is not
# watched, not the full alert set (thresholds and the other alerts are the Observability component's).
# Metric names as Azure Monitor exposes them per resource type; each is in ../shared/vendor/azure-monitor/
# metric-definitions.json (Azure Monitor Baseline Alerts' metric catalogue), checked by a test.
BASELINE: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # Microsoft.DBforPostgreSQL/flexibleServers
    "azure-native:dbforpostgresql:Server": ("Microsoft.DBforPostgreSQL/flexibleServers", "serverName", (
        "cpu_percent", "memory_percent", "storage_percent", "is_db_alive", "active_connections", "maximum_used_transactionIDs")),
    # Microsoft.Cache/redisEnterprise (Azure Managed Redis)
    "azure-native:redisenterprise:RedisEnterprise": ("Microsoft.Cache/redisEnterprise", "clusterName", ("usedmemorypercentage", "serverLoad", "errors")),
    # Microsoft.Storage/storageAccounts
    "azure-native:storage:StorageAccount": ("Microsoft.Storage/storageAccounts", "accountName", ("Availability",)),
    # Microsoft.KeyVault/vaults
    "azure-native:keyvault:Vault": ("Microsoft.KeyVault/vaults", "vaultName", ("Availability",)),
    # Microsoft.ContainerService/managedClusters (AKS platform metrics)
    "azure-native:containerservice:ManagedCluster": ("Microsoft.ContainerService/managedClusters", "resourceName", (
        "node_cpu_usage_percentage", "node_memory_working_set_percentage", "node_disk_usage_percentage")),
    # Microsoft.Network/publicIPAddresses
    "azure-native:network:PublicIPAddress": ("Microsoft.Network/publicIPAddresses", "publicIpAddressName", ("VipAvailability",)),
    # Microsoft.Network/natGateways
    "azure-native:network:NatGateway": ("Microsoft.Network/natGateways", "natGatewayName", ("DatapathAvailability",)),
    # Microsoft.ContainerRegistry/registries
    "azure-native:containerregistry:Registry": ("Microsoft.ContainerRegistry/registries", "registryName", ("StorageUsed",)),
    # Microsoft.Monitor/accounts (Azure Monitor workspace)
    "azure-native:monitor:AzureMonitorWorkspace": ("Microsoft.Monitor/accounts", "azureMonitorWorkspaceName", (
        "ActiveTimeSeriesPercentUtilization", "EventsPerMinuteIngestedPercentUtilization")),
    # Microsoft.DataProtection/backupVaults
    "azure-native:dataprotection:BackupVault": ("Microsoft.DataProtection/backupVaults", "vaultName", ("BackupHealthEvent",)),
}

UNKNOWN = object()  # a value the engine does not know yet (preview)


def _read(read: Callable[[], Any]) -> Any:
    """`read()`, or UNKNOWN when it touches an unknown value."""
    try:
        return read()
    except UnknownValueError:
        return UNKNOWN


def _items(value: Any) -> list[Any]:
    """The elements of a list that may hold unknowns (each unknown element as UNKNOWN); [UNKNOWN] for an unknown list."""
    if value is UNKNOWN:
        return [UNKNOWN]
    if isinstance(value, str) or not isinstance(value, Sequence):
        return []
    return [_read(lambda i=i: value[i]) for i in range(len(value))]


def _field(obj: Any, path: str) -> Any:
    return _read(lambda: get(obj, path)) if isinstance(obj, Mapping) else None


def _set(value: Any) -> bool:
    """A value that is, or will be, a non-empty string."""
    return value is UNKNOWN or (isinstance(value, str) and bool(value.strip()))


def _of(resources, type_):
    return [r for r in resources if r.resource_type == type_]


# Coverage ------------------------------------------------------------------------------------------

def _resource_id(r) -> Optional[str]:
    """The resource's ARM id (or its tail from /resourcegroups/), lower-case; None when not known yet."""
    own = _read(lambda: r.props.get("id"))
    if isinstance(own, str) and own.startswith("/subscriptions/"):
        return own.lower()
    arm_type, name_key, _ = BASELINE[r.resource_type]
    group = _read(lambda: r.props.get("resourceGroupName"))
    name = _read(lambda: r.props.get(name_key)) or r.name
    if not isinstance(group, str) or not group or not isinstance(name, str):
        return None
    return f"/resourcegroups/{group}/providers/{arm_type}/{name}".lower()


def _scoped_to(alert, resource_id: Optional[str], urn: str) -> bool:
    scopes = _items(_read(lambda: alert.props.get("scopes")))
    known = [s.lower() for s in scopes if isinstance(s, str)]
    if resource_id and any(s == resource_id or (s.startswith("/subscriptions/") and s.endswith(resource_id)) for s in known):
        return True
    if UNKNOWN not in scopes:
        return False
    deps = alert.property_dependencies.get("scopes") if "scopes" in alert.property_dependencies else alert.dependencies
    return any(d.urn == urn for d in deps or [])


def _metrics(alert, arm_type: str) -> set[str]:
    """The metric names an enabled metric alert watches in `arm_type`'s namespace (or with no namespace given)."""
    if _read(lambda: alert.props.get("enabled")) is False:
        return set()
    criteria = _read(lambda: alert.props.get("criteria"))
    if not isinstance(criteria, Mapping) or _field(criteria, "odataType") not in (*METRIC_CRITERIA, UNKNOWN):
        return set()
    names = set()
    for criterion in _items(_field(criteria, "allOf")):
        name, namespace = _field(criterion, "metricName"), _field(criterion, "metricNamespace")
        if isinstance(name, str) and (namespace in (None, "", UNKNOWN) or str(namespace).lower() == arm_type.lower()):
            names.add(name)
    return names


def _coverage(resources, c):
    alerts = _of(resources, METRIC_ALERT)
    for r in resources:
        if r.resource_type not in BASELINE:
            continue
        arm_type, _, required = BASELINE[r.resource_type]
        resource_id = _resource_id(r)
        covered: set[str] = set()
        for alert in alerts:
            if _scoped_to(alert, resource_id, r.urn):
                covered |= _metrics(alert, arm_type)
        missing = [m for m in required if m not in covered]
        if missing:
            yield f"{r.resource_type} {r.name!r} has no enabled metric alert scoped to it for: {', '.join(missing)}", r.urn


# Action groups -------------------------------------------------------------------------------------

def _metric_alert_notifies(props) -> bool:
    return any(_set(_field(a, "actionGroupId")) or a is UNKNOWN for a in _items(_read(lambda: props.get("actions"))))


def _action_list_notifies(props) -> bool:
    """ActivityLogAlert: actions.actionGroups[].actionGroupId."""
    return any(_set(_field(g, "actionGroupId")) or g is UNKNOWN for g in _items(_field(props, "actions.actionGroups")))


def _actions_notify(props) -> bool:
    """ScheduledQueryRule: actions.actionGroups[] are action group ids."""
    return any(_set(g) for g in _items(_field(props, "actions.actionGroups")))


def _silent_prometheus_alerts(props) -> list[str]:
    """Alerting rules (with `alert`) of a rule group that have no action group; recording rules (`record`) need none."""
    silent = []
    for i, rule in enumerate(_items(_read(lambda: props.get("rules")))):
        alert = _field(rule, "alert")
        if not _set(alert):
            continue
        if not any(_set(_field(a, "actionGroupId")) or a is UNKNOWN for a in _items(_field(rule, "actions"))):
            silent.append(alert if isinstance(alert, str) else f"rules[{i}]")
    return silent


NOTIFIES = {METRIC_ALERT: _metric_alert_notifies, ACTIVITY_LOG_ALERT: _action_list_notifies, SCHEDULED_QUERY_RULE: _actions_notify}


def _action_groups(resources, c):
    for r in resources:
        if r.resource_type in NOTIFIES and not NOTIFIES[r.resource_type](r.props):
            yield f"{r.resource_type} {r.name!r} has no action group", r.urn
        elif r.resource_type == PROMETHEUS_RULE_GROUP:
            silent = _silent_prometheus_alerts(r.props)
            if silent:
                yield f"{r.resource_type} {r.name!r} has alert rules without an action group: {', '.join(silent)}", r.urn


def _alert_coverage(resources, c):
    yield from _coverage(resources, c)
    yield from _action_groups(resources, c)


RULES = [
    StackRule(
        "production-alert-coverage",
        "Production resources of an alertable type have their baseline metric alerts (enabled, scoped to them), "
        "and every alert (metric, activity log, log query, Prometheus alert rule) has an action group.",
        _alert_coverage, tiers=(PRODUCTION,), severity=Severity.HIGH, control="IR-2",
        remediation="Create the resource through its component with the stack's Observability (alerts and action groups); "
                    "give every alert an action group.",
        url=URL,
    ),
]
