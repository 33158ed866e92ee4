"""The `production-alert-coverage` stack policy: baseline metric alerts per alertable resource, an action group per alert.

Most cases call the policy directly, with props inside pulumi_policy's unknown-checking proxy as the pack
receives them; the compliant stack, the unknown-id case and the non-production case also go through the
real pack over the Analyzer gRPC protocol.
"""
import json
import os
import sys

import pytest
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, Severity, StackValidationArgs
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from tools.mocks import arm_id
from tools.policy_runner import PolicyPack, _struct
from tools.preview import POLICY_DIR

sys.path.insert(0, POLICY_DIR)
from rules import observability  # noqa: E402
from rules.common import stack_policy  # noqa: E402

POLICY_NAME = "production-alert-coverage"
[RULE] = [r for r in observability.RULES if r.name == POLICY_NAME]
POLICY = stack_policy(RULE)
CATALOGUE = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "vendor", "azure-monitor", "metric-definitions.json")
T = "azure-native:"
SUB = "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups"
GROUP = "rg-acme-prod-weu-data"
ACTION_GROUP_ID = f"{SUB}/rg-acme-prod-weu-mgmt/providers/Microsoft.Insights/actionGroups/ag-acme-prod-page"

# What the issue asks for, written out here so that a change to the policy's table is a visible decision.
EXPECTED_BASELINE = {
    T + "dbforpostgresql:Server": ("Microsoft.DBforPostgreSQL/flexibleServers", "serverName",
                                   ["cpu_percent", "memory_percent", "storage_percent", "is_db_alive", "active_connections", "maximum_used_transactionIDs"]),
    T + "redisenterprise:RedisEnterprise": ("Microsoft.Cache/redisEnterprise", "clusterName", ["usedmemorypercentage", "serverLoad", "errors"]),
    T + "storage:StorageAccount": ("Microsoft.Storage/storageAccounts", "accountName", ["Availability"]),
    T + "keyvault:Vault": ("Microsoft.KeyVault/vaults", "vaultName", ["Availability"]),
    T + "containerservice:ManagedCluster": ("Microsoft.ContainerService/managedClusters", "resourceName",
                                            ["node_cpu_usage_percentage", "node_memory_working_set_percentage", "node_disk_usage_percentage"]),
    T + "network:PublicIPAddress": ("Microsoft.Network/publicIPAddresses", "publicIpAddressName", ["VipAvailability"]),
    T + "network:NatGateway": ("Microsoft.Network/natGateways", "natGatewayName", ["DatapathAvailability"]),
    T + "containerregistry:Registry": ("Microsoft.ContainerRegistry/registries", "registryName", ["StorageUsed"]),
    T + "monitor:AzureMonitorWorkspace": ("Microsoft.Monitor/accounts", "azureMonitorWorkspaceName",
                                          ["ActiveTimeSeriesPercentUtilization", "EventsPerMinuteIngestedPercentUtilization"]),
    T + "dataprotection:BackupVault": ("Microsoft.DataProtection/backupVaults", "vaultName", ["BackupHealthEvent"]),
}
PG = T + "dbforpostgresql:Server"
VAULT = T + "keyvault:Vault"
METRIC_ALERT = T + "monitor:MetricAlert"
ACTIVITY_LOG_ALERT = T + "monitor:ActivityLogAlert"
SCHEDULED_QUERY_RULE = T + "monitor:ScheduledQueryRule"
PROMETHEUS_RULE_GROUP = T + "alertsmanagement:PrometheusRuleGroup"


# Stack resources as dicts (the plan-file shape the runner sends), turned into PolicyResources for direct calls.

def urn(stack: str, type_: str, name: str) -> str:
    return f"urn:pulumi:{stack}::odoo-platform::{type_}::{name}"


def res(stack: str, type_: str, name: str, inputs: dict, dependencies=(), property_dependencies=None) -> dict:
    return {"urn": urn(stack, type_, name), "type": type_, "name": name, "inputs": inputs,
            "dependencies": list(dependencies), "propertyDependencies": property_dependencies or {}}


def target(stack: str, type_: str, name: str, **inputs) -> dict:
    """A resource of an alertable type, named as Azure names it."""
    _, name_key, _ = EXPECTED_BASELINE[type_]
    return res(stack, type_, name, {"resourceGroupName": GROUP, name_key: name, "location": "westeurope", **inputs})


