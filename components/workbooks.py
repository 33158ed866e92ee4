"""Role dashboards as Azure Monitor workbooks, built from the same definitions as the alerts.

- platform: cluster, data services and ingress, with the metric alerts' thresholds beside their metrics;
- erp-admin: per tenant environment (a parameter): requests, latency, errors, crons, workers;
- executive: SLO attainment per production environment, open alerts, the last backup drill per environment.

Workbook JSON is the `Notebook/1.0` format (github.com/microsoft/Application-Insights-Workbooks, schema/workbook.json):
items of type 1 (markdown), 3 (query) and 9 (parameters). Queries read Log Analytics (queryType 0) or Azure Resource
Graph (queryType 1). Every Log Analytics table a query names must be one the stack's own data collection fills:
`TABLE_SOURCES` says which source fills which table, and tests/test_observability.py checks it against the plan.
"""
import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

from .metric_alerts import METRIC_ALERTS, POSTGRES, REDIS
from .tier import Tier

# Log Analytics table -> what fills it: a data collection stream of the Container Insights rule, or a diagnostic
# setting (resource type, log category; "AllMetrics" for platform metrics). Sources: Container Insights' stream
# list (learn.microsoft.com/azure/azure-monitor/containers/container-insights-data-collection-configure), the
# "Supported logs" page of each resource type (learn.microsoft.com/azure/azure-monitor/reference/supported-logs/...).
TABLE_SOURCES: dict[str, tuple[str, ...]] = {
    "ContainerLogV2": ("stream:Microsoft-ContainerLogV2",),
    "KubePodInventory": ("stream:Microsoft-KubePodInventory",),
    "KubeNodeInventory": ("stream:Microsoft-KubeNodeInventory",),
    "KubeEvents": ("stream:Microsoft-KubeEvents",),
    "InsightsMetrics": ("stream:Microsoft-InsightsMetrics",),
    "AzureMetrics": ("category:AllMetrics",),
    # PostgreSQL Flexible Server has no resource-specific tables: its categories land in AzureDiagnostics.
    "AzureDiagnostics": ("category:allLogs@Microsoft.DBforPostgreSQL/flexibleServers",),
    "AZKVAuditLogs": ("category:AuditEvent@Microsoft.KeyVault/vaults",),
    "AKSAuditAdmin": ("category:kube-audit-admin@Microsoft.ContainerService/managedClusters",),
    "StorageBlobLogs": ("category:allLogs@Microsoft.Storage/storageAccounts/blobServices",),
}
# Azure Resource Graph tables (not in the workspace).
RESOURCE_GRAPH_TABLES = ("alertsmanagementresources",)

# Traefik's JSON access log (components/traefik.py `accessLog.format: json`) as ContainerLogV2 keeps it.
ACCESS_LOG = (
    'ContainerLogV2 | where PodNamespace == "traefik" | extend entry = todynamic(LogMessage) '
    "| where isnotempty(entry.RequestHost) "
    "| extend host = tostring(entry.RequestHost), status = toint(entry.DownstreamStatus), seconds = tolong(entry.Duration) / 1e9"
)
CRON_LINES = 'ContainerLogV2 | where PodNamespace == "{namespace}" and ContainerName == "odoo" | where tostring(LogMessage) has "odoo.addons.base.models.ir_cron"'
# One JSON line per drill from the backup tool (ops/backup), collected from the drill CronJob's container.
DRILL_RECORDS = (
    'ContainerLogV2 | where ContainerName == "drill" | extend record = todynamic(LogMessage) | where tostring(record.event) == "drill" '
    "| summarize arg_max(TimeGenerated, *) by PodNamespace "
    "| project PodNamespace, TimeGenerated, verdict = tostring(record.verdict), rto_s = todouble(record.rto_s), rpo_s = todouble(record.rpo_s), rto_met = tobool(record.rto_met), rpo_met = tobool(record.rpo_met)"
)


@dataclass(frozen=True)
class SloView:
    host: str
    availability: float  # percent
    latency_threshold_seconds: float
    latency_target: float  # percent


@dataclass(frozen=True)
class Workbook:
    key: str
    title: str
    items: tuple[dict[str, Any], ...]

    def serialized(self) -> str:
        return json.dumps({"version": "Notebook/1.0", "items": list(self.items), "isLocked": False,
                           "$schema": "https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json"}, sort_keys=True)

    def queries(self) -> list[tuple[int, str]]:
        """(queryType, query) of every query item."""
        return [(item["content"]["queryType"], item["content"]["query"]) for item in self.items if item["type"] == 3]


def _text(markdown: str) -> dict[str, Any]:
    return {"type": 1, "content": {"json": markdown}}


