"""Observability in both tiers: plumbing that makes managed Prometheus collect, routing, metric alerts checked
against Azure's metric catalogue, log and activity-log alerts, processing rules, workbooks and Grafana."""
import json
import os
import re
from dataclasses import replace

import pytest

from components import metric_alerts
from components.metric_alerts import METRIC_ALERTS, MetricAlertSpec
from components.observability import LOG_ALERTS
from components.severity import CRITICALITIES, NON_PRODUCTION_LOUDEST, Kind, pages, severity, severity_table
from components.tier import Tier
from components.workbooks import RESOURCE_GRAPH_TABLES, TABLE_SOURCES, tables_of
from stacks.config import ConfigError, load_config
from stacks.shared import maintenance_in_utc
from tools.mocks import SUBSCRIPTION_ID, arm_id

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOGUE = os.path.join(ROOT, "..", "shared", "vendor", "azure-monitor", "metric-definitions.json")

AMW = "azure-native:monitor:AzureMonitorWorkspace"
DCE = "azure-native:monitor:DataCollectionEndpoint"
DCR = "azure-native:monitor:DataCollectionRule"
DCRA = "azure-native:monitor:DataCollectionRuleAssociation"
ACTION_GROUP = "azure-native:monitor:ActionGroup"
METRIC_ALERT = "azure-native:monitor:MetricAlert"
LOG_ALERT = "azure-native:monitor:ScheduledQueryRule"
ACTIVITY_ALERT = "azure-native:monitor:ActivityLogAlert"
PROM_GROUP = "azure-native:alertsmanagement:PrometheusRuleGroup"
PROCESSING_RULE = "azure-native:alertsmanagement:AlertProcessingRuleByName"
WORKBOOK = "azure-native:applicationinsights:Workbook"
GRAFANA = "azure-native:dashboard:Grafana"
ROLE = "azure-native:authorization:RoleAssignment"
CLUSTER = "azure-native:containerservice:ManagedCluster"
DIAGNOSTIC = "azure-native:monitor:DiagnosticSetting"

# The plan's types watched by metric alerts -> ARM type.
WATCHED = {
    "azure-native:dbforpostgresql:Server": metric_alerts.POSTGRES,
    "azure-native:redisenterprise:RedisEnterprise": metric_alerts.REDIS,
    "azure-native:storage:StorageAccount": metric_alerts.STORAGE,
    "azure-native:keyvault:Vault": metric_alerts.KEY_VAULT,
    "azure-native:containerservice:ManagedCluster": metric_alerts.AKS,
    "azure-native:network:PublicIPAddress": metric_alerts.PUBLIC_IP,
    "azure-native:network:NatGateway": metric_alerts.NAT_GATEWAY,
    "azure-native:containerregistry:Registry": metric_alerts.REGISTRY,
    AMW: metric_alerts.MONITOR_WORKSPACE,
}


def rid(resource) -> str:
    return arm_id(resource.type, resource.name, resource.inputs)


# -- the metric catalogue -----------------------------------------------------------------------------------------

def _iso_minutes(duration: str) -> int:
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", duration)
    assert match, duration
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return days * 1440 + hours * 60 + minutes


def catalogue_problems(arm_type: str, spec: MetricAlertSpec, catalogue: dict) -> list[str]:
    """What Azure would reject or never evaluate: unknown metric, aggregation, dimension, or a grain finer than the metric's."""
    metrics = catalogue.get(arm_type.lower(), {})
    entry = metrics.get(spec.metric)
    if entry is None:
        return [f"{arm_type} has no metric {spec.metric}"]
    found = []
    aggregations = [a.strip() for a in entry["Aggregation"].split(",")]
    if spec.aggregation not in aggregations:
        found.append(f"{spec.metric}: aggregation {spec.aggregation} not in {aggregations}")
    dimensions = [d.strip() for d in entry["Dimensions"].split(",")]
    found += [f"{spec.metric}: no dimension {d.name}" for d in spec.dimensions if d.name not in dimensions]
    grains = [_iso_minutes(g.strip()) for g in entry["Time Grains"].split(",")]
    if _iso_minutes(spec.frequency) < min(grains):
        found.append(f"{spec.metric}: evaluated every {spec.frequency}, finer than its smallest time grain")
    if _iso_minutes(spec.window) < _iso_minutes(spec.frequency):
        found.append(f"{spec.metric}: window {spec.window} shorter than its frequency {spec.frequency}")
    return found