def resource_id(r: dict) -> str:
    arm_type, name_key, _ = EXPECTED_BASELINE[r["type"]]
    return f"{SUB}/{r['inputs']['resourceGroupName']}/providers/{arm_type}/{r['inputs'][name_key]}"


def metric_alert(stack: str, name: str, scopes: list, metrics: list, *, enabled=True, actions=None, namespace=None,
                 odata="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria", **kwargs) -> dict:
    criteria = [{"criterionType": "StaticThresholdCriterion", "name": m, "metricName": m, "operator": "GreaterThan",
                 "threshold": 90, "timeAggregation": "Average", **({"metricNamespace": namespace} if namespace else {})} for m in metrics]
    inputs = {"resourceGroupName": "rg-acme-prod-weu-mgmt", "location": "global", "scopes": scopes, "enabled": enabled, "severity": 1,
              "evaluationFrequency": "PT1M", "windowSize": "PT5M", "criteria": {"odataType": odata, "allOf": criteria},
              "actions": [{"actionGroupId": ACTION_GROUP_ID}] if actions is None else actions}
    return res(stack, METRIC_ALERT, name, inputs, **kwargs)


def baseline_alert(stack: str, r: dict, **kwargs) -> dict:
    return metric_alert(stack, f"ma-{r['name']}", [resource_id(r)], EXPECTED_BASELINE[r["type"]][2], **kwargs)


def activity_log_alert(stack: str, action_groups: list) -> dict:
    return res(stack, ACTIVITY_LOG_ALERT, "ala-service-health", {
        "resourceGroupName": "rg-acme-prod-weu-mgmt", "location": "global", "scopes": [f"/subscriptions/{SUB.split('/')[2]}"],
        "condition": {"allOf": [{"field": "category", "equals": "ServiceHealth"}]}, "actions": {"actionGroups": action_groups}})


def scheduled_query_rule(stack: str, actions: dict) -> dict:
    return res(stack, SCHEDULED_QUERY_RULE, "sqr-cron-failures", {
        "resourceGroupName": "rg-acme-prod-weu-mgmt", "location": "westeurope", "severity": 2, "enabled": True,
        "scopes": [f"{SUB}/rg-acme-prod-weu-mgmt/providers/Microsoft.OperationalInsights/workspaces/log-acme-prod-weu"],
        "criteria": {"allOf": [{"query": "ContainerLogV2 | where LogMessage has 'odoo.addons.base.models.ir_cron'", "timeAggregation": "Count",
                                "operator": "GreaterThan", "threshold": 0}]}, "actions": actions})


def prometheus_rule_group(stack: str, rules: list) -> dict:
    return res(stack, PROMETHEUS_RULE_GROUP, "prg-odoo", {
        "resourceGroupName": "rg-acme-prod-weu-mgmt", "location": "westeurope", "enabled": True, "rules": rules,
        "scopes": [f"{SUB}/rg-acme-prod-weu-mgmt/providers/Microsoft.Monitor/accounts/amw-acme-prod-weu"]})


ALERT_RULE = {"alert": "OdooWebPodsNotReady", "expression": "kube_deployment_status_replicas_ready == 0", "severity": 1,
              "actions": [{"actionGroupId": ACTION_GROUP_ID}]}
RECORDING_RULE = {"record": "odoo:http_requests:error_ratio_5m", "expression": "sum(rate(traefik_service_requests_total{code=~'5..'}[5m]))"}


def compliant_stack(stack: str = "prod") -> list[dict]:
    targets = [target(stack, type_, f"{type_.rsplit(':', 1)[-1].lower()}-acme") for type_ in EXPECTED_BASELINE]
    return [
        *targets,
        *(baseline_alert(stack, r) for r in targets),
        activity_log_alert(stack, [{"actionGroupId": ACTION_GROUP_ID}]),
        scheduled_query_rule(stack, {"actionGroups": [ACTION_GROUP_ID]}),
        prometheus_rule_group(stack, [ALERT_RULE, RECORDING_RULE]),
    ]


OPTS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def policy_resources(entries: list[dict]) -> list[PolicyResource]:
    """As the SDK builds them for AnalyzeStack: proxied props, dependencies and property dependencies as resources."""
    made = {e["urn"]: PolicyResource(e["type"], unknown_checking_proxy(json.loads(json.dumps(e["inputs"]))), e["urn"], e["name"],
                                     OPTS, None, None, [], {}) for e in entries}
    for e in entries:
        r = made[e["urn"]]
        r.dependencies.extend(made[d] for d in e["dependencies"] if d in made)
        r.property_dependencies.update({k: [made[d] for d in v if d in made] for k, v in e["propertyDependencies"].items()})
    return list(made.values())


