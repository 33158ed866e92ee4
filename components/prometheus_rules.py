"""Prometheus rule groups for Azure Managed Prometheus, as data: no Pulumi here (components/observability.py deploys them).

Three families:
- `cluster_rule_groups`: Microsoft's recommended AKS alert rules (cluster, node and pod level), at the severity the
  platform's helper (components/severity.py) decides instead of Microsoft's fixed 3-4, plus the shared ingress.
- `tenant_rule_groups`: Odoo-specific rules per tenant environment, computed from Traefik's and kube-state-metrics' own
  metrics, with a business calendar (severity louder inside a unit's close and payroll windows).
- For production tenant environments, service-level objectives: error-ratio recording rules and the SRE workbook's
  multiwindow, multi-burn-rate alerts.
`prometheus_rule_file` renders groups in the standard rule-file format that `promtool check rules` reads.

Sources (checked, not remembered):
- Azure limits (MicrosoftDocs/azure-docs includes/azure-monitor-limits-metrics.md @ 043d14228983b8f249f4154360ec8fba9719869d,
  "Alert rules": "Rules per rule group: 20", "Rule group evaluation interval: Between 1-15 minutes"; the REST API's
  PrometheusRuleGroupProperties.interval: "Should be between 1 and 15 minutes").
- Microsoft's recommended rules: Azure/prometheus-collector GeneratedMonitoringArtifacts/Default/recommendedMetricAlerts.json
  @ 917abcce9e3ff45830864eb67c0b5567a9846f13 (same expressions as AddonBicepTemplate/recommendedMetricAlerts.bicep
  @ 4cee2ef5105576640bf3f995ebd3ea32458a522e): 30 rules in 3 groups (cluster 11, node 3, pod 16), interval PT1M.
- Metrics kept by managed Prometheus' default ("minimal ingestion") profile: Azure/prometheus-collector
  otelcollector/shared/configmap/mp/tomlparser-default-targets-metrics-keep-list.go @ 8b94c4f64378e98bc5abf4b58f1011700cab1ddb
  (`kubestateRegex_minimal_mac`): every kube-state-metrics series used below is in it (kube_job_failed, not
  kube_job_status_failed; no kube_deployment_status_replicas_unavailable; no cAdvisor OOM-event counter).
- kube-state-metrics v2 names and labels: kubernetes/kube-state-metrics docs/metrics/workload/*.md, docs/metrics/policy/
  resourcequota-metrics.md and internal/store/job.go (kube_job_failed{condition}) @ c92fe0c5ce02d3b52abf54490e00db6c706f2ba5.
- KEDA names the HPA of ScaledObject X `keda-hpa-X` (kedacore/keda controllers/keda/hpa.go getDefaultHpaName
  @ 8b4f083ca8c8c2baf8477e322bd4d16ac4dfa09a); the platform sets no custom HPA name.
- Traefik v3 (traefik/traefik @ fd5a576df2e8aeb0bfc8a96b6ef6e60a61f7ec0a, v3.7): service metrics
  `traefik_service_requests_total` and `traefik_service_request_duration_seconds` with labels code, method, protocol,
  service (pkg/observability/metrics/prometheus.go); protocol is http, websocket, sse, grpc or grpc-web
  (pkg/middlewares/metrics/metrics.go); the service label is the provider-qualified name (pkg/server/service/service.go,
  GetQualifiedName). An IngressRoute route with ONE Kubernetes Service gets the service name
  `<namespace>-<ingressroute>-<first 10 bytes of sha256(match), hex>` (pkg/provider/kubernetes/crd/kubernetes_http.go
  makeServiceKey / nameAndService; fixture "default-test-route-6b204d94623b3df4370c"), NOT `<ns>-<svc>-<port>`:
  that form only names the children of a weighted (multi-service) route. So the label is
  `odoo-gc-prod-odoo-<20 hex>@kubernetescrd`, one per route of the tenant's IngressRoute `odoo`.
  With no ready endpoint the CRD provider drops the route (404, no service series): a full outage is seen by
  `OdooWebDown`, not by the Traefik ratios.
- Multiwindow, multi-burn-rate alerts: Google SRE Workbook, chapter "Alerting on SLOs", section 6 and its final
  example (https://sre.google/workbook/alerting-on-slos/): page on 14.4x over 1h and 5m or 6x over 6h and 30m,
  ticket on 3x over 1d and 2h or 1x over 3d and 6h (30-day budget).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from .severity import BusinessWindow, Criticality, Kind, severity
from .tier import Tier

# -- Azure Managed Prometheus limits (sources above) -------------------------------------------------------------------
MAX_RULES_PER_GROUP = 20
MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS = 60, 15 * 60

# -- What the platform deploys (kept here as plain data: this module imports nothing that imports Pulumi; the tests
# compare each with the component that owns it) ------------------------------------------------------------------------
INGRESS_ROUTE = "odoo"  # components/odoo_tenant.py: the tenant's IngressRoute
TRAEFIK_NAMESPACE, TRAEFIK_DEPLOYMENT = "traefik", "traefik"  # components/traefik.py, chart 41.3.0
BOOTSTRAP_NAMESPACE = "odoo-bootstrap"  # components/db_bootstrap.py NAMESPACE; one Job `bootstrap-<tenant key>` per tenant
WEB_DEPLOYMENT, CRON_DEPLOYMENT = "odoo-web", "odoo-cron"
# The web Deployment's autoscaler: an HPA named like the Deployment (production), or KEDA's for the ScaledObject
# `odoo-web` (non-production with working hours).
WEB_HPAS = (WEB_DEPLOYMENT, f"keda-hpa-{WEB_DEPLOYMENT}")
TENANT_NAMESPACES = "odoo-.+"  # every tenant namespace (and the bootstrap one): owned by the tenant rules below
# Jobs whose failure puts data at risk (backup and restore-drill CronJobs); any other Job is set-up or upgrade work.
DATA_JOBS = "(backup|drill|restore).*"
ROTATION_JOBS = "rotate-.*"  # components/rotation_jobs.py: rotate-db-<env>, rotate-redis-access-key, rotate-postgres-admin-password

# -- Thresholds ---------------------------------------------------------------------------------------------------------
ERROR_RATIO_ALERT = 0.05  # share of 5xx answers
MIN_REQUESTS_PER_SECOND = 0.05  # below this (15 requests in 5 minutes) ratios and percentiles are noise
NON_PRODUCTION_P95_SECONDS = 2.5  # production uses its latency objective's threshold
QUOTA_ALMOST_FULL = 0.9
RESTARTS_PER_HOUR = 3
FAILED_JOB_MAX_AGE_SECONDS = 24 * 3600  # a CronJob keeps its last failed Job: only recent failures alert

# Business processes named in every tenant alert.
WEB_PROCESS = "interactive ERP use (sales, purchasing, invoicing, projects)"
CRON_PROCESS = "scheduled jobs (crons)"
DATA_PROCESS = "backups and restore drills"
SETUP_PROCESS = "environment set-up and upgrades"


# -- Data model ---------------------------------------------------------------------------------------------------------

def seconds(duration: int | str) -> int:
    """`600`, `"10m"`, `"1h30m"`, `"1d"` or ISO 8601 `"PT10M"` as seconds."""
    if isinstance(duration, int):
        return duration
    iso = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", duration)
    if iso and duration not in ("P", "PT"):
        d, h, m, s = (int(x or 0) for x in iso.groups())
        return ((d * 24 + h) * 60 + m) * 60 + s
    parts = re.findall(r"(\d+)([dhms])", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    return sum(int(n) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def prometheus_duration(value: int) -> str:
    """Seconds in Prometheus' notation: 90 -> "1m30s", 3600 -> "1h", 259200 -> "3d"."""
    out, rest = "", value
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        out += f"{count}{unit}" if count else ""
    return out or "0s"


