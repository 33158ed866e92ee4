"""Observability: what watches a stack and who hears about it.

- Plumbing: an Azure Monitor workspace that the cluster's managed Prometheus writes to (data collection endpoint,
  rule and associations, as Microsoft's ARM template for AKS does:
  learn.microsoft.com/azure/azure-monitor/containers/kubernetes-monitoring-enable?tabs=arm), and the Container
  Insights data collection rule that the omsagent add-on with `useAADAuth` needs. Log Analytics stays the log store.
- Routing: a `notify` action group (e-mail) everywhere, a `page` one (e-mail and the on-call webhook) in production.
  An alert pages when `severity.pages(tier, level)`.
- Alerts: metric alerts per resource (components/metric_alerts.py), Prometheus rule groups (components/prometheus_rules.py),
  log alerts on what metrics cannot see, activity-log alerts for deletions and Service Health.
- Alert processing rules: no notifications below severity 1 during the maintenance window; in production, during the
  business calendar's windows, metric alerts of severity 2 also page (metric alerts have one fixed severity; Prometheus
  rules carry the calendar in their expressions).
- Workbooks (components/workbooks.py) and, in production, Azure Managed Grafana on the Azure Monitor workspace.
"""
import datetime
import uuid
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, cast

import pulumi
from pulumi_azure_native import alertsmanagement, applicationinsights, dashboard, eventgrid, monitor

from . import prometheus_rules
from .interfaces import role_assignment
from .metric_alerts import MetricAlertSpec, specs_for
from .naming import Naming
from .severity import BusinessWindow, Criticality, Kind, pages, severity
from .tier import Tier
from .metric_alerts import MONITOR_WORKSPACE
from .workbooks import SloView, Workbook, workbooks

# Streams Container Insights sends with ContainerLogV2 (learn.microsoft.com/azure/azure-monitor/containers/container-insights-data-collection-configure).
CONTAINER_INSIGHTS_STREAMS = (
    "Microsoft-ContainerLogV2",
    "Microsoft-KubeEvents",
    "Microsoft-KubePodInventory",
    "Microsoft-KubeNodeInventory",
    "Microsoft-KubePVInventory",
    "Microsoft-KubeServices",
    "Microsoft-InsightsMetrics",
    "Microsoft-ContainerInventory",
    "Microsoft-ContainerNodeInventory",
)
PROMETHEUS_STREAM = "Microsoft-PrometheusMetrics"
# Action group short names: at most 12 characters (ActionGroup.groupShortName).
SHORT_NAMES = {"notify": "odoo-notify", "page": "odoo-page"}
# Region display names, as Service Health events name impacted regions.
REGION_DISPLAY_NAMES = {
    "westeurope": "West Europe",
    "northeurope": "North Europe",
    "swedencentral": "Sweden Central",
    "germanywestcentral": "Germany West Central",
    "francecentral": "France Central",
}
# Resource types whose deletion is an incident in itself (they hold data or run everything).
STATEFUL_TYPES = (
    "Microsoft.DBforPostgreSQL/flexibleServers",
    "Microsoft.Storage/storageAccounts",
    "Microsoft.KeyVault/vaults",
    "Microsoft.Cache/redisEnterprise",
    "Microsoft.ContainerService/managedClusters",
    "Microsoft.ContainerRegistry/registries",
    "Microsoft.DataProtection/backupVaults",
)
GRAFANA_VIEWER = "Grafana Viewer"
MONITORING_DATA_READER = "Monitoring Data Reader"
MONITORING_READER = "Monitoring Reader"


@dataclass(frozen=True)
class AlertTarget:
    """An Azure resource the stack watches with metric alerts."""

    name: str  # short, in the alert rule's name: "postgres", "storage-files"
    arm_type: str  # a key of metric_alerts.METRIC_ALERTS
    resource_id: pulumi.Input[str]
    role: str = "primary"
    limits: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SecureWebhook:
    name: str
    url: str
    application_object_id: str
    identifier_uri: str


@dataclass(frozen=True)
class MaintenanceSuppression:
    """The weekly maintenance window, in UTC: (day of week, "HH:MM" start, hours)."""

    day_of_week: str
    start_utc: str
    hours: int


