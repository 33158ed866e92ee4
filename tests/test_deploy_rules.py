"""Deployment rules: both shipped stacks pass every rule, and each rule catches the defect it encodes.

Violating cases are the real plans with one behaviour broken the way the defect looked (or would look)."""
import copy
import json

import pytest

from tools import deploy_rules
from tools.deploy_rules import Plan, arm_type, check, image_registry, nsg_admits
from tools.plan import build_plan
from tools.preview import run_stack, stack_settings

AZURE = "azure-native:"


@pytest.fixture(scope="session")
def plans(dev, prod):
    return {"dev": build_plan(dev)["resources"], "prod": build_plan(prod)["resources"]}


def test_shipped_stacks_pass_every_rule(plans):
    assert len(deploy_rules.RULES) == 12
    for stack, resources in plans.items():
        assert check(resources) == [], stack


def first(resources, type_, name=None):
    return next(r for r in resources if r["type"] == type_ and (name is None or r["name"] == name))


def drop_dependency(resources, type_, name, on_type):
    """Forget that `name` waits for anything of `on_type` (and for components, which stand for their children)."""
    r = first(resources, type_, name)
    types = {x["urn"]: x["type"] for x in resources}
    r["dependencies"] = [d for d in r["dependencies"] if types.get(d) != on_type and types.get(d, "").startswith(("azure-native:", "random:", "kubernetes:"))]


def parallel_postgres_parameter(rs):
    drop_dependency(rs, AZURE + "dbforpostgresql:Configuration", "psql-max-connections", AZURE + "dbforpostgresql:Configuration")


def parallel_database(rs):
    drop_dependency(rs, AZURE + "dbforpostgresql:Database", "db-gc-qa", AZURE + "dbforpostgresql:Database")


def parallel_replica(rs):
    drop_dependency(rs, AZURE + "dbforpostgresql:Server", "psql-replica", AZURE + "dbforpostgresql:Database")


def parallel_pools(rs):
    drop_dependency(rs, AZURE + "containerservice:AgentPool", "pool-jobs", AZURE + "containerservice:AgentPool")


def parallel_maintenance(rs):
    drop_dependency(rs, AZURE + "containerservice:MaintenanceConfiguration", "aks-aksManagedNodeOSUpgradeSchedule", AZURE + "containerservice:MaintenanceConfiguration")


def all_metrics_on_blob_service(rs):
    first(rs, AZURE + "monitor:DiagnosticSetting", "st-blob-diag")["inputs"]["metrics"] = [{"category": "AllMetrics", "enabled": True}]


def metrics_on_nsg(rs):
    first(rs, AZURE + "monitor:DiagnosticSetting", "nsg-aks-user-diag")["inputs"]["metrics"] = [{"category": "AllMetrics", "enabled": True}]


def unknown_log_category(rs):
    first(rs, AZURE + "monitor:DiagnosticSetting", "kv-diag")["inputs"]["logs"] = [{"category": "AuditEvents", "enabled": True}]


def ingress_on_user_subnet(rs):
    """The defect as shipped: 80/443 open on the user pools' subnet while Traefik runs on the system pool."""
    for nsg in (first(rs, AZURE + "network:NetworkSecurityGroup", f"nsg-{p}") for p in ("aks-system", "aks-user")):
        nsg["inputs"]["securityRules"] = [r for r in nsg["inputs"]["securityRules"] if r["sourceAddressPrefix"] != "Internet"]
    user = first(rs, AZURE + "network:NetworkSecurityGroup", "nsg-aks-user")
    user["inputs"]["securityRules"].insert(0, {"name": "allow-internet-https", "priority": 1100, "direction": "Inbound", "access": "Allow",
                                               "protocol": "Tcp", "sourceAddressPrefix": "Internet", "destinationPortRange": "443"})


def ingress_on_a_pool_nobody_has(rs):
    first(rs, "kubernetes:helm.sh/v3:Release", "traefik")["inputs"]["values"]["nodeSelector"] = {"workload-class": "edge"}


def no_acr_pull(rs):
    rs[:] = [r for r in rs if not (r["type"] == AZURE + "authorization:RoleAssignment" and r["name"] == "kubelet-acr-pull-role")]


def image_from_docker_hub(rs):
    job = next(r for r in rs if r["type"] == "kubernetes:batch/v1:Job")
    job["inputs"]["spec"]["template"]["spec"]["containers"][0]["image"] = "postgres:16-alpine"