def severity_label(level: int) -> str:
    """The `severity` label: Azure Monitor's own spelling (Sev0 ... Sev4)."""
    return f"Sev{level}"


@dataclass(frozen=True)
class Rule:
    """A recording rule (`record`) or an alert (`alert`, `for_` in seconds, Azure `severity` 0-4, `kind`)."""

    expr: str
    record: Optional[str] = None
    alert: Optional[str] = None
    for_: int = 0
    severity: Optional[int] = None
    kind: Optional[Kind] = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.record is None) == (self.alert is None):
            raise ValueError("a rule is either a recording rule (record) or an alert (alert)")
        if self.alert is not None:
            if self.severity not in (0, 1, 2, 3, 4) or self.kind is None:
                raise ValueError(f"alert {self.alert}: needs an Azure severity 0-4 and a kind")
            if self.labels.get("severity") != severity_label(self.severity) or self.labels.get("kind") != self.kind.value:
                raise ValueError(f"alert {self.alert}: labels must repeat severity and kind")
        elif self.for_ or self.severity is not None or self.annotations:
            raise ValueError(f"recording rule {self.record}: no for, severity or annotations")

    @classmethod
    def recording(cls, record: str, expr: str, labels: Optional[Mapping[str, str]] = None) -> "Rule":
        return cls(expr=expr, record=record, labels=dict(labels or {}))

    @classmethod
    def alerting(
        cls,
        alert: str,
        expr: str,
        for_: int | str,
        level: int,
        kind: Kind,
        labels: Optional[Mapping[str, str]] = None,
        annotations: Optional[Mapping[str, str]] = None,
    ) -> "Rule":
        return cls(
            expr=expr,
            alert=alert,
            for_=seconds(for_),
            severity=level,
            kind=kind,
            labels={**(labels or {}), "kind": kind.value, "severity": severity_label(level)},
            annotations=dict(annotations or {}),
        )


@dataclass(frozen=True)
class RuleGroup:
    """One `Microsoft.AlertsManagement/prometheusRuleGroups`: at most 20 rules, evaluated every 1-15 minutes (ISO 8601)."""

    name: str
    interval: str
    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        if not MIN_INTERVAL_SECONDS <= seconds(self.interval) <= MAX_INTERVAL_SECONDS or not self.interval.startswith("PT"):
            raise ValueError(f"rule group {self.name}: interval {self.interval} must be ISO 8601 between PT1M and PT15M")
        if not 1 <= len(self.rules) <= MAX_RULES_PER_GROUP:
            raise ValueError(f"rule group {self.name}: {len(self.rules)} rules; Azure allows 1-{MAX_RULES_PER_GROUP}")
        if not re.fullmatch(r"[^:@/#{}%&+*<>?]{1,260}", self.name):
            raise ValueError(f"rule group name {self.name!r} has a character Azure does not allow")


def split_groups(name: str, interval: str, rules: Sequence[Rule]) -> list[RuleGroup]:
    """`rules` in groups of at most 20 (Azure's limit): `name`, `name-2`, `name-3`, ..."""
    chunks = [tuple(rules[i : i + MAX_RULES_PER_GROUP]) for i in range(0, len(rules), MAX_RULES_PER_GROUP)]
    return [RuleGroup(name if n == 0 else f"{name}-{n + 1}", interval, chunk) for n, chunk in enumerate(chunks)]


@dataclass(frozen=True)
class Slo:
    """A production environment's objectives over 30 days: non-5xx share, and share of requests under a threshold.

    The threshold must be an upper bound of Traefik's request-duration histogram (components/traefik.py
    LATENCY_BUCKETS, checked by stacks/config.py): the share of fast requests is read from that bucket.
    """

    availability: float  # e.g. 0.995
    latency_threshold_seconds: float  # e.g. 1.0
    latency_target: float  # e.g. 0.95

    def __post_init__(self) -> None:
        for name, target in (("availability", self.availability), ("latency_target", self.latency_target)):
            if not 0 < target < 1:
                raise ValueError(f"slo.{name} {target} must be a fraction below 1")
            # The fast burn compares an error ratio with 14.4 x budget: at or above 1 it could never fire.
            if FAST_BURN[0].factor * (1 - target) >= 1:
                raise ValueError(f"slo.{name} {target}: a target below {1 - 1 / FAST_BURN[0].factor:.4f} makes the 14.4x fast burn unreachable")
        if self.latency_threshold_seconds <= 0:
            raise ValueError("slo.latency_threshold_seconds must be positive")


@dataclass(frozen=True)
class TenantWatch:
    """One tenant environment, as the rules see it."""

    key: str  # e.g. "gc-prod"
    unit: str
    environment: str
    namespace: str
    host: str
    tier: Tier
    criticality: Criticality
    slo: Optional[Slo] = None  # production only

    def __post_init__(self) -> None:
        if self.slo is not None and not self.tier.is_production:
            raise ValueError(f"tenant {self.key}: service-level objectives are for production environments only")
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", self.namespace):
            raise ValueError(f"tenant {self.key}: {self.namespace!r} is not a namespace name")
        severity(self.tier, self.criticality, Kind.AVAILABILITY)  # rejects an unknown criticality here