@pytest.fixture(scope="module")
def catalogue() -> dict:
    with open(CATALOGUE) as f:
        return json.load(f)


@pytest.mark.parametrize("arm_type", sorted(METRIC_ALERTS))
def test_every_metric_alert_matches_the_catalogue(arm_type, catalogue):
    problems = [p for spec in METRIC_ALERTS[arm_type] for p in catalogue_problems(arm_type, spec, catalogue)]
    assert problems == []


def test_the_catalogue_check_catches_a_misspelt_metric_aggregation_dimension_and_grain(catalogue):
    cpu = next(s for s in METRIC_ALERTS[metric_alerts.POSTGRES] if s.metric == "cpu_percent")
    assert catalogue_problems(metric_alerts.POSTGRES, replace(cpu, metric="cpu_percentage"), catalogue) == [f"{metric_alerts.POSTGRES} has no metric cpu_percentage"]
    assert "aggregation" in catalogue_problems(metric_alerts.POSTGRES, replace(cpu, aggregation="Total"), catalogue)[0]
    throttling = next(s for s in METRIC_ALERTS[metric_alerts.STORAGE] if s.name == "throttling")
    bad_dimension = replace(throttling, dimensions=(metric_alerts.Dimension("ResponseKind", ("ServerBusyError",)),))
    assert catalogue_problems(metric_alerts.STORAGE, bad_dimension, catalogue) == ["Transactions: no dimension ResponseKind"]
    evictions = next(s for s in METRIC_ALERTS[metric_alerts.REDIS] if s.metric == "evictedkeys")
    assert "finer than" in catalogue_problems(metric_alerts.REDIS, replace(evictions, frequency="PT1M"), catalogue)[0]


def test_transaction_id_alert_can_fire_before_wraparound():
    txid = next(s for s in METRIC_ALERTS[metric_alerts.POSTGRES] if s.metric == "maximum_used_transactionIDs")
    assert max(txid.threshold) < 2**31 and txid.operator == "GreaterThan"


# -- severity -------------------------------------------------------------------------------------------------------

def test_severity_table_covers_every_combination_and_orders_them():
    table = severity_table()
    assert len(table) == len(Tier) * len(CRITICALITIES) * len(Kind) * 2
    levels = {(t, c, k, w): s for t, c, k, w, s in table}
    assert levels[("production", "core-finance", "business-process", True)] == 0
    assert levels[("non-production", "standard", "saturation", False)] == 4
    for (tier, crit, kind, window), level in levels.items():
        assert 0 <= level <= 4
        if tier == "non-production":
            assert level >= NON_PRODUCTION_LOUDEST, "non-production never pages"
            assert levels[(tier, crit, kind, True)] == level, "the business calendar is for production"
        assert levels[(tier, crit, kind, True)] <= levels[(tier, crit, kind, False)], "a window is never quieter"
        assert levels[(tier, "core-finance", kind, window)] <= levels[(tier, "standard", kind, window)]
        assert levels[("production", crit, kind, window)] <= levels[("non-production", crit, kind, window)]
    assert levels[("production", "standard", "business-process", True)] == levels[("production", "standard", "business-process", False)]
    with pytest.raises(ValueError, match="unknown criticality"):
        severity(Tier.PRODUCTION, "vip", Kind.AVAILABILITY)  # type: ignore[arg-type]


# -- plumbing -------------------------------------------------------------------------------------------------------