def chart_from_upstream(rs):
    first(rs, "kubernetes:helm.sh/v3:Release", "cert-manager")["inputs"]["values"].pop("imageRegistry")


def named_service_account(rs):
    """The defect as shipped: Traefik 41.3.0 creates no ServiceAccount once serviceAccount.name is set."""
    first(rs, "kubernetes:helm.sh/v3:Release", "traefik")["inputs"]["values"]["serviceAccount"] = {"name": "traefik"}


def missing_tenant_service_account(rs):
    rs[:] = [r for r in rs if not (r["type"] == "kubernetes:core/v1:ServiceAccount" and r["inputs"]["metadata"]["namespace"] == "odoo-gc-prod")]


def one_way_peering(rs):
    rs[:] = [r for r in rs if r["name"] != "peer-dr-to-primary"]


def network_group_locked(rs):
    lock = copy.deepcopy(first(rs, AZURE + "authorization:ManagementLockByScope", "rg-data-lock"))
    lock["name"], lock["urn"] = "rg-network-lock", lock["urn"].replace("rg-data-lock", "rg-network-lock")
    lock["inputs"]["scope"] = lock["inputs"]["scope"].replace("-data", "-network")
    rs.append(lock)


def zone_locked(rs):
    server = first(rs, AZURE + "dbforpostgresql:Server", "psql")
    lock = copy.deepcopy(first(rs, AZURE + "authorization:ManagementLockByScope", "psql-lock"))
    lock["urn"] = lock["urn"].replace("::psql-lock", "::psql-zone-lock")
    lock["inputs"]["scope"] = server["inputs"]["network"]["privateDnsZoneArmResourceId"]
    rs.append(lock)


def fixed_secret_name(rs):
    drop_dependency(rs, AZURE + "keyvault:Secret", "kv-pg-admin-password", "random:index/randomId:RandomId")


def fixed_vault_name(rs):
    drop_dependency(rs, AZURE + "keyvault:Vault", "kv", "random:index/randomId:RandomId")


def cron_replicas_owned_twice(rs):
    """Pulumi managing a scaled Deployment itself (Flux owns Odoo's; a platform add-on could) without ignoring replicas."""
    job = first(rs, "kubernetes:batch/v1:Job", "bootstrap-gc-dev")
    meta = {"name": "gc-qa-cron", "namespace": "odoo-gc-qa"}
    urn = job["urn"].rsplit("::", 1)[0]
    rs.append({**job, "urn": urn.replace("batch/v1:Job", "apps/v1:Deployment") + "::gc-qa-cron", "type": "kubernetes:apps/v1:Deployment", "name": "gc-qa-cron",
               "ignoreChanges": [], "inputs": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {"replicas": 1}}})
    rs.append({**job, "urn": urn.replace("batch/v1:Job", "keda.sh/v1alpha1:ScaledObject") + "::gc-qa-cron-scaler", "type": "kubernetes:keda.sh/v1alpha1:ScaledObject",
               "name": "gc-qa-cron-scaler", "inputs": {"metadata": meta, "spec": {"scaleTargetRef": {"name": "gc-qa-cron"}}}})


def job_before_its_grant(rs):
    drop_dependency(rs, "kubernetes:batch/v1:Job", "bootstrap-gc-dev", AZURE + "authorization:RoleAssignment")


def odoo_before_its_grants(rs):
    for carrier in (AZURE + "authorization:RoleAssignment", "kubernetes:batch/v1:Job"):
        drop_dependency(rs, "kubernetes:batch/v1:Job", "gc-prod-init", carrier)


def no_deployer_role(rs):
    rs[:] = [r for r in rs if r["name"] != "aks-deployer-role"]