def violations(entries: list[dict], config=None) -> list[tuple[str, str]]:
    found = []
    POLICY.validate(StackValidationArgs(policy_resources(entries), config or {}), lambda message, urn=None: found.append((message, urn)))
    return found


def by_urn(found) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for message, u in found:
        grouped.setdefault(u, []).append(message)
    return grouped


# The baseline table

def test_baseline_is_the_agreed_table():
    assert {t: (arm, key, list(metrics)) for t, (arm, key, metrics) in observability.BASELINE.items()} == EXPECTED_BASELINE


@pytest.mark.skipif(not os.path.isfile(CATALOGUE), reason="../shared/vendor/azure-monitor is not beside the repository")
def test_baseline_metrics_are_in_azure_monitors_catalogue():
    with open(CATALOGUE, encoding="utf-8") as f:
        catalogue = json.load(f)
    unknown = {arm: [m for m in metrics if m not in catalogue.get(arm.lower(), {})] for arm, _, metrics in observability.BASELINE.values()}
    assert {arm: missing for arm, missing in unknown.items() if missing} == {}


def test_ids_the_policy_builds_are_the_ids_the_mocks_give():
    """The offline preview's alerts carry mock ids in `scopes`: the policy must recognise them."""
    for type_ in observability.BASELINE:
        r = target("prod", type_, "x-acme")
        mock_id = arm_id(type_, r["name"], r["inputs"])
        assert mock_id == resource_id(r), type_
        assert violations([r, metric_alert("prod", "ma", [mock_id], EXPECTED_BASELINE[type_][2])]) == [], type_


# Compliant

def test_compliant_stack_direct():
    assert violations(compliant_stack()) == []


def test_metrics_may_be_spread_over_alerts_and_ids_compared_without_case():
    server = target("prod", PG, "psql-acme")
    metrics = EXPECTED_BASELINE[PG][2]
    alerts = [metric_alert("prod", "ma-1", [resource_id(server).upper()], metrics[:3]),
              metric_alert("prod", "ma-2", [resource_id(server)], metrics[3:], namespace="microsoft.dbforpostgresql/FLEXIBLESERVERS",
                           odata="Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria")]
    assert violations([server, *alerts]) == []


def test_prometheus_recording_rules_need_no_action_group():
    assert violations([prometheus_rule_group("prod", [RECORDING_RULE, ALERT_RULE])]) == []
    [(message, _)] = violations([prometheus_rule_group("prod", [RECORDING_RULE, {**ALERT_RULE, "actions": []}])])
    assert message.endswith("alert rules without an action group: OdooWebPodsNotReady")


# Violating: coverage

def test_every_alertable_type_without_alerts_is_reported_with_all_its_metrics():
    targets = [target("prod", type_, f"r{i}") for i, type_ in enumerate(EXPECTED_BASELINE)]
    found = by_urn(violations(targets))
    assert set(found) == {t["urn"] for t in targets}
    for t in targets:
        [message] = found[t["urn"]]
        assert message == f"{t['type']} {t['name']!r} has no enabled metric alert scoped to it for: {', '.join(EXPECTED_BASELINE[t['type']][2])}"


def test_only_some_baseline_metrics_names_the_missing_ones_in_one_violation():
    server = target("prod", PG, "psql-acme")
    found = violations([server, metric_alert("prod", "ma", [resource_id(server)], ["cpu_percent", "storage_percent"])])
    assert found == [(f"{PG} 'psql-acme' has no enabled metric alert scoped to it for: "
                      "memory_percent, is_db_alive, active_connections, maximum_used_transactionIDs", server["urn"])]


def test_a_disabled_alert_does_not_count():
    vault = target("prod", VAULT, "kv-acme")
    assert violations([vault, baseline_alert("prod", vault, enabled=True)]) == []
    assert violations([vault, baseline_alert("prod", vault, enabled=False)]) == [
        (f"{VAULT} 'kv-acme' has no enabled metric alert scoped to it for: Availability", vault["urn"])]


def test_an_alert_scoped_to_another_resource_covers_only_that_one():
    watched, unwatched = target("prod", VAULT, "kv-acme"), target("prod", VAULT, "kv-acme-dr")
    same_name_other_group = dict(unwatched, inputs={**unwatched["inputs"], "resourceGroupName": "rg-other"})
    found = violations([watched, unwatched, baseline_alert("prod", watched)])
    assert [u for _, u in found] == [unwatched["urn"]]
    # The same vault name in another resource group is another resource.
    alert = metric_alert("prod", "ma", [resource_id(same_name_other_group)], ["Availability"])
    assert [u for _, u in violations([target("prod", VAULT, "kv-acme-dr"), alert])] == [unwatched["urn"]]