@dataclass(frozen=True)
class ObservabilityArgs:
    naming: Naming
    tier: Tier
    resource_group_name: pulumi.Input[str]
    resource_group_ids: Sequence[pulumi.Input[str]]  # the stack's groups: scope of activity-log alerts and processing rules
    subscription_id: pulumi.Input[str]
    workspace_id: pulumi.Input[str]  # Log Analytics
    cluster_id: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    # The loudest criticality among the stack's units: Azure resources serve them all.
    criticality: Criticality
    emails: Sequence[str]
    webhook: Optional[SecureWebhook]
    targets: Sequence[AlertTarget]
    tenants: Sequence[prometheus_rules.TenantWatch]
    windows: Sequence[BusinessWindow]
    maintenance: MaintenanceSuppression
    regions: Sequence[str]
    admin_group_id: str
    grafana: bool = False
    # The vault whose secrets' near-expiry and expiry become alerts (components/rotation.py).
    key_vault_id: Optional[pulumi.Input[str]] = None


class Observability(pulumi.ComponentResource):
    def __init__(self, name: str, args: ObservabilityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:observability:Observability", name, None, opts)
        self._args = args
        naming, child = args.naming, pulumi.ResourceOptions(parent=self)
        location = naming.location

        self.workspace = monitor.AzureMonitorWorkspace(
            "amw",
            azure_monitor_workspace_name=naming.resource("amw"),
            resource_group_name=args.resource_group_name,
            location=location,
            opts=child,
        )
        self._prometheus_collection(args, child)
        self._container_insights(args, child)

        self.action_groups = self._action_groups(args, child)
        self.alerts: list[pulumi.CustomResource] = []
        for target in args.targets:
            for spec in specs_for(target.arm_type, target.role):
                self.alerts.append(self._metric_alert(target, spec))
        workspace = AlertTarget("amw", MONITOR_WORKSPACE, self.workspace.id)
        self.alerts.extend(self._metric_alert(workspace, spec) for spec in specs_for(MONITOR_WORKSPACE, workspace.role))
        self.alerts.extend(self._prometheus_rule_groups(args, child))
        self.alerts.extend(self._log_alerts(args, child))
        self.alerts.extend(self._activity_log_alerts(args, child))
        if args.key_vault_id is not None:
            self.secret_expiry = self._secret_expiry_alerts(args.key_vault_id, child)
        self._processing_rules(args, child)

        slos = [SloView(t.host, t.slo.availability * 100, t.slo.latency_threshold_seconds, t.slo.latency_target * 100) for t in args.tenants if t.slo]
        self.workbooks = [self._workbook(book, child) for book in workbooks(args.tier, [(t.namespace, t.host) for t in args.tenants], slos)]
        self.grafana = self._grafana(args, child) if args.grafana else None
        self.register_outputs({"azureMonitorWorkspaceId": self.workspace.id, "alerts": len(self.alerts)})

    # -- plumbing ---------------------------------------------------------------------------------------------------

    def _prometheus_collection(self, args: ObservabilityArgs, child: pulumi.ResourceOptions) -> None:
        """What makes managed Prometheus send anything: without a rule associated with the cluster the add-on collects nothing."""
        naming = args.naming
        endpoint = monitor.DataCollectionEndpoint(
            "dce-prometheus",
            data_collection_endpoint_name=naming.resource("dce", "prometheus"),
            resource_group_name=args.resource_group_name,
            location=naming.location,
            kind="Linux",
            opts=child,
        )
        rule = monitor.DataCollectionRule(
            "dcr-prometheus",
            data_collection_rule_name=naming.resource("dcr", "prometheus"),
            resource_group_name=args.resource_group_name,
            location=naming.location,
            kind="Linux",
            data_collection_endpoint_id=endpoint.id,
            data_sources=monitor.DataCollectionRuleDataSourcesArgs(
                prometheus_forwarder=[monitor.PrometheusForwarderDataSourceArgs(name="PrometheusDataSource", streams=[PROMETHEUS_STREAM])]
            ),
            destinations=monitor.DataCollectionRuleDestinationsArgs(
                monitoring_accounts=[monitor.MonitoringAccountDestinationArgs(account_resource_id=self.workspace.id, name="MonitoringAccount")]
            ),
            data_flows=[monitor.DataFlowArgs(streams=[PROMETHEUS_STREAM], destinations=["MonitoringAccount"])],
            opts=child,
        )
        monitor.DataCollectionRuleAssociation(
            "dcra-prometheus",
            association_name="dcra-prometheus",
            resource_uri=args.cluster_id,
            data_collection_rule_id=rule.id,
            opts=child,
        )
        # The association of the endpoint must carry this exact name (the add-on reads its configuration through it).
        monitor.DataCollectionRuleAssociation(
            "dcra-prometheus-endpoint",
            association_name="configurationAccessEndpoint",
            resource_uri=args.cluster_id,
            data_collection_endpoint_id=endpoint.id,
            opts=child,
        )

    def _container_insights(self, args: ObservabilityArgs, child: pulumi.ResourceOptions) -> None:
        rule = monitor.DataCollectionRule(
            "dcr-container-insights",
            data_collection_rule_name=args.naming.resource("dcr", "container-insights"),
            resource_group_name=args.resource_group_name,
            location=args.naming.location,
            kind="Linux",
            data_sources=monitor.DataCollectionRuleDataSourcesArgs(
                extensions=[
                    monitor.ExtensionDataSourceArgs(
                        name="ContainerInsightsExtension",
                        extension_name="ContainerInsights",
                        streams=list(CONTAINER_INSIGHTS_STREAMS),
                        extension_settings={
                            "dataCollectionSettings": {"interval": "1m", "namespaceFilteringMode": "Off", "enableContainerLogV2": True}
                        },
                    )
                ]
            ),
            destinations=monitor.DataCollectionRuleDestinationsArgs(
                log_analytics=[monitor.LogAnalyticsDestinationArgs(workspace_resource_id=args.workspace_id, name="ciworkspace")]
            ),
            data_flows=[monitor.DataFlowArgs(streams=list(CONTAINER_INSIGHTS_STREAMS), destinations=["ciworkspace"])],
            opts=child,
        )
        monitor.DataCollectionRuleAssociation(
            "dcra-container-insights",
            association_name="ContainerInsightsExtension",
            resource_uri=args.cluster_id,
            data_collection_rule_id=rule.id,
            opts=child,
        )

    # -- routing -----------------------------------------------------------------------------------------------------

    def _action_groups(self, args: ObservabilityArgs, child: pulumi.ResourceOptions) -> dict[str, monitor.ActionGroup]:
        emails = [monitor.MicrosoftCommonEmailReceiverArgs(name=f"email-{i}", email_address=a, use_common_alert_schema=True) for i, a in enumerate(args.emails)]
        groups = {"notify": monitor.ActionGroup(
            "ag-notify",
            action_group_name=args.naming.resource("ag", "notify"),
            resource_group_name=args.resource_group_name,
            location="Global",
            group_short_name=SHORT_NAMES["notify"],
            enabled=True,
            email_receivers=emails,
            opts=child,
        )}
        if args.tier.is_production:
            hook = args.webhook
            groups["page"] = monitor.ActionGroup(
                "ag-page",
                action_group_name=args.naming.resource("ag", "page"),
                resource_group_name=args.resource_group_name,
                location="Global",
                group_short_name=SHORT_NAMES["page"],
                enabled=True,
                email_receivers=emails,
                webhook_receivers=[
                    monitor.WebhookReceiverArgs(
                        name=hook.name,
                        service_uri=hook.url,
                        use_common_alert_schema=True,
                        use_aad_auth=True,
                        object_id=hook.application_object_id,
                        identifier_uri=hook.identifier_uri,
                    )
                ]
                if hook
                else None,
                opts=child,
            )
        return groups

    def route(self, level: int) -> pulumi.Output[str]:
        """The action group an alert of this severity notifies."""
        return self.action_groups["page" if pages(self._args.tier, level) else "notify"].id

    # -- alerts ------------------------------------------------------------------------------------------------------

    def _metric_alert(self, target: AlertTarget, spec: MetricAlertSpec) -> monitor.MetricAlert:
        args = self._args
        level = severity(args.tier, args.criticality, spec.kind)
        threshold = spec.threshold_for(args.tier, dict(target.limits))
        name = f"{target.name}-{spec.name}"
        return monitor.MetricAlert(
            f"alert-{name}",
            rule_name=args.naming.resource("alert", name),
            resource_group_name=args.resource_group_name,
            location="global",
            description=f"{spec.summary.format(threshold=threshold)} [kind={spec.kind.value}]",
            severity=level,
            enabled=True,
            scopes=[target.resource_id],
            target_resource_type=target.arm_type,
            evaluation_frequency=spec.frequency,
            window_size=spec.window,
            auto_mitigate=True,
            criteria=monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                all_of=[
                    monitor.MetricCriteriaArgs(
                        name=spec.name,
                        criterion_type="StaticThresholdCriterion",
                        metric_name=spec.metric,
                        metric_namespace=target.arm_type,
                        operator=spec.operator,
                        threshold=threshold,
                        time_aggregation=spec.aggregation,
                        dimensions=[monitor.MetricDimensionArgs(name=d.name, operator=d.operator, values=list(d.values)) for d in spec.dimensions] or None,
                    )
                ],
            ),
            actions=[monitor.MetricAlertActionArgs(action_group_id=self.route(level))],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _prometheus_rule_groups(self, args: ObservabilityArgs, child: pulumi.ResourceOptions) -> list[alertsmanagement.PrometheusRuleGroup]:
        groups = prometheus_rules.cluster_rule_groups(args.tier, args.criticality)
        for tenant in args.tenants:
            groups += prometheus_rules.tenant_rule_groups(tenant, list(args.windows))
        return [
            alertsmanagement.PrometheusRuleGroup(
                f"prom-{group.name}",
                rule_group_name=group.name,
                resource_group_name=args.resource_group_name,
                location=args.naming.location,
                scopes=[self.workspace.id, args.cluster_id],
                cluster_name=args.cluster_name,
                enabled=True,
                interval=group.interval,
                description=f"odoo-platform: {group.name}",
                rules=[self._prometheus_rule(rule) for rule in group.rules],
                opts=child,
            )
            for group in groups
        ]

    def _prometheus_rule(self, rule: "prometheus_rules.Rule") -> alertsmanagement.PrometheusRuleArgs:
        if rule.record:
            return alertsmanagement.PrometheusRuleArgs(record=rule.record, expression=rule.expr, labels=dict(rule.labels) or None, enabled=True)
        level = cast(int, rule.severity)  # an alert always has one (prometheus_rules.Rule checks)
        return alertsmanagement.PrometheusRuleArgs(
            alert=rule.alert,
            expression=rule.expr,
            for_=iso_duration(rule.for_) if rule.for_ else None,
            severity=level,
            labels=dict(rule.labels) or None,
            annotations=dict(rule.annotations) or None,
            enabled=True,
            resolve_configuration=alertsmanagement.PrometheusRuleResolveConfigurationArgs(auto_resolved=True, time_to_resolve="PT10M"),
            actions=[alertsmanagement.PrometheusRuleGroupActionArgs(action_group_id=self.route(level))],
        )

    def _secret_expiry_alerts(self, key_vault_id: pulumi.Input[str], child: pulumi.ResourceOptions) -> eventgrid.SystemTopic:
        """Key Vault emits Microsoft.KeyVault.SecretNearExpiry 30 days before a version's expiry and SecretExpired at it
        (learn.microsoft.com/azure/event-grid/event-schema-key-vault), for versions written after the subscription
        exists; Event Grid raises them as Azure Monitor alerts on an action group (event handler "Azure Monitor alerts",
        Key Vault sources only: learn.microsoft.com/azure/event-grid/event-handlers). The rotation job replaces a
        version `graceDays` (more than 30) before its expiry, so a near-expiry alert means a rotation did not happen."""
        args = self._args
        topic = eventgrid.SystemTopic(
            "kv-events",
            system_topic_name=args.naming.resource("evgt", "kv"),
            resource_group_name=args.resource_group_name,
            location=args.naming.location,
            source=key_vault_id,
            topic_type="Microsoft.KeyVault.vaults",
            opts=child,
        )
        for event, kind, summary in SECRET_EXPIRY_EVENTS:
            level = severity(args.tier, args.criticality, kind)
            eventgrid.SystemTopicEventSubscription(
                f"kv-{event.rsplit('.', 1)[-1].lower()}",
                event_subscription_name=event.rsplit(".", 1)[-1].lower(),
                system_topic_name=topic.name,
                resource_group_name=args.resource_group_name,
                filter=eventgrid.EventSubscriptionFilterArgs(included_event_types=[event]),
                destination=eventgrid.MonitorAlertEventSubscriptionDestinationArgs(
                    endpoint_type="MonitorAlert",
                    action_groups=[self.route(level)],
                    severity=f"Sev{level}",
                    description=f"{summary} [kind={kind.value}]",
                ),
                opts=child,
            )
        return topic

    def _log_alerts(self, args: ObservabilityArgs, child: pulumi.ResourceOptions) -> list[monitor.ScheduledQueryRule]:
        alerts = []
        for query in LOG_ALERTS:
            level = severity(args.tier, args.criticality, query.kind)
            alerts.append(
                monitor.ScheduledQueryRule(
                    f"log-{query.name}",
                    rule_name=args.naming.resource("log-alert", query.name),
                    resource_group_name=args.resource_group_name,
                    location=args.naming.location,
                    kind="LogAlert",
                    description=f"{query.summary} [kind={query.kind.value}]",
                    display_name=query.summary,
                    severity=level,
                    enabled=True,
                    scopes=[args.workspace_id],
                    evaluation_frequency="PT5M",
                    window_size=query.window,
                    auto_mitigate=True,
                    criteria=monitor.ScheduledQueryRuleCriteriaArgs(
                        all_of=[
                            monitor.ConditionArgs(
                                query=query.query,
                                time_aggregation="Total",
                                metric_measure_column="AggregatedValue",
                                operator="GreaterThan",
                                threshold=query.threshold,
                                dimensions=[monitor.DimensionArgs(name=query.split_by, operator="Include", values=["*"])],
                                failing_periods=monitor.ConditionFailingPeriodsArgs(number_of_evaluation_periods=1, min_failing_periods_to_alert=1),
                            )
                        ]
                    ),
                    actions=monitor.ActionsArgs(action_groups=[self.route(level)]),
                    opts=child,
                )
            )
        return alerts

    def _activity_log_alerts(self, args: ObservabilityArgs, child: pulumi.ResourceOptions) -> list[monitor.ActivityLogAlert]:
        deletions_level = severity(args.tier, args.criticality, Kind.SECURITY)
        operations = ["Microsoft.Authorization/locks/delete", *(f"{t}/delete" for t in STATEFUL_TYPES)]
        deletions = monitor.ActivityLogAlert(
            "activity-deletions",
            activity_log_alert_name=args.naming.resource("activity", "deletions"),
            resource_group_name=args.resource_group_name,
            location="Global",
            description="A delete lock or a resource that holds data was deleted [kind=security]",
            enabled=True,
            scopes=list(args.resource_group_ids),
            condition=monitor.AlertRuleAllOfConditionArgs(
                all_of=[
                    monitor.AlertRuleAnyOfOrLeafConditionArgs(field="category", equals="Administrative"),
                    monitor.AlertRuleAnyOfOrLeafConditionArgs(
                        any_of=[monitor.AlertRuleLeafConditionArgs(field="operationName", equals=op) for op in operations]
                    ),
                    monitor.AlertRuleAnyOfOrLeafConditionArgs(field="status", equals="Succeeded"),
                ]
            ),
            actions=monitor.ActionListArgs(action_groups=[monitor.ActionGroupArgs(action_group_id=self.route(deletions_level))]),
            opts=child,
        )
        health_level = severity(args.tier, args.criticality, Kind.AVAILABILITY)
        regions = [REGION_DISPLAY_NAMES[r] for r in args.regions]
        service_health = monitor.ActivityLogAlert(
            "activity-service-health",
            activity_log_alert_name=args.naming.resource("activity", "service-health"),
            resource_group_name=args.resource_group_name,
            location="Global",
            description=f"Azure Service Health incident in {', '.join(regions)} [kind=availability]",
            enabled=True,
            scopes=[pulumi.Output.concat("/subscriptions/", args.subscription_id)],
            condition=monitor.AlertRuleAllOfConditionArgs(
                all_of=[
                    monitor.AlertRuleAnyOfOrLeafConditionArgs(field="category", equals="ServiceHealth"),
                    monitor.AlertRuleAnyOfOrLeafConditionArgs(field="properties.incidentType", equals="Incident"),
                    monitor.AlertRuleAnyOfOrLeafConditionArgs(field="properties.impactedServices[*].ImpactedRegions[*].RegionName", contains_any=regions),
                ]
            ),
            actions=monitor.ActionListArgs(action_groups=[monitor.ActionGroupArgs(action_group_id=self.route(health_level))]),
            opts=child,
        )
        return [deletions, service_health]

    def _processing_rules(self, args: ObservabilityArgs, child: pulumi.ResourceOptions) -> None:
        window = args.maintenance
        scopes = list(args.resource_group_ids)
        alertsmanagement.AlertProcessingRuleByName(
            "apr-maintenance",
            alert_processing_rule_name=args.naming.resource("apr", "maintenance"),
            resource_group_name=args.resource_group_name,
            location="Global",
            properties=alertsmanagement.AlertProcessingRulePropertiesArgs(
                description="Planned maintenance: only severity 0-1 alerts notify",
                enabled=True,
                scopes=scopes,
                conditions=[alertsmanagement.ConditionArgs(field="Severity", operator="Equals", values=["Sev2", "Sev3", "Sev4"])],
                schedule=alertsmanagement.ScheduleArgs(time_zone="UTC", recurrences=weekly_recurrences(window)),
                actions=[alertsmanagement.RemoveAllActionGroupsArgs(action_type="RemoveAllActionGroups")],
            ),
            opts=child,
        )
        days = sorted({d for w in args.windows for d in w.days_of_month})
        if args.tier.is_production and days and args.criticality != "standard":
            business = {k.value for k in (Kind.AVAILABILITY, Kind.BUSINESS_PROCESS, Kind.DEGRADATION, Kind.DATA_RISK)}
            alertsmanagement.AlertProcessingRuleByName(
                "apr-business-windows",
                alert_processing_rule_name=args.naming.resource("apr", "business-windows"),
                resource_group_name=args.resource_group_name,
                location="Global",
                properties=alertsmanagement.AlertProcessingRulePropertiesArgs(
                    description=f"Business windows ({', '.join(w.name for w in args.windows)}): severity 2 metric alerts of business kinds page too",
                    enabled=True,
                    scopes=scopes,
                    conditions=[
                        alertsmanagement.ConditionArgs(field="Severity", operator="Equals", values=["Sev2"]),
                        alertsmanagement.ConditionArgs(field="MonitorService", operator="Equals", values=["Platform"]),
                        alertsmanagement.ConditionArgs(field="Description", operator="Contains", values=[f"[kind={k}]" for k in sorted(business)]),
                    ],
                    schedule=alertsmanagement.ScheduleArgs(
                        time_zone="UTC",
                        recurrences=[alertsmanagement.MonthlyRecurrenceArgs(recurrence_type="Monthly", days_of_month=days)],
                    ),
                    actions=[alertsmanagement.AddActionGroupsArgs(action_type="AddActionGroups", action_group_ids=[self.action_groups["page"].id])],
                ),
                opts=child,
            )

    # -- dashboards --------------------------------------------------------------------------------------------------

    def _workbook(self, book: Workbook, child: pulumi.ResourceOptions) -> applicationinsights.Workbook:
        args = self._args
        return applicationinsights.Workbook(
            f"workbook-{book.key}",
            # A workbook's resource name is a GUID; derived from the stack and view, it stays the same on every run.
            resource_name_=str(uuid.uuid5(uuid.NAMESPACE_URL, f"odoo-platform/{args.naming.base}/{book.key}")),
            resource_group_name=args.resource_group_name,
            location=args.naming.location,
            kind="shared",
            category="workbook",
            display_name=f"{book.title} ({args.naming.base})",
            serialized_data=book.serialized(),
            source_id=args.workspace_id,
            opts=child,
        )

    def _grafana(self, args: ObservabilityArgs, child: pulumi.ResourceOptions) -> dashboard.Grafana:
        grafana = dashboard.Grafana(
            "grafana",
            workspace_name=grafana_name(args.naming),
            resource_group_name=args.resource_group_name,
            location=args.naming.location,
            sku=dashboard.ResourceSkuArgs(name="Standard"),
            identity=dashboard.ManagedServiceIdentityArgs(type="SystemAssigned"),
            properties=dashboard.ManagedGrafanaPropertiesArgs(
                api_key="Disabled",
                zone_redundancy="Enabled",
                grafana_integrations=dashboard.GrafanaIntegrationsArgs(
                    azure_monitor_workspace_integrations=[dashboard.AzureMonitorWorkspaceIntegrationArgs(azure_monitor_workspace_resource_id=self.workspace.id)]
                ),
            ),
            opts=child,
        )
        principal = grafana.identity.apply(lambda i: i.principal_id if i else "")
        role_assignment("grafana-amw-reader", self.workspace.id, MONITORING_DATA_READER, principal, self)
        for i, group_id in enumerate(args.resource_group_ids):
            role_assignment(f"grafana-monitoring-reader-{i}", group_id, MONITORING_READER, principal, self)
        role_assignment("grafana-admins-viewer", grafana.id, GRAFANA_VIEWER, args.admin_group_id, self, principal_type="Group")
        return grafana


@dataclass(frozen=True)
class LogAlert:
    name: str
    summary: str
    kind: Kind
    query: str  # KQL; must end in `summarize AggregatedValue = ... by <split_by>`
    split_by: str
    threshold: float
    window: str = "PT15M"


# Odoo logs a failed scheduled action at ERROR from the logger odoo.addons.base.models.ir_cron (16.0/17.0: "Call from
# cron ... failed"; master: "Job ... server action ... failed"); PostgreSQL Flexible Server's logs reach AzureDiagnostics
# (category PostgreSQLLogs has no resource-specific table); Key Vault's AuditEvent reaches AZKVAuditLogs.
# Key Vault events that become alerts: near expiry means the rotation job missed its window (its grace period is
# longer than the 30 days' notice); expired means a credential past its date, which consumers may fail to read.
SECRET_EXPIRY_EVENTS = (
    ("Microsoft.KeyVault.SecretNearExpiry", Kind.BUSINESS_PROCESS, "A Key Vault secret expires within 30 days: its rotation did not run"),
    ("Microsoft.KeyVault.SecretExpired", Kind.SECURITY, "A Key Vault secret expired without being rotated"),
)

LOG_ALERTS = (
    LogAlert(
        "odoo-cron-failures",
        "Odoo scheduled actions (crons) failing",
        Kind.BUSINESS_PROCESS,
        'ContainerLogV2 | where PodNamespace startswith "odoo-" and ContainerName == "odoo" '
        '| where tostring(LogMessage) has "odoo.addons.base.models.ir_cron" and tostring(LogMessage) has " ERROR " '
        "| summarize AggregatedValue = count() by PodNamespace",
        "PodNamespace",
        0,
    ),
    LogAlert(
        "postgres-auth-failures",
        "Burst of PostgreSQL authentication failures",
        Kind.SECURITY,
        'AzureDiagnostics | where ResourceProvider == "MICROSOFT.DBFORPOSTGRESQL" and Category == "PostgreSQLLogs" '
        '| where Message has "authentication failed" | summarize AggregatedValue = count() by Resource',
        "Resource",
        20,
    ),
    LogAlert(
        "key-vault-denied",
        "Key Vault access denied",
        Kind.SECURITY,
        'AZKVAuditLogs | where HttpStatusCode == 403 | summarize AggregatedValue = count() by CallerIpAddress',
        "CallerIpAddress",
        5,
    ),
)


def grafana_name(naming: Naming) -> str:
    """Managed Grafana names are 2-23 characters: `amg-<org>-<stack>` plus the region where it fits."""
    full = naming.resource("amg")
    return full if len(full) <= 23 else f"amg-{naming.org}-{naming.stack}"[:23].rstrip("-")


def iso_duration(seconds: int) -> str:
    """ISO 8601 for a positive whole number of seconds: 300 -> PT5M, 5400 -> PT1H30M, 90 -> PT90S."""
    if seconds % 60:
        return f"PT{seconds}S"
    hours, minutes = divmod(seconds // 60, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")


def weekly_recurrences(window: MaintenanceSuppression) -> list[alertsmanagement.WeeklyRecurrenceArgs]:
    """A weekly window as processing-rule recurrences; one that crosses midnight becomes two (a recurrence ends on its day)."""
    days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    start = datetime.datetime.strptime(window.start_utc, "%H:%M")
    end = start + datetime.timedelta(hours=window.hours)
    day = days.index(window.day_of_week)
    if end.day == start.day:
        return [alertsmanagement.WeeklyRecurrenceArgs(recurrence_type="Weekly", days_of_week=[window.day_of_week], start_time=f"{start:%H:%M}:00", end_time=f"{end:%H:%M}:00")]
    return [
        alertsmanagement.WeeklyRecurrenceArgs(recurrence_type="Weekly", days_of_week=[window.day_of_week], start_time=f"{start:%H:%M}:00", end_time="23:59:59"),
        alertsmanagement.WeeklyRecurrenceArgs(recurrence_type="Weekly", days_of_week=[days[(day + 1) % 7]], start_time="00:00:00", end_time=f"{end:%H:%M}:00"),
    ]