VIOLATIONS = [
    ("dev", parallel_postgres_parameter, "serial-postgres-operations", "psql-max-connections"),
    ("dev", parallel_database, "serial-postgres-operations", "db-gc-qa"),
    ("prod", parallel_replica, "serial-postgres-operations", "psql-replica"),
    ("dev", parallel_pools, "serial-aks-operations", "pool-jobs"),
    ("prod", parallel_maintenance, "serial-aks-operations", "aks-aksManagedNodeOSUpgradeSchedule"),
    ("dev", all_metrics_on_blob_service, "diagnostic-categories", "st-blob-diag"),
    ("dev", metrics_on_nsg, "diagnostic-categories", "nsg-aks-user-diag"),
    ("prod", unknown_log_category, "diagnostic-categories", "kv-diag"),
    ("dev", ingress_on_user_subnet, "ingress-nsg", "traefik"),
    ("prod", ingress_on_a_pool_nobody_has, "ingress-nsg", "traefik"),
    ("dev", no_acr_pull, "image-pull", "traefik"),
    ("prod", image_from_docker_hub, "image-pull", "bootstrap-gc-prod"),
    ("dev", chart_from_upstream, "image-pull", "cert-manager"),
    ("prod", named_service_account, "service-account-exists", "traefik"),
    ("prod", missing_tenant_service_account, "service-account-exists", "gc-prod-init"),
    ("prod", one_way_peering, "dr-peering", "psql-replica"),
    ("prod", network_group_locked, "no-lock-over-ha-dns", "rg-network-lock"),
    ("prod", zone_locked, "no-lock-over-ha-dns", "psql-zone-lock"),
    ("prod", fixed_secret_name, "no-soft-deleted-name-reuse", "kv-pg-admin-password"),
    ("dev", fixed_vault_name, "no-soft-deleted-name-reuse", "kv"),
    ("dev", cron_replicas_owned_twice, "replicas-owned-by-autoscaler", "gc-qa-cron"),
    ("dev", job_before_its_grant, "pod-inputs-ready", "bootstrap-gc-dev"),
    ("prod", odoo_before_its_grants, "pod-inputs-ready", "gc-prod-init"),
    ("prod", no_deployer_role, "deployer-cluster-access", "aks"),
]


@pytest.mark.parametrize("stack,mutate,rule,resource", VIOLATIONS, ids=[v[1].__name__ for v in VIOLATIONS])
def test_rule_catches_the_defect(plans, stack, mutate, rule, resource):
    resources = copy.deepcopy(plans[stack])
    mutate(resources)
    findings = check(resources)
    assert any(f.rule == rule and f.urn.endswith(f"::{resource}") for f in findings), [f.line() for f in findings]


def test_every_rule_has_a_violating_case():
    assert {v[2] for v in VIOLATIONS} == set(deploy_rules.RULES)


def test_production_vault_keeps_its_name(plans):
    """Purge protection makes a production vault's name unusable for 90 days after deletion, on purpose."""
    vault = first(plans["prod"], AZURE + "keyvault:Vault")
    assert vault["inputs"]["vaultName"] == "kv-acme-prod-weu" and not deploy_rules._generated(Plan(plans["prod"]), vault)


@pytest.mark.parametrize("resource_id,expected", [
    ("/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/st/blobServices/default", "Microsoft.Storage/storageAccounts/blobServices"),
    ("/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv", "Microsoft.KeyVault/vaults"),
    ("/subscriptions/s/resourceGroups/g/providers/Microsoft.Cache/redisEnterprise/r/providers/Microsoft.Insights/diagnosticSettings/d", "Microsoft.Insights/diagnosticSettings"),
])
def test_arm_type(resource_id, expected):
    assert arm_type(resource_id) == expected


@pytest.mark.parametrize("image,registry", [
    ("postgres:16", "docker.io"), ("library/postgres", "docker.io"), ("cr.azurecr.io/odoo@sha256:00", "cr.azurecr.io"),
    ("localhost:5000/x", "localhost:5000"), ("quay.io/jetstack/cert-manager-controller", "quay.io"),
])
def test_image_registry(image, registry):
    assert image_registry(image) == registry


def test_nsg_admits_in_priority_order():
    rule = {"direction": "Inbound", "sourceAddressPrefix": "Internet", "destinationPortRange": "443"}
    deny = {**rule, "access": "Deny", "priority": 100, "sourceAddressPrefix": "*", "destinationPortRange": "*"}
    allow = {**rule, "access": "Allow", "priority": 200}
    assert not nsg_admits({"inputs": {"securityRules": [deny, allow]}}, {"Internet"}, 443)
    assert nsg_admits({"inputs": {"securityRules": [{**allow, "priority": 50}, deny]}}, {"Internet"}, 443)
    assert not nsg_admits({"inputs": {"securityRules": [{**allow, "priority": 50}, deny]}}, {"Internet"}, 80)


def test_the_program_yields_identical_inputs_when_run_again(plans):
    """No perpetual diff: list orderings, timestamps and random values are the same on a second run of the same
    config. (Registration order may differ between runs; the engine diffs each resource by URN, not the order.)"""
    again = build_plan(run_stack("dev", stack_settings("dev")))["resources"]

    def by_urn(resources):
        return {r["urn"]: json.dumps(r, sort_keys=True) for r in resources}

    assert by_urn(again) == by_urn(plans["dev"])