def test_managed_prometheus_sends_to_the_azure_monitor_workspace(stack):
    workspace, cluster = stack.one(AMW), stack.one(CLUSTER)
    endpoint = stack.one(DCE)
    rules = {r.inputs["dataCollectionRuleName"]: r for r in stack.of_type(DCR)}
    [prometheus] = [r for r in rules.values() if "prometheusForwarder" in r.inputs["dataSources"]]
    assert prometheus.inputs["dataSources"]["prometheusForwarder"][0]["streams"] == ["Microsoft-PrometheusMetrics"]
    [account] = prometheus.inputs["destinations"]["monitoringAccounts"]
    assert account["accountResourceId"] == rid(workspace)
    assert prometheus.inputs["dataFlows"] == [{"streams": ["Microsoft-PrometheusMetrics"], "destinations": [account["name"]]}]
    assert prometheus.inputs["dataCollectionEndpointId"] == rid(endpoint)
    associations = {a.inputs["associationName"]: a.inputs for a in stack.of_type(DCRA)}
    assert all(a["resourceUri"] == rid(cluster) for a in associations.values())
    assert associations["dcra-prometheus"]["dataCollectionRuleId"] == rid(prometheus)
    assert associations["configurationAccessEndpoint"]["dataCollectionEndpointId"] == rid(endpoint)
    assert cluster.inputs["azureMonitorProfile"]["metrics"]["enabled"] is True


def test_container_insights_rule_sends_to_log_analytics(stack):
    [insights] = [r for r in stack.of_type(DCR) if "extensions" in r.inputs["dataSources"]]
    [extension] = insights.inputs["dataSources"]["extensions"]
    assert extension["extensionName"] == "ContainerInsights" and "Microsoft-ContainerLogV2" in extension["streams"]
    workspace = rid(stack.one("azure-native:operationalinsights:Workspace"))
    assert insights.inputs["destinations"]["logAnalytics"][0]["workspaceResourceId"] == workspace
    assert stack.one(CLUSTER).inputs["addonProfiles"]["omsagent"]["config"]["logAnalyticsWorkspaceResourceID"] == workspace
    association = next(a for a in stack.of_type(DCRA) if a.inputs["associationName"] == "ContainerInsightsExtension")
    assert association.inputs["dataCollectionRuleId"] == rid(insights)


# -- routing --------------------------------------------------------------------------------------------------------

def test_production_pages_and_non_production_notifies(dev, prod, dev_settings, prod_settings):
    assert [g.inputs["groupShortName"] for g in dev.of_type(ACTION_GROUP)] == ["odoo-notify"]
    groups = {g.inputs["groupShortName"]: g.inputs for g in prod.of_type(ACTION_GROUP)}
    assert set(groups) == {"odoo-notify", "odoo-page"}
    assert all(len(name) <= 12 for name in groups)
    assert [r["emailAddress"] for r in groups["odoo-page"]["emailReceivers"]] == prod_settings["alerts"]["emails"]
    [hook] = groups["odoo-page"]["webhookReceivers"]
    assert hook["useAadAuth"] is True and hook["objectId"] == prod_settings["alerts"]["webhook"]["applicationObjectId"]
    assert [r["emailAddress"] for r in dev.one(ACTION_GROUP).inputs["emailReceivers"]] == dev_settings["alerts"]["emails"]


def _routes(recording):
    return {rid(g): g.inputs["groupShortName"] for g in recording.of_type(ACTION_GROUP)}


def _alert_actions(resource) -> list[str]:
    inputs = resource.inputs
    if resource.type == METRIC_ALERT:
        return [a["actionGroupId"] for a in inputs["actions"]]
    if resource.type == LOG_ALERT:
        return inputs["actions"]["actionGroups"]
    if resource.type == ACTIVITY_ALERT:
        return [a["actionGroupId"] for a in inputs["actions"]["actionGroups"]]
    raise AssertionError(resource.type)


def test_every_alert_routes_by_its_severity(stack):
    tier = Tier.PRODUCTION if stack.stack == "prod" else Tier.NON_PRODUCTION
    routes = _routes(stack)
    for alert in [*stack.of_type(METRIC_ALERT), *stack.of_type(LOG_ALERT)]:
        [group] = _alert_actions(alert)
        assert routes[group] == ("odoo-page" if pages(tier, alert.inputs["severity"]) else "odoo-notify"), alert.name
    for group in stack.of_type(PROM_GROUP):
        for rule in group.inputs["rules"]:
            if "alert" in rule:
                [action] = rule["actions"]
                assert routes[action["actionGroupId"]] == ("odoo-page" if pages(tier, rule["severity"]) else "odoo-notify"), rule["alert"]


# -- metric alerts --------------------------------------------------------------------------------------------------