# -- Traefik's names ----------------------------------------------------------------------------------------------------

def traefik_route_service(namespace: str, ingress_route: str, match: str) -> str:
    """The `service` label Traefik v3 gives an IngressRoute route that has a single Kubernetes Service.

    kubernetes_http.go: makeServiceKey = `<ingressroute>-%.10x` of sha256(match) (10 bytes, 20 hex digits), then
    provider.Normalize(makeID(namespace, key)) (every character outside [a-zA-Z0-9] becomes `-`), qualified with the
    provider name.
    """
    key = f"{ingress_route}-{hashlib.sha256(match.encode()).hexdigest()[:20]}"
    return re.sub(r"[^a-zA-Z0-9]", "-", f"{namespace}-{key}") + "@kubernetescrd"


def traefik_service_regex(namespace: str, ingress_route: str = INGRESS_ROUTE) -> str:
    """A regular expression for the `service` label of every route of the tenant's IngressRoute."""
    return re.sub(r"[^a-zA-Z0-9]", "-", f"{namespace}-{ingress_route}") + "-[0-9a-f]{20}@kubernetescrd"


def le_matcher(bound: float) -> str:
    """`le` matcher for a histogram bound: Traefik writes 1 ("1"), Prometheus 3 normalises it to "1.0"."""
    spellings = sorted({f"{bound:g}", repr(float(bound))})
    return "|".join(s.replace(".", "[.]") for s in spellings)


# -- Business calendar --------------------------------------------------------------------------------------------------

def in_window_expr(windows: Sequence[BusinessWindow]) -> str:
    """A label-less vector that exists on the windows' days of the month, UTC (PromQL `day_of_month` reads UTC)."""
    days = sorted({d for w in windows for d in w.days_of_month})
    if not days or not all(1 <= d <= 31 for d in days):
        raise ValueError(f"business windows need days of the month 1-31, got {days}")
    day = "day_of_month(vector(time()))"
    runs: list[tuple[int, int]] = []
    for d in days:
        if runs and d == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    terms = []
    for low, high in runs:
        if low == high:
            terms.append(f"{day} == {low}")
        elif low == 1:
            terms.append(f"{day} <= {high}")
        elif high == 31:
            terms.append(f"{day} >= {low}")
        else:
            terms.append(f"({day} >= {low} and {day} <= {high})")
    return " or ".join(terms)