def _query(title: str, query: str, visualization: str = "table", resource_graph: bool = False) -> dict[str, Any]:
    content: dict[str, Any] = {
        "version": "KqlItem/1.0",
        "title": title,
        "query": query,
        "size": 0,
        "visualization": visualization,
        "timeContextFromParameter": "TimeRange",
        "queryType": 1 if resource_graph else 0,
        "resourceType": "microsoft.resourcegraph/resources" if resource_graph else "microsoft.operationalinsights/workspaces",
    }
    if resource_graph:
        content["crossComponentResources"] = ["value::all"]
    return {"type": 3, "content": content, "name": re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")}


def _parameters(*extra: dict[str, Any]) -> dict[str, Any]:
    time_range = {"name": "TimeRange", "type": 4, "isRequired": True, "value": {"durationMs": 86400000},
                  "typeSettings": {"selectableValues": [{"durationMs": d} for d in (3600000, 86400000, 604800000, 2592000000)]}}
    return {"type": 9, "content": {"version": "KqlParameterItem/1.0", "parameters": [time_range, *extra]}, "name": "parameters"}


def _metric_chart(arm_type: str, label: str, tier: Tier) -> list[dict[str, Any]]:
    """The metric alerts' metrics of a resource type as charts, titled with the threshold that alerts."""
    provider = arm_type.split("/")[0].upper()
    items = []
    for spec in METRIC_ALERTS[arm_type]:
        if spec.relative_to is not None or spec.role not in (None, "primary"):
            continue
        threshold = spec.threshold[0 if tier.is_production else 1]
        items.append(_query(
            f"{label} {spec.metric} (alerts {spec.operator} {threshold:g})",
            f'AzureMetrics | where ResourceProvider == "{provider}" and MetricName == "{spec.metric}" '
            f"| summarize value = max(Maximum) by bin(TimeGenerated, 5m), Resource",
            "timechart",
        ))
    return items


def platform_view(tier: Tier) -> Workbook:
    return Workbook("platform", "Odoo platform: cluster, data services, ingress", (
        _parameters(),
        _text("## Cluster"),
        _query("Nodes not ready", 'KubeNodeInventory | summarize arg_max(TimeGenerated, Status) by Computer | where Status !has "Ready"'),
        _query("Pods not running by namespace", 'KubePodInventory | where PodStatus !in ("Running", "Succeeded") | summarize pods = dcount(Name) by Namespace, PodStatus'),
        _query("Warning events", 'KubeEvents | where KubeEventType == "Warning" | summarize count() by Namespace, Reason | top 20 by count_'),
        _text("## Data services"),
        *_metric_chart(POSTGRES, "PostgreSQL", tier),
        *_metric_chart(REDIS, "Redis", tier),
        _text("## Ingress"),
        _query("Requests and 5xx per minute", f"{ACCESS_LOG} | summarize requests = count(), errors = countif(status >= 500) by bin(TimeGenerated, 1m)", "timechart"),
    ))


def erp_admin_view(tenants: Sequence[tuple[str, str]]) -> Workbook:
    """`tenants`: (namespace, host) of every tenant environment of the stack, chosen with a parameter."""
    choices = [{"value": ns, "label": host} for ns, host in tenants]
    hosts = {ns: host for ns, host in tenants}
    tenant = {"name": "Tenant", "type": 2, "isRequired": True, "typeSettings": {"additionalResourceOptions": []},
              "jsonData": json.dumps(choices), "value": tenants[0][0] if tenants else None}
    host_of = "case(" + ", ".join(f'"{{Tenant}}" == "{ns}", "{host}"' for ns, host in hosts.items()) + ', "")' if hosts else '""'
    return Workbook("erp-admin", "Odoo ERP administrator: one tenant environment", (
        _parameters(tenant),
        _query("Requests, errors and p95 latency", f"{ACCESS_LOG} | where host == {host_of} "
               "| summarize requests = count(), errors = countif(status >= 500), p95_seconds = percentile(seconds, 95) by bin(TimeGenerated, 5m)", "timechart"),
        _query("Slowest paths", f"{ACCESS_LOG} | where host == {host_of} | extend path = tostring(entry.RequestPath) "
               "| summarize p95_seconds = percentile(seconds, 95), requests = count() by path | top 20 by p95_seconds"),
        _query("Scheduled actions (crons): runs and failures", CRON_LINES.replace("{namespace}", "{Tenant}")
               + ' | summarize failures = countif(tostring(LogMessage) has " ERROR "), lines = count() by bin(TimeGenerated, 1h)', "timechart"),
        _query("Workers", 'KubePodInventory | where Namespace == "{Tenant}" | summarize arg_max(TimeGenerated, PodStatus, ContainerRestartCount) by Name, ControllerName'),
    ))


def executive_view(slos: Sequence[SloView]) -> Workbook:
    items: list[dict[str, Any]] = [_parameters(), _text("## Service levels (30 days)")]
    for slo in slos:
        items.append(_query(
            f"{slo.host}: availability (target {slo.availability:g}%) and requests under {slo.latency_threshold_seconds:g} s (target {slo.latency_target:g}%)",
            f'{ACCESS_LOG} | where host == "{slo.host}" | where TimeGenerated > ago(30d) '
            f"| summarize availability = 100.0 * countif(status < 500) / count(), fast = 100.0 * countif(seconds <= {slo.latency_threshold_seconds:g}) / count()",
        ))
    items += [
        _text("## Open alerts"),
        _query("Open alerts by severity", 'alertsmanagementresources | where properties.essentials.alertState == "New" '
               "| summarize alerts = count() by severity = tostring(properties.essentials.severity)", resource_graph=True),
        _text("## Backups and restore drills"),
        _query("Last restore drill per environment", DRILL_RECORDS),
    ]
    return Workbook("executive", "Odoo platform: executive view", tuple(items))


def workbooks(tier: Tier, tenants: Sequence[tuple[str, str]], slos: Sequence[SloView]) -> list[Workbook]:
    return [platform_view(tier), erp_admin_view(tenants), executive_view(slos)]


def tables_of(query: str) -> set[str]:
    """The tables a KQL query reads: the first word of the query and of every `union`/`join` operand."""
    names = {query.strip().split()[0]}
    names |= set(re.findall(r"\b(?:union|join)\s+(?:kind\s*=\s*\w+\s+)?\(?\s*([A-Za-z_][A-Za-z0-9_]*)", query))
    return names