def test_every_watched_resource_has_its_metric_alerts(stack):
    by_scope: dict[str, set[str]] = {}
    for alert in stack.of_type(METRIC_ALERT):
        [scope] = alert.inputs["scopes"]
        by_scope.setdefault(scope, set()).update(c["metricName"] for c in alert.inputs["criteria"]["allOf"])
    for type_, arm_type in WATCHED.items():
        for resource in stack.of_type(type_):
            role = "replica" if resource.inputs.get("createMode") == "Replica" else "primary"
            expected = {s.metric for s in metric_alerts.specs_for(arm_type, role)}
            assert expected <= by_scope.get(rid(resource), set()), f"{resource.name} lacks {expected - by_scope.get(rid(resource), set())}"


def test_metric_alerts_follow_tier_and_the_platform_computed_limits(stack):
    tier = Tier.PRODUCTION if stack.stack == "prod" else Tier.NON_PRODUCTION
    criticality = min((u["criticality"] if "criticality" in u else "standard" for u in stack_units(stack)), key=CRITICALITIES.index)
    max_connections = int(next(c for c in stack.of_type("azure-native:dbforpostgresql:Configuration") if c.inputs["configurationName"] == "max_connections").inputs["value"])
    checked = 0
    for alert in stack.of_type(METRIC_ALERT):
        [criterion] = alert.inputs["criteria"]["allOf"]
        arm_type = alert.inputs["targetResourceType"]
        spec = next(s for s in METRIC_ALERTS[arm_type] if s.name == criterion["name"])
        assert criterion["metricNamespace"] == arm_type and alert.inputs["scopes"][0].split("/providers/")[1].startswith(arm_type)
        assert alert.inputs["severity"] == severity(tier, criticality, spec.kind)
        assert f"[kind={spec.kind.value}]" in alert.inputs["description"]
        if spec.relative_to == "max_connections":
            assert criterion["threshold"] == round(spec.threshold[0 if tier.is_production else 1] * max_connections)
            checked += 1
        elif spec.relative_to is None:
            assert criterion["threshold"] == spec.threshold[0 if tier.is_production else 1]
    assert checked == (2 if tier.is_production else 1), "the primary, and in production the DR replica"


def test_production_alerts_the_dr_replica_lag_and_the_ingress_load_balancer(dev, prod):
    replica = next(s for s in prod.of_type("azure-native:dbforpostgresql:Server") if s.inputs.get("createMode") == "Replica")
    lag = [a for a in prod.of_type(METRIC_ALERT) if a.inputs["criteria"]["allOf"][0]["metricName"] == "physical_replication_delay_in_seconds"]
    assert [a.inputs["scopes"] for a in lag] == [[rid(replica)]]
    assert not any(a.inputs["criteria"]["allOf"][0]["metricName"] == "physical_replication_delay_in_seconds" for a in dev.of_type(METRIC_ALERT))
    probes = [a for a in prod.of_type(METRIC_ALERT) if a.inputs["criteria"]["allOf"][0]["metricName"] == "DipAvailability"]
    assert [a.inputs["scopes"][0] for a in probes] == [
        f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-acme-prod-weu-aks-nodes/providers/Microsoft.Network/loadBalancers/kubernetes"
    ]


def stack_units(recording):
    from tools.preview import stack_settings

    return stack_settings(recording.stack)["units"]


# -- log and activity-log alerts, processing rules ---------------------------------------------------------------------

def _workspace_tables(recording) -> set[str]:
    """The Log Analytics tables the stack's own data collection fills (TABLE_SOURCES read against the plan)."""
    sources: set[str] = set()
    for rule in recording.of_type(DCR):
        for extension in rule.inputs["dataSources"].get("extensions", []):
            sources.update(f"stream:{s}" for s in extension["streams"])
    for setting in recording.of_type(DIAGNOSTIC):
        uri = setting.inputs["resourceUri"]
        provider = uri.split("/providers/", 1)[1]
        arm_type = "/".join(provider.split("/")[0:2] + (provider.split("/")[3:4] if provider.count("/") >= 4 else []))
        for log in setting.inputs.get("logs", []):
            sources.add(f"category:{log.get('category') or log.get('categoryGroup')}@{arm_type}")
        if setting.inputs.get("metrics"):
            sources.add("category:AllMetrics")
    return {table for table, needs in TABLE_SOURCES.items() if any(n in sources for n in needs)}