def test_a_metric_of_another_namespace_does_not_count():
    account = target("prod", T + "storage:StorageAccount", "stacmeprod")
    blob_level = metric_alert("prod", "ma", [resource_id(account)], ["Availability"], namespace="Microsoft.Storage/storageAccounts/blobServices")
    assert [u for _, u in violations([account, blob_level])] == [account["urn"]]
    child_scope = metric_alert("prod", "ma", [resource_id(account) + "/blobServices/default"], ["Availability"])
    assert [u for _, u in violations([account, child_scope])] == [account["urn"]]


# Violating: action groups

NO_ACTION_GROUP = [
    ("metric alert, no actions", lambda: metric_alert("prod", "ma", [f"{SUB}/{GROUP}/providers/Microsoft.Network/natGateways/ng"], ["DatapathAvailability"], actions=[])),
    ("metric alert, empty id", lambda: metric_alert("prod", "ma", [f"{SUB}/{GROUP}/providers/Microsoft.Network/natGateways/ng"], ["DatapathAvailability"],
                                                    actions=[{"actionGroupId": ""}])),
    ("activity log alert", lambda: activity_log_alert("prod", [])),
    ("scheduled query rule", lambda: scheduled_query_rule("prod", {"customProperties": {"runbook": "https://example.com"}})),
    ("prometheus alert rule", lambda: prometheus_rule_group("prod", [RECORDING_RULE, {**ALERT_RULE, "actions": [{"actionProperties": {}}]}])),
]


@pytest.mark.parametrize("make", [m for _, m in NO_ACTION_GROUP], ids=[i for i, _ in NO_ACTION_GROUP])
def test_an_alert_without_action_group_is_reported(make):
    alert = make()
    [(message, u)] = violations([alert])
    assert u == alert["urn"]
    assert message.startswith(f"{alert['type']} {alert['name']!r} has ")
    assert "without an action group: OdooWebPodsNotReady" in message if alert["type"] == PROMETHEUS_RULE_GROUP else message.endswith("has no action group")


def test_one_violation_per_resource_for_coverage_and_action_groups_together():
    server, vault = target("prod", PG, "psql-acme"), target("prod", VAULT, "kv-acme")
    silent = baseline_alert("prod", vault, actions=[])
    found = by_urn(violations([server, vault, silent, activity_log_alert("prod", [])]))
    assert sorted(len(m) for m in found.values()) == [1, 1, 1]
    assert set(found) == {server["urn"], silent["urn"], urn("prod", ACTIVITY_LOG_ALERT, "ala-service-health")}


# Unknown values (a real `pulumi preview`)

def unknown_target(name: str) -> dict:
    """A resource whose id is not known yet: its resource group is created in the same update."""
    r = target("prod", PG, name)
    return dict(r, inputs={**r["inputs"], "resourceGroupName": UNKNOWN_STRING_VALUE})


def unknown_alert(name: str, depends_on: dict, whole_list: bool = False, property_dependencies: bool = True, also_depends_on=()) -> dict:
    """A metric alert on `depends_on` whose scopes, enabled flag and action group id are all unknown."""
    scopes = UNKNOWN_ARRAY_VALUE if whole_list else [UNKNOWN_STRING_VALUE]
    return metric_alert("prod", name, scopes, EXPECTED_BASELINE[PG][2], enabled=UNKNOWN_BOOLEAN_VALUE, actions=[{"actionGroupId": UNKNOWN_STRING_VALUE}],
                        dependencies=[depends_on["urn"], *(d["urn"] for d in also_depends_on), urn("prod", T + "monitor:ActionGroup", "ag")],
                        property_dependencies={"scopes": [depends_on["urn"]]} if property_dependencies else None)


@pytest.mark.parametrize("whole_list", [False, True], ids=["unknown-element", "unknown-list"])
def test_unknown_scopes_match_through_property_dependencies(whole_list):
    server = unknown_target("psql-acme")
    assert violations([server, unknown_alert("ma", server, whole_list)]) == []


def test_unknown_scopes_depending_on_another_resource_do_not_cover():
    server, other = unknown_target("psql-acme"), unknown_target("psql-acme-dr")
    found = violations([server, other, unknown_alert("ma", other, also_depends_on=[server])])  # depends on server, but not its scopes
    assert [u for _, u in found] == [server["urn"]]