def _calendar(
    tenant: TenantWatch,
    windows: Sequence[BusinessWindow],
    alert: str,
    kind: Kind,
    expr: str,
    for_: int | str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> list[Rule]:
    """One alert, or two when the business calendar changes its severity: outside and inside the windows."""
    quiet = severity(tenant.tier, tenant.criticality, kind, False)
    loud = severity(tenant.tier, tenant.criticality, kind, True)
    if not windows or quiet == loud:
        return [Rule.alerting(alert, expr, for_, quiet, kind, labels, annotations)]
    in_window = in_window_expr(windows)
    names = ", ".join(w.name for w in windows)
    inside = {**annotations, "description": f"{annotations['description']} Inside a business window ({names}): one step louder."}
    return [
        Rule.alerting(alert, f"({expr}) unless on() ({in_window})", for_, quiet, kind, {**labels, "business_window": "outside"}, annotations),
        Rule.alerting(alert, f"({expr}) and on() ({in_window})", for_, loud, kind, {**labels, "business_window": "inside"}, inside),
    ]


# -- Microsoft's recommended AKS rules ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Recommended:
    alert: str
    kind: Kind
    for_: str
    expr: str
    description: str


_KSM = 'job="kube-state-metrics"'
_SERVER_ERROR = ', code=~"5.."'
_NOT_TENANT = f'namespace!~"{TENANT_NAMESPACES}"'
_OWNER = 'label_replace(kube_pod_owner, "controller", "$1", "owner_name", "(.*)")'
_LINK = "For more information on this alert, please refer to this [link](https://aka.ms/aks-alerts/{level}-level-recommended-alerts)."

# Microsoft's expressions, except where marked "ours:": in tenant namespaces the tenant rules own restarts, OOM kills,
# quotas, failed Jobs, replica and autoscaler state (with tenant labels and business severities), so the cluster copies
# exclude them instead of notifying twice; and two fixes:
# - KubeContainerOOMKilledCount: Microsoft's fires for as long as a container's LAST termination was an OOM kill, i.e.
#   until it terminates again for another reason (days); ours only after a restart in the last 15 minutes.
# - KubeHpaMaxedOut: Microsoft's fires forever for an HPA whose minimum equals its maximum; ours needs max > min.
RECOMMENDED: dict[str, tuple[_Recommended, ...]] = {
    "cluster": (
        _Recommended("KubeCPUQuotaOvercommit", Kind.CAPACITY, "PT5M",
                     f'sum(min without(resource) (kube_resourcequota{{{_KSM}, type="hard", resource=~"(cpu|requests.cpu)"}})) / sum(kube_node_status_allocatable{{resource="cpu", {_KSM}}}) > 1.5',
                     "Cluster {{ $labels.cluster}} has overcommitted CPU resource requests for Namespaces."),
        _Recommended("KubeMemoryQuotaOvercommit", Kind.CAPACITY, "PT5M",
                     f'sum(min without(resource) (kube_resourcequota{{{_KSM}, type="hard", resource=~"(memory|requests.memory)"}})) / sum(kube_node_status_allocatable{{resource="memory", {_KSM}}}) > 1.5',
                     "Cluster {{ $labels.cluster}} has overcommitted memory resource requests for Namespaces."),
        _Recommended("KubeContainerOOMKilledCount", Kind.SATURATION, "PT5M",  # ours: recent restarts only, no tenant namespaces
                     f'sum by (cluster, container, controller, namespace) ((kube_pod_container_status_last_terminated_reason{{reason="OOMKilled", {_NOT_TENANT}}} '
                     f'and on(cluster, namespace, pod, container) increase(kube_pod_container_status_restarts_total{{{_NOT_TENANT}}}[15m]) > 0) '
                     f'* on(cluster, namespace, pod) group_left(controller) {_OWNER}) > 0',
                     "Number of OOM killed containers is greater than 0."),
        _Recommended("KubeClientErrors", Kind.INFORMATIONAL, "PT15M",
                     '(sum(rate(rest_client_requests_total{code=~"5.."}[5m])) by (cluster, instance, job, namespace) / sum(rate(rest_client_requests_total[5m])) by (cluster, instance, job, namespace)) > 0.01',
                     "Kubernetes API server client '{{ $labels.job }}/{{ $labels.instance }}' is experiencing {{ $value | humanizePercentage }} errors."),
        _Recommended("KubePersistentVolumeFillingUp", Kind.CAPACITY, "PT60M",
                     'kubelet_volume_stats_available_bytes{job="kubelet"} / kubelet_volume_stats_capacity_bytes{job="kubelet"} < 0.15 and kubelet_volume_stats_used_bytes{job="kubelet"} > 0 '
                     'and predict_linear(kubelet_volume_stats_available_bytes{job="kubelet"}[6h], 4 * 24 * 3600) < 0 '
                     'unless on(namespace, persistentvolumeclaim) kube_persistentvolumeclaim_access_mode{access_mode="ReadOnlyMany"} == 1 '
                     'unless on(namespace, persistentvolumeclaim) kube_persistentvolumeclaim_labels{label_excluded_from_alerts="true"} == 1',
                     "Based on recent sampling, the PersistentVolume claimed by {{ $labels.persistentvolumeclaim }} in Namespace {{ $labels.namespace }} is expected to fill up within four days. Currently {{ $value | humanizePercentage }} is available."),
        _Recommended("KubePersistentVolumeInodesFillingUp", Kind.CAPACITY, "PT15M",
                     'kubelet_volume_stats_inodes_free{job="kubelet"} / kubelet_volume_stats_inodes{job="kubelet"} < 0.03',
                     "The PersistentVolume claimed by {{ $labels.persistentvolumeclaim }} in Namespace {{ $labels.namespace }} only has {{ $value | humanizePercentage }} free inodes."),
        _Recommended("KubePersistentVolumeErrors", Kind.CAPACITY, "PT5M",
                     f'kube_persistentvolume_status_phase{{phase=~"Failed|Pending", {_KSM}}} > 0',
                     "The persistent volume {{ $labels.persistentvolume }} has status {{ $labels.phase }}."),
        _Recommended("KubeContainerWaiting", Kind.SATURATION, "PT60M",
                     f"sum by (namespace, pod, container, cluster) (kube_pod_container_status_waiting_reason{{{_KSM}}}) > 0",
                     "pod/{{ $labels.pod }} in namespace {{ $labels.namespace }} on container {{ $labels.container}} has been in waiting state for longer than 1 hour."),
        _Recommended("KubeDaemonSetNotScheduled", Kind.SATURATION, "PT15M",
                     f"kube_daemonset_status_desired_number_scheduled{{{_KSM}}} - kube_daemonset_status_current_number_scheduled{{{_KSM}}} > 0",
                     "{{ $value }} Pods of DaemonSet {{ $labels.namespace }}/{{ $labels.daemonset }} are not scheduled."),
        _Recommended("KubeDaemonSetMisScheduled", Kind.INFORMATIONAL, "PT15M",
                     f"kube_daemonset_status_number_misscheduled{{{_KSM}}} > 0",
                     "{{ $value }} Pods of DaemonSet {{ $labels.namespace }}/{{ $labels.daemonset }} are running where they are not supposed to run."),
        _Recommended("KubeQuotaAlmostFull", Kind.CAPACITY, "PT15M",  # ours: no tenant namespaces
                     f'kube_resourcequota{{{_KSM}, type="used", {_NOT_TENANT}}} / ignoring(instance, job, type) (kube_resourcequota{{{_KSM}, type="hard", {_NOT_TENANT}}} > 0) > 0.9 < 1',
                     "{{ $value | humanizePercentage }} usage of {{ $labels.resource }} in namespace {{ $labels.namespace }} in {{ $labels.cluster}}."),
    ),
    "node": (
        _Recommended("KubeNodeUnreachable", Kind.SATURATION, "PT15M",
                     f'(kube_node_spec_taint{{{_KSM}, key="node.kubernetes.io/unreachable", effect="NoSchedule"}} unless ignoring(key, value) '
                     f'kube_node_spec_taint{{{_KSM}, key=~"ToBeDeletedByClusterAutoscaler|cloud.google.com/impending-node-termination|aws-node-termination-handler/spot-itn"}}) == 1',
                     "{{ $labels.node }} in {{ $labels.cluster}} is unreachable and some workloads may be rescheduled."),
        _Recommended("KubeNodeReadinessFlapping", Kind.SATURATION, "PT15M",
                     'sum(changes(kube_node_status_condition{status="true", condition="Ready"}[15m])) by (cluster, node) > 2',
                     "The readiness status of node {{ $labels.node }} in {{ $labels.cluster}} has changed more than 2 times in the last 15 minutes."),
        _Recommended("KubeNodeDiskUsageHigh", Kind.CAPACITY, "PT15M",
                     '100 - ((node_filesystem_avail_bytes{mountpoint="/"} / node_filesystem_size_bytes{mountpoint="/"}) * 100) > 80',
                     "The disk usage on node {{ $labels.instance }} in {{ $labels.job }} has exceeded 80% and current usage is {{ $value }}%."),
    ),
    "pod": (
        _Recommended("KubePodCrashLooping", Kind.SATURATION, "PT15M",  # ours: no tenant namespaces
                     f'max_over_time(kube_pod_container_status_waiting_reason{{reason="CrashLoopBackOff", {_KSM}, {_NOT_TENANT}}}[5m]) >= 1',
                     "{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) in {{ $labels.cluster}} is in CrashLoopBackOff."),
        _Recommended("KubeJobStale", Kind.INFORMATIONAL, "PT360M",
                     f"sum by(namespace, cluster) (kube_job_spec_completions{{{_KSM}}}) - sum by(namespace, cluster) (kube_job_status_succeeded{{{_KSM}}}) > 0",
                     "Number of stale jobs older than six hours is greater than 0."),
        _Recommended("KubePodContainerRestart", Kind.INFORMATIONAL, "PT15M",  # ours: no tenant namespaces
                     f"sum by (namespace, controller, container, cluster) (increase(kube_pod_container_status_restarts_total{{{_KSM}, {_NOT_TENANT}}}[1h]) "
                     f"* on(namespace, pod, cluster) group_left(controller) {_OWNER}) > 0",
                     "Pod container restarted in the last 1 hour."),
        _Recommended("KubePodReadyStateLow", Kind.SATURATION, "PT5M",  # ours: no tenant namespaces
                     f"sum by (cluster, namespace, deployment) (kube_deployment_status_replicas_ready{{{_NOT_TENANT}}}) / sum by (cluster, namespace, deployment) (kube_deployment_spec_replicas{{{_NOT_TENANT}}}) < .8 "
                     "or sum by (cluster, namespace, daemonset) (kube_daemonset_status_number_ready) / sum by (cluster, namespace, daemonset) (kube_daemonset_status_desired_number_scheduled) < .8",
                     "Ready state of pods is less than 80%."),
        _Recommended("KubePodFailedState", Kind.INFORMATIONAL, "PT5M",
                     f'sum by (cluster, namespace, controller) (kube_pod_status_phase{{phase="failed"}} * on(namespace, pod, cluster) group_left(controller) {_OWNER}) > 0',
                     "Number of pods in failed state are greater than 0."),
        _Recommended("KubePodNotReadyByController", Kind.SATURATION, "PT15M",
                     f'sum by (namespace, controller, cluster) (max by(namespace, pod, cluster) (kube_pod_status_phase{{{_KSM}, phase=~"Pending|Unknown"}}) '
                     f"* on(namespace, pod, cluster) group_left(controller) {_OWNER}) > 0",
                     "{{ $labels.namespace }}/{{ $labels.pod }} in {{ $labels.cluster}} by controller is not ready."),
        _Recommended("KubeStatefulSetGenerationMismatch", Kind.INFORMATIONAL, "PT15M",
                     f"kube_statefulset_status_observed_generation{{{_KSM}}} != kube_statefulset_metadata_generation{{{_KSM}}}",
                     "StatefulSet generation for {{ $labels.namespace }}/{{ $labels.statefulset }} does not match, this indicates that the StatefulSet has failed but has not been rolled back."),
        _Recommended("KubeJobFailed", Kind.INFORMATIONAL, "PT15M",  # ours: no tenant or bootstrap namespaces
                     f"kube_job_failed{{{_KSM}, {_NOT_TENANT}}} > 0",
                     "Job {{ $labels.namespace }}/{{ $labels.job_name }} in {{ $labels.cluster}} failed to complete."),
        _Recommended("KubeContainerAverageCPUHigh", Kind.SATURATION, "PT5M",
                     'sum (rate(container_cpu_usage_seconds_total{image!="", container!="POD"}[5m])) by (pod, cluster, container, namespace) '
                     '/ sum(container_spec_cpu_quota{image!="", container!="POD"} / container_spec_cpu_period{image!="", container!="POD"}) by (pod, cluster, container, namespace) > .95',
                     "Average CPU usage per container is greater than 95%."),
        _Recommended("KubeContainerAverageMemoryHigh", Kind.SATURATION, "PT10M",
                     'avg by (namespace, controller, container, cluster) (((container_memory_working_set_bytes{container!="", image!="", container!="POD"} '
                     '/ on(namespace, cluster, pod, container) group_left kube_pod_container_resource_limits{resource="memory", node!=""}) '
                     f"* on(namespace, pod, cluster) group_left(controller) {_OWNER}) > .95)",
                     "Average Memory usage per container is greater than 95%."),
        _Recommended("KubeletPodStartUpLatencyHigh", Kind.INFORMATIONAL, "PT10M",
                     'histogram_quantile(0.99, sum(rate(kubelet_pod_worker_duration_seconds_bucket{job="kubelet"}[5m])) by (cluster, instance, le)) '
                     '* on(cluster, instance) group_left(node) kubelet_node_name{job="kubelet"} > 60',
                     "Kubelet Pod startup latency is too high."),
        _Recommended("KubePVUsageHigh", Kind.CAPACITY, "PT15M",
                     'avg by (namespace, controller, container, cluster) (((kubelet_volume_stats_used_bytes{job="kubelet"} / on(namespace, cluster, pod, container) group_left '
                     f'kubelet_volume_stats_capacity_bytes{{job="kubelet"}}) * on(namespace, pod, cluster) group_left(controller) {_OWNER})) > .8',
                     "Average PV usage on pod {{ $labels.pod }} in container {{ $labels.container }} is greater than 80%."),
        _Recommended("KubeDeploymentReplicasMismatch", Kind.SATURATION, "PT15M",  # ours: no tenant namespaces
                     f"(kube_deployment_spec_replicas{{{_KSM}, {_NOT_TENANT}}} > kube_deployment_status_replicas_available{{{_KSM}, {_NOT_TENANT}}}) "
                     f"and (changes(kube_deployment_status_replicas_updated{{{_KSM}, {_NOT_TENANT}}}[10m]) == 0)",
                     "Deployment {{ $labels.namespace }}/{{ $labels.deployment }} in {{ $labels.cluster}} replica mismatch."),
        _Recommended("KubeStatefulSetReplicasMismatch", Kind.SATURATION, "PT15M",
                     f"(kube_statefulset_status_replicas_ready{{{_KSM}}} != kube_statefulset_status_replicas{{{_KSM}}}) and (changes(kube_statefulset_status_replicas_updated{{{_KSM}}}[10m]) == 0)",
                     "StatefulSet {{ $labels.namespace }}/{{ $labels.statefulset }} in {{ $labels.cluster}} replica mismatch."),
        _Recommended("KubeHpaReplicasMismatch", Kind.CAPACITY, "PT15M",
                     f"(kube_horizontalpodautoscaler_status_desired_replicas{{{_KSM}}} != kube_horizontalpodautoscaler_status_current_replicas{{{_KSM}}}) "
                     f"and (kube_horizontalpodautoscaler_status_current_replicas{{{_KSM}}} > kube_horizontalpodautoscaler_spec_min_replicas{{{_KSM}}}) "
                     f"and (kube_horizontalpodautoscaler_status_current_replicas{{{_KSM}}} < kube_horizontalpodautoscaler_spec_max_replicas{{{_KSM}}}) "
                     f"and changes(kube_horizontalpodautoscaler_status_current_replicas{{{_KSM}}}[15m]) == 0",
                     "Horizontal Pod Autoscaler in {{ $labels.cluster}} has not matched the desired number of replicas for longer than 15 minutes."),
        _Recommended("KubeHpaMaxedOut", Kind.CAPACITY, "PT15M",  # ours: max > min, no tenant namespaces
                     f"(kube_horizontalpodautoscaler_status_current_replicas{{{_KSM}, {_NOT_TENANT}}} == kube_horizontalpodautoscaler_spec_max_replicas{{{_KSM}, {_NOT_TENANT}}}) "
                     f"and (kube_horizontalpodautoscaler_spec_max_replicas{{{_KSM}, {_NOT_TENANT}}} > kube_horizontalpodautoscaler_spec_min_replicas{{{_KSM}, {_NOT_TENANT}}})",
                     "Horizontal Pod Autoscaler in {{ $labels.cluster}} has been running at max replicas for longer than 15 minutes."),
    ),
}


def cluster_rule_groups(tier: Tier, criticality: Criticality) -> list[RuleGroup]:
    """Microsoft's recommended AKS rules and the shared ingress, at the severity of the stack's most critical unit."""
    groups: list[RuleGroup] = []
    for level, rules in RECOMMENDED.items():
        link = _LINK.format(level=level)
        groups += split_groups(
            f"aks-recommended-{level}-level",
            "PT1M",
            [
                Rule.alerting(
                    r.alert, r.expr, r.for_, severity(tier, criticality, r.kind), r.kind,
                    annotations={"summary": f"{r.alert} ({level} level)", "description": f"{r.description} {link}"},
                )
                for r in rules
            ],
        )
    ingress = f'namespace="{TRAEFIK_NAMESPACE}", deployment="{TRAEFIK_DEPLOYMENT}"'
    groups += split_groups(
        "platform-ingress",
        "PT1M",
        [
            # Every tenant is unreachable, and the Traefik ratios go silent with it.
            Rule.alerting(
                "IngressDown",
                f"kube_deployment_status_replicas_available{{{ingress}}} == 0",
                "2m",
                severity(tier, criticality, Kind.AVAILABILITY),
                Kind.AVAILABILITY,
                {"business_process": "every tenant environment on this cluster"},
                {"summary": "Traefik has no available replica: no Odoo environment on this cluster is reachable",
                 "description": f"Deployment {TRAEFIK_NAMESPACE}/{TRAEFIK_DEPLOYMENT} has had no available replica for 2 minutes."},
            ),
            # Without Traefik's metrics the error, latency and SLO rules see nothing (scrape broken, PodMonitor gone).
            Rule.alerting(
                "IngressMetricsAbsent",
                "absent(traefik_config_reloads_total)",
                "15m",
                severity(tier, criticality, Kind.INFORMATIONAL),
                Kind.INFORMATIONAL,
                {},
                {"summary": "Managed Prometheus receives no Traefik metrics",
                 "description": "traefik_config_reloads_total has been absent for 15 minutes: HTTP error, latency and SLO rules are blind."},
            ),
        ],
    )
    # A failed rotation leaves the old secret working (ops/rotate), and the next day's run retries; Key Vault's
    # near-expiry event escalates 30 days before anything stops. So: worth a look, not a page.
    rotation = f'namespace="{BOOTSTRAP_NAMESPACE}", condition="true", job_name=~"{ROTATION_JOBS}"'
    groups += split_groups(
        "platform-secret-rotation",
        "PT1M",
        [
            Rule.alerting(
                "SecretRotationFailed",
                f"(kube_job_failed{{{rotation}}} == 1) and on(cluster, namespace, job_name) "
                f'(time() - kube_job_status_start_time{{namespace="{BOOTSTRAP_NAMESPACE}", job_name=~"{ROTATION_JOBS}"}} < {FAILED_JOB_MAX_AGE_SECONDS})',
                "0s",
                severity(tier, criticality, Kind.INFORMATIONAL),
                Kind.INFORMATIONAL,
                {"business_process": "secret rotation"},
                {"summary": "a secret rotation Job failed",
                 "description": "Job {{ $labels.job_name }} failed in the last 24 hours; the service still works on the old credential "
                                "(exit 1: the old login still had sessions). Its log names the step (ops/README.md)."},
            ),
        ],
    )
    return groups


# -- Tenant rules -------------------------------------------------------------------------------------------------------

def _tenant_labels(tenant: TenantWatch, business_process: str) -> dict[str, str]:
    return {
        "tenant": tenant.key,
        "unit": tenant.unit,
        "environment": tenant.environment,
        "namespace": tenant.namespace,
        "business_process": business_process,
    }


def _annotations(tenant: TenantWatch, summary: str, description: str, business_process: str) -> dict[str, str]:
    where = f"Odoo environment {tenant.environment} of unit {tenant.unit} (tenant {tenant.key}, namespace {tenant.namespace}, https://{tenant.host}/)"
    return {"summary": f"{tenant.key}: {summary}", "description": f"{where}: {description} Business process: {business_process}."}


def _requests(service: str, extra: str = "", window: str = "5m", metric: str = "traefik_service_requests_total") -> str:
    return f'sum by (cluster) (rate({metric}{{service=~"{service}"{extra}}}[{window}]))'


def tenant_alerts(tenant: TenantWatch, windows: Sequence[BusinessWindow]) -> list[Rule]:
    """The workload alerts of one tenant environment (every tier)."""
    ns = tenant.namespace
    service = traefik_service_regex(ns)
    http = ', protocol!="websocket"'  # a websocket's duration is the whole session (Odoo's /websocket route)
    p95_bound = tenant.slo.latency_threshold_seconds if tenant.slo else NON_PRODUCTION_P95_SECONDS
    web = f'namespace="{ns}", deployment="{WEB_DEPLOYMENT}"'
    cron = f'namespace="{ns}", deployment="{CRON_DEPLOYMENT}"'
    hpa = f'namespace="{ns}", horizontalpodautoscaler=~"{"|".join(WEB_HPAS)}"'
    deploy_on = "on(cluster, namespace, deployment)"
    hpa_on = "on(cluster, namespace, horizontalpodautoscaler)"
    pod_on = "on(cluster, namespace, pod, container)"
    recent_job = f'on(cluster, namespace, job_name) (time() - kube_job_status_start_time{{namespace="{ns}"}} < {FAILED_JOB_MAX_AGE_SECONDS})'
    traffic = f"{_requests(service)} > {MIN_REQUESTS_PER_SECOND}"

    rules: list[Rule] = []

    def add(alert: str, kind: Kind, process: str, expr: str, for_: str, summary: str, description: str) -> None:
        rules.extend(_calendar(tenant, windows, alert, kind, expr, for_, _tenant_labels(tenant, process), _annotations(tenant, summary, description, process)))

    add("OdooHttpErrorRatioHigh", Kind.DEGRADATION, WEB_PROCESS,
        f'({_requests(service, _SERVER_ERROR)} / {_requests(service)} > {ERROR_RATIO_ALERT}) and ({traffic})',
        "10m", f"more than {ERROR_RATIO_ALERT:.0%} of requests fail with a server error",
        f"more than {ERROR_RATIO_ALERT:.0%} of the requests through Traefik were answered 5xx over 5 minutes, for 10 minutes.")
    add("OdooHttpLatencyP95High", Kind.DEGRADATION, WEB_PROCESS,
        f"(histogram_quantile(0.95, sum by (cluster, le) (rate(traefik_service_request_duration_seconds_bucket{{service=~\"{service}\"{http}}}[5m]))) > {p95_bound:g}) "
        f"and ({_requests(service, http, metric='traefik_service_request_duration_seconds_count')} > {MIN_REQUESTS_PER_SECOND})",
        "15m", f"95th percentile of response time above {p95_bound:g} s",
        f"the 95th percentile of HTTP response time (websockets excluded) has been above {p95_bound:g} s for 15 minutes.")
    add("OdooWebDown", Kind.AVAILABILITY, WEB_PROCESS,
        f"(kube_deployment_spec_replicas{{{web}}} > 0) and {deploy_on} (kube_deployment_status_replicas_available{{{web}}} == 0)",
        "5m", "no Odoo web pod is available: users cannot work",
        f"Deployment {WEB_DEPLOYMENT} wants replicas but none has been available for 5 minutes (scaled to zero on purpose does not count).")
    add("OdooWebPodsNotReady", Kind.DEGRADATION, WEB_PROCESS,
        f"(kube_deployment_status_replicas_available{{{web}}} < {deploy_on} kube_deployment_spec_replicas{{{web}}}) "
        f"and {deploy_on} (kube_deployment_status_replicas_available{{{web}}} > 0)",
        "15m", "some Odoo web pods are not ready",
        f"Deployment {WEB_DEPLOYMENT} has had fewer available replicas than desired for 15 minutes: less capacity, slower answers.")
    add("OdooWebAutoscalerAtMaximum", Kind.CAPACITY, WEB_PROCESS,
        f"(kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}} >= {hpa_on} kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}}) "
        f"and {hpa_on} (kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}} > {hpa_on} kube_horizontalpodautoscaler_spec_min_replicas{{{hpa}}})",
        "15m", "the web autoscaler is at its maximum",
        f"the autoscaler of {WEB_DEPLOYMENT} has run at its maximum replicas for 15 minutes: no headroom left for more users.")
    add("OdooCronNotRunning", Kind.BUSINESS_PROCESS, CRON_PROCESS,
        f"(kube_deployment_status_replicas_available{{{cron}}} < {deploy_on} kube_deployment_spec_replicas{{{cron}}}) "
        f"and {deploy_on} (kube_deployment_spec_replicas{{{cron}}} > 0)",
        "10m", "Odoo's scheduled jobs are not running",
        f"Deployment {CRON_DEPLOYMENT} wants a replica but has had none available for 10 minutes: invoicing runs, mail queue, reconciliation and other crons stand still (off-hours scale-to-zero does not count).")
    add("OdooContainerOOMKilled", Kind.SATURATION, f"{WEB_PROCESS} or {CRON_PROCESS}",
        f'(sum by (cluster, namespace, pod, container) (increase(kube_pod_container_status_restarts_total{{namespace="{ns}"}}[15m])) > 0) '
        f'and {pod_on} (kube_pod_container_status_last_terminated_reason{{namespace="{ns}", reason="OOMKilled"}} == 1)',
        "0s", "a container was killed for lack of memory",
        "container {{ $labels.container }} of pod {{ $labels.pod }} was OOM-killed and restarted in the last 15 minutes.")
    add("OdooContainerRestarting", Kind.DEGRADATION, f"{WEB_PROCESS} or {CRON_PROCESS}",
        f'sum by (cluster, namespace, pod, container) (increase(kube_pod_container_status_restarts_total{{namespace="{ns}"}}[1h])) >= {RESTARTS_PER_HOUR}',
        "5m", "a container keeps restarting",
        f"container {{{{ $labels.container }}}} of pod {{{{ $labels.pod }}}} restarted {RESTARTS_PER_HOUR} times or more in the last hour.")
    add("OdooQuotaAlmostFull", Kind.CAPACITY, WEB_PROCESS,
        f'kube_resourcequota{{namespace="{ns}", type="used"}} / ignoring(instance, job, type) (kube_resourcequota{{namespace="{ns}", type="hard"}} > 0) > {QUOTA_ALMOST_FULL}',
        "15m", "the namespace quota is almost used up",
        f"more than {QUOTA_ALMOST_FULL:.0%} of the quota for {{{{ $labels.resource }}}} is used: new web pods (autoscaling, rolling updates) may be refused.")
    add("OdooDataJobFailed", Kind.DATA_RISK, DATA_PROCESS,
        f'(kube_job_failed{{namespace="{ns}", condition="true", job_name=~"{DATA_JOBS}"}} == 1) and {recent_job}',
        "0s", "a backup or restore-drill Job failed",
        "Job {{ $labels.job_name }} failed in the last 24 hours: the environment's data may not be recoverable as planned.")
    add("OdooJobFailed", Kind.BUSINESS_PROCESS, SETUP_PROCESS,
        f'(kube_job_failed{{namespace="{ns}", condition="true", job_name!~"{DATA_JOBS}"}} == 1) and {recent_job}',
        "0s", "a set-up or upgrade Job failed",
        "Job {{ $labels.job_name }} (database initialisation, module upgrade or refresh) failed in the last 24 hours.")
    add("OdooDatabaseBootstrapFailed", Kind.BUSINESS_PROCESS, SETUP_PROCESS,
        f'(kube_job_failed{{namespace="{BOOTSTRAP_NAMESPACE}", condition="true", job_name="bootstrap-{tenant.key}"}} == 1) '
        f'and on(cluster, namespace, job_name) (time() - kube_job_status_start_time{{namespace="{BOOTSTRAP_NAMESPACE}", job_name="bootstrap-{tenant.key}"}} < {FAILED_JOB_MAX_AGE_SECONDS})',
        "0s", "the database bootstrap Job failed",
        f"Job {BOOTSTRAP_NAMESPACE}/bootstrap-{tenant.key}, which gives the environment's role its database, failed in the last 24 hours.")
    return rules


# -- Service-level objectives -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BurnRate:
    long: str
    short: str
    factor: float


# SRE workbook, "Alerting on SLOs", section 6: the page pairs (2% of a 30-day budget in 1h, 5% in 6h) and the ticket
# pairs (10% in 3d; 3x over 1d with 2h, from the chapter's final example).
FAST_BURN = (BurnRate("1h", "5m", 14.4), BurnRate("6h", "30m", 6))
SLOW_BURN = (BurnRate("1d", "2h", 3), BurnRate("3d", "6h", 1))
SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
LONG_WINDOWS = ("1d", "3d")  # recorded every 5 minutes: a 3-day range every minute costs five times as much for nothing
SLO_RECORD = "tenant:odoo_slo_errors_per_request:ratio_rate{window}"
FAST_BURN_FOR, SLOW_BURN_FOR = "2m", "15m"


def slo_recording_rules(tenant: TenantWatch, windows: Iterable[str] = SLO_WINDOWS) -> list[Rule]:
    """Error ratios per window: availability (share of 5xx) and latency (share of HTTP requests slower than the threshold)."""
    slo = tenant.slo
    if slo is None:
        return []
    service = traefik_service_regex(tenant.namespace)
    http = ', protocol!="websocket"'
    le = le_matcher(slo.latency_threshold_seconds)
    rules = []
    for w in windows:
        total = _requests(service, window=w)
        # `or 0 * total`: a tenant that never answered 5xx has no 5xx series at all, and its ratio is 0, not absent.
        errors = f'({_requests(service, _SERVER_ERROR, window=w)} or 0 * {total})'
        fast = f'sum by (cluster) (rate(traefik_service_request_duration_seconds_bucket{{service=~"{service}"{http}, le=~"{le}"}}[{w}]))'
        all_http = _requests(service, http, window=w, metric="traefik_service_request_duration_seconds_count")
        labels = {"tenant": tenant.key, "unit": tenant.unit, "environment": tenant.environment, "namespace": tenant.namespace}
        rules.append(Rule.recording(SLO_RECORD.format(window=w), f"{errors} / {total}", {**labels, "slo": "availability"}))
        rules.append(Rule.recording(SLO_RECORD.format(window=w), f"1 - ({fast} / {all_http})", {**labels, "slo": "latency"}))
    return rules


def _number(value: float) -> str:
    return f"{round(value, 10):g}"


def slo_alerts(tenant: TenantWatch, windows: Sequence[BusinessWindow]) -> list[Rule]:
    """Multiwindow, multi-burn-rate alerts: fast burn (Kind.AVAILABILITY, pages), slow burn (Kind.DEGRADATION, tickets)."""
    slo = tenant.slo
    if slo is None:
        return []
    rules: list[Rule] = []
    for name, target, what in (
        ("Availability", slo.availability, "answered without a server error (non-5xx)"),
        ("Latency", slo.latency_target, f"answered within {slo.latency_threshold_seconds:g} s (websockets excluded)"),
    ):
        budget = 1 - target
        selector = f'{{namespace="{tenant.namespace}", slo="{name.lower()}"}}'

        def burning(pairs: tuple[BurnRate, ...]) -> str:
            return " or ".join(
                f"({SLO_RECORD.format(window=p.long)}{selector} > ({_number(p.factor)} * {_number(budget)}) "
                f"and {SLO_RECORD.format(window=p.short)}{selector} > ({_number(p.factor)} * {_number(budget)}))"
                for p in pairs
            )

        objective = f"{target * 100:g}% of requests {what} over 30 days"
        for speed, pairs, kind, for_ in (("Fast", FAST_BURN, Kind.AVAILABILITY, FAST_BURN_FOR), ("Slow", SLOW_BURN, Kind.DEGRADATION, SLOW_BURN_FOR)):
            spent = " or ".join(f"{_number(p.factor)}x over {p.long} and {p.short}" for p in pairs)
            rules += _calendar(
                tenant, windows, f"Odoo{name}ErrorBudget{speed}Burn", kind, burning(pairs), for_,
                {**_tenant_labels(tenant, WEB_PROCESS), "slo": name.lower()},
                _annotations(
                    tenant,
                    f"{name.lower()} error budget burning {'fast' if speed == 'Fast' else 'slowly'}",
                    f"objective: {objective}; the error budget burns at {spent} the sustainable rate "
                    + ("(2% of the month's budget in an hour, or 5% in six hours)." if speed == "Fast" else "(10% of the month's budget in three days)."),
                    WEB_PROCESS,
                ),
            )
    return rules


def tenant_rule_groups(tenant: TenantWatch, windows: Sequence[BusinessWindow] = ()) -> list[RuleGroup]:
    """Every rule group of one tenant environment: workload alerts, and for production its SLO recordings and alerts."""
    groups = split_groups(f"odoo-{tenant.key}-workload", "PT1M", tenant_alerts(tenant, windows))
    if tenant.slo is not None:
        short = [w for w in SLO_WINDOWS if w not in LONG_WINDOWS]
        groups += split_groups(f"odoo-{tenant.key}-slo-ratios", "PT1M", slo_recording_rules(tenant, short))
        groups += split_groups(f"odoo-{tenant.key}-slo-ratios-long", "PT5M", slo_recording_rules(tenant, LONG_WINDOWS))
        groups += split_groups(f"odoo-{tenant.key}-slo-burn", "PT1M", slo_alerts(tenant, windows))
    return groups


# -- The standard rule file ---------------------------------------------------------------------------------------------

def prometheus_rule_file(groups: Sequence[RuleGroup]) -> dict[str, Any]:
    """`{"groups": [{name, interval, rules}]}` as Prometheus (and promtool) read it."""
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate rule group names: {sorted({n for n in names if names.count(n) > 1})}")

    def render(rule: Rule) -> dict[str, Any]:
        if rule.record is not None:
            out: dict[str, Any] = {"record": rule.record, "expr": rule.expr}
        else:
            out = {"alert": rule.alert, "expr": rule.expr}
            if rule.for_:
                out["for"] = prometheus_duration(rule.for_)
        if rule.labels:
            out["labels"] = dict(rule.labels)
        if rule.annotations:
            out["annotations"] = dict(rule.annotations)
        return out

    return {"groups": [{"name": g.name, "interval": prometheus_duration(seconds(g.interval)), "rules": [render(r) for r in g.rules]} for g in groups]}