def test_log_alerts_read_tables_the_stack_fills(stack):
    tables = _workspace_tables(stack)
    rules = {r.inputs["ruleName"]: r.inputs for r in stack.of_type(LOG_ALERT)}
    assert len(rules) == len(LOG_ALERTS)
    workspace = rid(stack.one("azure-native:operationalinsights:Workspace"))
    for rule in rules.values():
        assert rule["scopes"] == [workspace]
        [condition] = rule["criteria"]["allOf"]
        assert tables_of(condition["query"]) <= tables, condition["query"]
        assert "AggregatedValue" in condition["query"]


def test_table_check_fails_without_its_source(dev):
    without_key_vault_logs = [r for r in dev.resources if not (r.type == DIAGNOSTIC and "/vaults/" in r.inputs["resourceUri"])]
    trimmed = type(dev)(dev.project, dev.stack, without_key_vault_logs)
    assert "AZKVAuditLogs" in _workspace_tables(dev) and "AZKVAuditLogs" not in _workspace_tables(trimmed)


def test_activity_log_alerts_watch_deletions_and_service_health(stack):
    groups = {rid(g) for g in stack.of_type("azure-native:resources:ResourceGroup") if g.inputs.get("location") == "westeurope"}
    alerts = {a.inputs["activityLogAlertName"]: a.inputs for a in stack.of_type(ACTIVITY_ALERT)}
    deletions = next(a for n, a in alerts.items() if n.endswith("deletions"))
    assert groups <= set(deletions["scopes"])
    operations = {leaf["equals"] for c in deletions["condition"]["allOf"] for leaf in c.get("anyOf", [])}
    assert {"Microsoft.Authorization/locks/delete", "Microsoft.DBforPostgreSQL/flexibleServers/delete", "Microsoft.Storage/storageAccounts/delete"} <= operations
    health = next(a for n, a in alerts.items() if n.endswith("service-health"))
    assert health["scopes"] == [f"/subscriptions/{SUBSCRIPTION_ID}"]
    regions = next(c["containsAny"] for c in health["condition"]["allOf"] if "containsAny" in c)
    assert regions == ["West Europe", "North Europe"]


def test_maintenance_window_silences_everything_but_pages(dev, prod):
    def recurrences(recording):
        rule = next(r for r in recording.of_type(PROCESSING_RULE) if r.inputs["alertProcessingRuleName"].endswith("maintenance"))
        props = rule.inputs["properties"]
        assert props["actions"] == [{"actionType": "RemoveAllActionGroups"}]
        assert props["conditions"] == [{"field": "Severity", "operator": "Equals", "values": ["Sev2", "Sev3", "Sev4"]}]
        return [(r["daysOfWeek"], r["startTime"], r["endTime"]) for r in props["schedule"]["recurrences"]]

    # prod: Sunday 02:00 at +01:00 for 4 h; dev: Tuesday 20:00 at +01:00 for 6 h, across midnight UTC.
    assert recurrences(prod) == [(["Sunday"], "01:00:00", "05:00:00")]
    assert recurrences(dev) == [(["Tuesday"], "19:00:00", "23:59:59"), (["Wednesday"], "00:00:00", "01:00:00")]


def test_maintenance_window_in_utc_crosses_days_and_weeks(dev_settings):
    dev_settings["maintenance"] = {"dayOfWeek": "Monday", "startTime": "00:30", "durationHours": 4, "utcOffset": "+02:00"}
    window = maintenance_in_utc(load_config("dev", dev_settings))
    assert (window.day_of_week, window.start_utc, window.hours) == ("Sunday", "22:30", 4)
    dev_settings["maintenance"]["utcOffset"] = "-05:00"
    dev_settings["maintenance"]["dayOfWeek"] = "Sunday"
    dev_settings["maintenance"]["startTime"] = "21:00"
    window = maintenance_in_utc(load_config("dev", dev_settings))
    assert (window.day_of_week, window.start_utc) == ("Monday", "02:00")