def test_without_property_dependencies_the_alerts_dependencies_decide():
    server, other = unknown_target("psql-acme"), unknown_target("psql-acme-dr")
    assert [u for _, u in violations([server, other, unknown_alert("ma", other, property_dependencies=False)])] == [server["urn"]]


def test_known_scopes_ignore_property_dependencies():
    """A known scope is compared by id; the property dependencies of a known list cannot add a resource."""
    server, other = target("prod", PG, "psql-acme"), target("prod", PG, "psql-acme-dr")
    alert = metric_alert("prod", "ma", [resource_id(other)], EXPECTED_BASELINE[PG][2], property_dependencies={"scopes": [server["urn"], other["urn"]]})
    assert [u for _, u in violations([server, other, alert])] == [server["urn"]]


# Tiers

def test_non_production_is_not_applicable_and_the_tier_can_be_overridden():
    bare = [target("dev", VAULT, "kv-acme")]
    with pytest.raises(_NotApplicableError) as raised:
        violations(bare)
    assert raised.value.reason == "applies to production stacks only"
    assert [u for _, u in violations(bare, {"tier": "production"})] == [bare[0]["urn"]]
    assert len(violations([target("prod-civil", VAULT, "kv-civil")])) == 1


# Through the pack's gRPC protocol

@pytest.fixture(scope="module")
def pack():
    with PolicyPack(POLICY_DIR) as running:
        yield running


def analyze_stack(pack, stack: str, entries: list[dict]):
    """AnalyzeStack as the CLI sends it in a preview, property dependencies and unknowns included."""
    PolicyPack.configure(pack.stub, "odoo-platform", stack)
    request = analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(
            type=e["type"], urn=e["urn"], name=e["name"], properties=_struct(e["inputs"]), dependencies=e["dependencies"],
            propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v) for k, v in e["propertyDependencies"].items()},
        ) for e in entries
    ])
    return pack.stub.AnalyzeStack(request)


def test_the_pack_registers_the_policy_with_its_metadata(pack):
    [info] = [p for p in pack.info().policies if p.name == POLICY_NAME]
    assert info.enforcementLevel == analyzer_pb2.MANDATORY
    assert info.policy_type == analyzer_pb2.POLICY_TYPE_STACK and info.severity == analyzer_pb2.POLICY_SEVERITY_HIGH and RULE.severity is Severity.HIGH
    assert info.framework.name == "Microsoft cloud security benchmark" and info.framework.reference == "IR-2"
    assert info.remediation_steps and info.url.startswith("https://")
    assert POLICY.enforcement_level is EnforcementLevel.MANDATORY


def test_compliant_and_violating_stacks_through_the_runner(pack):
    result = pack.analyze(compliant_stack(), "odoo-platform", "prod")
    assert [v for v in result.violations if v.policy == POLICY_NAME] == []
    stack = [e for e in compliant_stack() if e["name"] != "ma-server-acme"]
    [violation] = [v for v in pack.analyze(stack, "odoo-platform", "prod").violations if v.policy == POLICY_NAME]
    assert violation.level == "mandatory" and violation.urn == urn("prod", PG, "server-acme")
    assert violation.message.endswith(f"{PG} 'server-acme' has no enabled metric alert scoped to it for: {', '.join(EXPECTED_BASELINE[PG][2])}")


def test_unknown_ids_through_grpc(pack):
    server, other = unknown_target("psql-acme"), unknown_target("psql-acme-dr")
    response = analyze_stack(pack, "prod", [server, unknown_alert("ma", server)])
    assert [d for d in response.diagnostics if d.policyName == POLICY_NAME] == []
    response = analyze_stack(pack, "prod", [server, other, unknown_alert("ma", other, also_depends_on=[server])])
    assert [(d.urn, d.enforcementLevel) for d in response.diagnostics if d.policyName == POLICY_NAME] == [(server["urn"], analyzer_pb2.MANDATORY)]


def test_non_production_is_not_applicable_through_grpc(pack):
    response = analyze_stack(pack, "dev", [target("dev", VAULT, "kv-acme")])
    assert [d for d in response.diagnostics if d.policyName == POLICY_NAME] == []
    assert [(n.policy_name, n.reason) for n in response.not_applicable if n.policy_name == POLICY_NAME] == [
        (POLICY_NAME, "applies to production stacks only")]