def test_business_windows_page_severity_2_metric_alerts_in_production_only(dev, prod, prod_settings):
    assert not any(r.inputs["alertProcessingRuleName"].endswith("business-windows") for r in dev.of_type(PROCESSING_RULE))
    rule = next(r for r in prod.of_type(PROCESSING_RULE) if r.inputs["alertProcessingRuleName"].endswith("business-windows")).inputs["properties"]
    days = sorted({d for w in prod_settings["businessCalendar"] for d in w["daysOfMonth"]})
    assert rule["schedule"]["recurrences"] == [{"recurrenceType": "Monthly", "daysOfMonth": days}]
    page = next(rid(g) for g in prod.of_type(ACTION_GROUP) if g.inputs["groupShortName"] == "odoo-page")
    assert rule["actions"] == [{"actionType": "AddActionGroups", "actionGroupIds": [page]}]
    assert {"field": "Severity", "operator": "Equals", "values": ["Sev2"]} in rule["conditions"]


# -- Prometheus rule groups ---------------------------------------------------------------------------------------------

def test_prometheus_rule_groups_run_on_the_cluster_and_workspace(stack):
    workspace, cluster = rid(stack.one(AMW)), stack.one(CLUSTER)
    groups = stack.of_type(PROM_GROUP)
    assert groups
    namespaces = {f"odoo-{u['name']}-{e if isinstance(e, str) else e['name']}" for u in stack_units(stack) for e in u["environments"]}
    seen_namespaces = set()
    for group in groups:
        assert group.inputs["scopes"] == [workspace, rid(cluster)]
        assert group.inputs["clusterName"] == cluster.inputs["resourceName"]
        assert re.fullmatch(r"PT(\d+M|\d+H)", group.inputs["interval"])
        for rule in group.inputs["rules"]:
            assert ("alert" in rule) != ("record" in rule)
            seen_namespaces.update(re.findall(r'namespace="(odoo-[a-z0-9-]+)"', rule["expression"]))
    assert namespaces <= seen_namespaces


def test_slo_burn_rate_alerts_only_in_production(dev, prod):
    def alerts(recording):
        return [r["alert"] for g in recording.of_type(PROM_GROUP) for r in g.inputs["rules"] if "alert" in r]

    assert any("Burn" in a for a in alerts(prod))
    assert not any("Burn" in a for a in alerts(dev))


# -- dashboards -----------------------------------------------------------------------------------------------------

def test_workbooks_are_valid_and_query_tables_the_stack_fills(stack):
    tables = _workspace_tables(stack)
    books = {json.loads(w.inputs["serializedData"])["version"]: w for w in stack.of_type(WORKBOOK)}
    assert set(books) == {"Notebook/1.0"} and len(stack.of_type(WORKBOOK)) == 3
    for workbook in stack.of_type(WORKBOOK):
        data = json.loads(workbook.inputs["serializedData"])
        assert workbook.inputs["kind"] == "shared" and re.fullmatch(r"[0-9a-f-]{36}", workbook.inputs["resourceName"])
        for item in data["items"]:
            if item["type"] != 3:
                continue
            content = item["content"]
            allowed = set(RESOURCE_GRAPH_TABLES) if content["queryType"] == 1 else tables
            assert tables_of(content["query"]) <= allowed, content["query"]


def test_erp_admin_view_offers_every_tenant_environment(stack):
    admin = next(json.loads(w.inputs["serializedData"]) for w in stack.of_type(WORKBOOK) if "administrator" in w.inputs["displayName"])
    tenant = next(p for p in admin["items"][0]["content"]["parameters"] if p["name"] == "Tenant")
    namespaces = {f"odoo-{u['name']}-{e if isinstance(e, str) else e['name']}" for u in stack_units(stack) for e in u["environments"]}
    assert {c["value"] for c in json.loads(tenant["jsonData"])} == namespaces


def test_executive_view_shows_slos_of_production_environments(dev, prod):
    def titles(recording):
        book = next(json.loads(w.inputs["serializedData"]) for w in recording.of_type(WORKBOOK) if "executive" in w.inputs["displayName"])
        return [i["content"].get("title", "") for i in book["items"] if i["type"] == 3]

    assert any(t.startswith("prod.gc.erp.acme-construction.example: availability (target 99.5%)") for t in titles(prod))
    assert not any("availability (target" in t for t in titles(dev))
    assert "Last restore drill per environment" in titles(dev)


def test_grafana_in_production_only_reads_the_workspace(dev, prod):
    assert dev.of_type(GRAFANA) == []
    grafana = prod.one(GRAFANA)
    integrations = grafana.inputs["properties"]["grafanaIntegrations"]["azureMonitorWorkspaceIntegrations"]
    assert integrations == [{"azureMonitorWorkspaceResourceId": rid(prod.one(AMW))}]
    assert grafana.inputs["properties"]["apiKey"] == "Disabled" and len(grafana.inputs["workspaceName"]) <= 23
    roles = {(r.inputs["scope"], r.inputs["description"], r.inputs["principalType"]) for r in prod.of_type(ROLE)}
    assert (rid(prod.one(AMW)), "odoo-platform: Monitoring Data Reader", "ServicePrincipal") in roles
    assert (rid(grafana), "odoo-platform: Grafana Viewer", "Group") in roles


# -- configuration ----------------------------------------------------------------------------------------------------

def _problems(stack: str, raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_config(stack, raw)
    return e.value.problems


def test_bad_alert_configuration_is_one_line_per_key(prod_settings):
    prod_settings["units"][0]["criticality"] = "vip"
    prod_settings["alerts"] = {"emails": ["oncall"]}
    prod_settings["slo"] = {"availability": 100}
    assert _problems("prod", prod_settings) == [
        'odoo-platform:alerts.emails[0] = "oncall": must be an e-mail address',
        "odoo-platform:slo.availability = 100: must be a percentage above 0 and below 100; a 100% objective leaves no error budget to alert on",
        'odoo-platform:units[0].criticality = "vip": must be one of core-finance, project-operations, standard: how much the business loses when the unit\'s ERP stops',
    ]


def test_production_needs_a_receiver_and_a_credential_free_webhook(prod_settings):
    prod_settings["alerts"] = {"emails": [], "webhook": {**prod_settings["alerts"]["webhook"], "url": "https://user:pw@oncall.example/hook?token=1"}}
    found = _problems("prod", prod_settings)
    assert any(p.startswith("odoo-platform:alerts.webhook.url = ") and "without credentials" in p for p in found)
    prod_settings["alerts"]["webhook"]["url"] = "https://oncall.example/hook"
    assert _problems("prod", prod_settings) == [
        "odoo-platform:alerts.emails = []: production pages someone on severity 0-1 alerts: name at least one e-mail receiver"
    ]


def test_latency_threshold_must_be_a_traefik_bucket(dev_settings):
    dev_settings["slo"] = {"latencyThresholdSeconds": 0.8, "latencyTarget": 0}
    assert [p.split(":")[1].split(" =")[0] for p in _problems("dev", dev_settings)] == ["slo.latencyThresholdSeconds", "slo.latencyTarget"]


def test_readme_alert_tables_match_the_definitions():
    from tools.alert_docs import render

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert render(text) == text, "run `make alert-docs`"


def test_executive_drill_tile_reads_the_fields_the_drill_record_has():
    """components/workbooks.py reads the drill record ops/backup prints; each field it projects is one the tool writes."""
    from components.workbooks import DRILL_RECORDS

    with open(os.path.join(ROOT, "ops", "README.md"), encoding="utf-8") as f:
        documented = f.read()
    record = json.loads(re.search(r'```json\n(\{"event": "drill".*?)\n```', documented, re.S).group(1).replace('"..."', '"x"').replace(', "..."]', "]"))
    for field in re.findall(r"record\.(\w+)", DRILL_RECORDS):
        assert field in record, field


def test_prometheus_for_durations_reach_azure_as_iso_8601(prod):
    from components.observability import iso_duration

    assert [iso_duration(s) for s in (300, 5400, 90, 3600)] == ["PT5M", "PT1H30M", "PT90S", "PT1H"]
    rules = {r["alert"]: r for g in prod.of_type(PROM_GROUP) for r in g.inputs["rules"] if "alert" in r}
    assert rules["OdooCronNotRunning"]["for"] == "PT10M" and "for" not in rules["OdooContainerOOMKilled"]
