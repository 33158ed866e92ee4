"""Every policy of the pack with a compliant and a violating case, through the Analyzer gRPC protocol the CLI uses."""
import copy
import importlib
import os
import re
from collections import defaultdict

import pytest

from tools.policy_runner import LEVEL_NAMES, PolicyPack
from tools.preview import POLICY_DIR

TAGS = {"owner": "o@example.com", "cost-center": "1", "data-classification": "internal", "environment": "production"}
LOCATION = {"location": "westeurope", "tags": TAGS}
SUB = "/subscriptions/s/resourceGroups/rg-data/providers"

ACCOUNT = {
    **LOCATION, "accountName": "stacme", "resourceGroupName": "rg-data", "kind": "StorageV2", "sku": {"name": "Standard_RAGZRS"},
    "minimumTlsVersion": "TLS1_2", "enableHttpsTrafficOnly": True, "allowBlobPublicAccess": False, "allowSharedKeyAccess": False,
    "networkRuleSet": {"defaultAction": "Deny"}, "publicNetworkAccess": "Disabled", "allowCrossTenantReplication": False, "accessTier": "Hot",
}
BLOB_SERVICE = {
    "accountName": "stacme", "isVersioningEnabled": True, "changeFeed": {"enabled": True},
    "deleteRetentionPolicy": {"enabled": True, "days": 30}, "containerDeleteRetentionPolicy": {"enabled": True, "days": 30},
}
SERVER = {
    **LOCATION, "serverName": "psql", "resourceGroupName": "rg-data", "version": "16", "network": {"publicNetworkAccess": "Disabled"},
    "authConfig": {"activeDirectoryAuth": "Enabled"}, "highAvailability": {"mode": "ZoneRedundant"},
    "backup": {"geoRedundantBackup": "Enabled", "backupRetentionDays": 35}, "sku": {"name": "Standard_D4ds_v5", "tier": "GeneralPurpose"},
}
AMR = {**LOCATION, "clusterName": "redis", "resourceGroupName": "rg-data", "minimumTlsVersion": "1.2", "publicNetworkAccess": "Disabled", "highAvailability": "Enabled", "sku": {"name": "Balanced_B5"}}
AMR_DB = {"clusterName": "redis", "clientProtocol": "Encrypted", "port": 10000, "persistence": {"aofEnabled": True}}
LEGACY = {**LOCATION, "name": "cache", "minimumTlsVersion": "1.2", "publicNetworkAccess": "Disabled", "enableNonSslPort": False, "sku": {"name": "Premium", "family": "P"}, "zones": ["1", "2"]}
VAULT = {
    **LOCATION, "vaultName": "kv", "resourceGroupName": "rg-mgmt",
    "properties": {"enablePurgeProtection": True, "enableSoftDelete": True, "softDeleteRetentionInDays": 90, "enableRbacAuthorization": True,
                   "networkAcls": {"defaultAction": "Deny"}, "publicNetworkAccess": "Disabled"},
}
POOL_PROFILE = {"name": "system", "mode": "System", "minCount": 3, "availabilityZones": ["1", "2", "3"], "enableEncryptionAtHost": True}
CLUSTER = {
    **LOCATION, "resourceName": "aks", "resourceGroupName": "rg-compute", "kubernetesVersion": "1.34", "enableRBAC": True, "disableLocalAccounts": True,
    "aadProfile": {"managed": True, "enableAzureRBAC": True}, "networkProfile": {"networkPolicy": "cilium"},
    "apiServerAccessProfile": {"enablePrivateCluster": True}, "oidcIssuerProfile": {"enabled": True},
    "securityProfile": {"workloadIdentity": {"enabled": True}, "defender": {"securityMonitoring": {"enabled": True}}},
    "addonProfiles": {"omsagent": {"enabled": True}, "azureKeyvaultSecretsProvider": {"enabled": True, "config": {"enableSecretRotation": "true"}}},
    "azureMonitorProfile": {"metrics": {"enabled": True}}, "sku": {"tier": "Standard"}, "agentPoolProfiles": [POOL_PROFILE],
}
AGENT_POOL = {"agentPoolName": "web", "orchestratorVersion": "1.34", "availabilityZones": ["1", "2", "3"], "enableEncryptionAtHost": True}
DENY_ALL = {"name": "deny-all-inbound", "direction": "Inbound", "access": "Deny", "sourceAddressPrefix": "*", "destinationPortRange": "*", "priority": 4096}
NSG = {**LOCATION, "securityRules": [{"name": "https", "direction": "Inbound", "access": "Allow", "sourceAddressPrefix": "Internet", "destinationPortRange": "443"}, DENY_ALL]}
DIGEST = "cracmedevweu.azurecr.io/odoo@sha256:" + "a" * 64
CONTAINER = {
    "name": "odoo", "image": DIGEST, "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 101},
    "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
}
DEPLOYMENT = {"metadata": {"name": "web", "namespace": "odoo-gc-dev"}, "spec": {"template": {"spec": {"containers": [CONTAINER]}}}}


def changed(base: dict, path: str, value) -> dict:
    """A deep copy of `base` with `path` (dotted, list indexes as numbers) set to `value`, or removed when value is DELETE."""
    result = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = result
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return result


DELETE = object()
T = "azure-native:"
K = "kubernetes:"

# (policy, stack, type, compliant inputs, violating inputs)
RESOURCE_CASES = [
    ("storage-minimum-tls", "dev", T + "storage:StorageAccount", ACCOUNT, changed(ACCOUNT, "minimumTlsVersion", "TLS1_0")),
    ("storage-https-only", "dev", T + "storage:StorageAccount", ACCOUNT, changed(ACCOUNT, "enableHttpsTrafficOnly", False)),
    ("storage-no-public-blob-access", "dev", T + "storage:StorageAccount", ACCOUNT, changed(ACCOUNT, "allowBlobPublicAccess", True)),
    ("storage-no-shared-key", "dev", T + "storage:StorageAccount", ACCOUNT, changed(ACCOUNT, "allowSharedKeyAccess", True)),
    ("storage-network-deny-by-default", "dev", T + "storage:StorageAccount", ACCOUNT, changed(ACCOUNT, "networkRuleSet.defaultAction", "Allow")),
    ("storage-no-cross-tenant-replication", "dev", T + "storage:StorageAccount", ACCOUNT, changed(ACCOUNT, "allowCrossTenantReplication", True)),
    ("storage-geo-redundant", "prod", T + "storage:StorageAccount", ACCOUNT, changed(ACCOUNT, "sku.name", "Standard_LRS")),
    ("storage-access-tier-hot-or-cool", "prod", T + "storage:StorageAccount", ACCOUNT, changed(ACCOUNT, "accessTier", "Premium")),
    ("storage-access-tier-hot-or-cool-nonprod", "dev", T + "storage:StorageAccount", ACCOUNT, changed(ACCOUNT, "accessTier", "Premium")),
    ("blob-soft-delete", "prod", T + "storage:BlobServiceProperties", BLOB_SERVICE, changed(BLOB_SERVICE, "deleteRetentionPolicy.days", 7)),
    ("blob-soft-delete-nonprod", "dev", T + "storage:BlobServiceProperties", changed(BLOB_SERVICE, "deleteRetentionPolicy.days", 7),
     changed(BLOB_SERVICE, "containerDeleteRetentionPolicy.enabled", False)),
    ("blob-versioning", "prod", T + "storage:BlobServiceProperties", BLOB_SERVICE, changed(BLOB_SERVICE, "isVersioningEnabled", False)),
    ("blob-container-private", "dev", T + "storage:BlobContainer", {"containerName": "gc-dev", "publicAccess": "None"}, {"containerName": "gc-dev", "publicAccess": "Blob"}),
    ("postgres-supported-version", "dev", T + "dbforpostgresql:Server", SERVER, changed(SERVER, "version", "13")),
    ("postgres-private-access", "dev", T + "dbforpostgresql:Server", SERVER, changed(SERVER, "network.publicNetworkAccess", "Enabled")),
    ("postgres-entra-authentication", "dev", T + "dbforpostgresql:Server", SERVER, changed(SERVER, "authConfig.activeDirectoryAuth", "Disabled")),
    ("postgres-high-availability", "prod", T + "dbforpostgresql:Server", SERVER, changed(SERVER, "highAvailability.mode", "SameZone")),
    ("postgres-geo-redundant-backup", "prod", T + "dbforpostgresql:Server", SERVER, changed(SERVER, "backup.geoRedundantBackup", "Disabled")),
    ("postgres-backup-retention", "prod", T + "dbforpostgresql:Server", SERVER, changed(SERVER, "backup.backupRetentionDays", 14)),
    ("postgres-backup-retention-nonprod", "dev", T + "dbforpostgresql:Server", changed(SERVER, "backup.backupRetentionDays", 7), changed(SERVER, "backup.backupRetentionDays", 3)),
    ("postgres-production-sku", "prod", T + "dbforpostgresql:Server", SERVER, changed(SERVER, "sku.tier", "Burstable")),
    ("postgres-no-open-firewall", "dev", T + "dbforpostgresql:FirewallRule", {"startIpAddress": "203.0.113.0", "endIpAddress": "203.0.113.15"},
     {"startIpAddress": "0.0.0.0", "endIpAddress": "255.255.255.255"}),
    ("postgres-secure-transport", "dev", T + "dbforpostgresql:Configuration", {"configurationName": "require_secure_transport", "value": "on"},
     {"configurationName": "require_secure_transport", "value": "off"}),
    ("redis-minimum-tls", "dev", T + "redisenterprise:RedisEnterprise", AMR, changed(AMR, "minimumTlsVersion", "1.0")),
    ("redis-no-public-access", "dev", T + "redisenterprise:RedisEnterprise", AMR, changed(AMR, "publicNetworkAccess", "Enabled")),
    ("redis-encrypted-client-protocol", "dev", T + "redisenterprise:Database", AMR_DB, changed(AMR_DB, "clientProtocol", "Plaintext")),
    ("redis-high-availability", "prod", T + "redisenterprise:RedisEnterprise", AMR, changed(AMR, "highAvailability", "Disabled")),
    ("redis-persistence", "prod", T + "redisenterprise:Database", AMR_DB, changed(AMR_DB, "persistence", {"aofEnabled": False})),
    ("redis-production-sku", "prod", T + "redis:Redis", LEGACY, changed(LEGACY, "sku.name", "Basic")),
    ("redis-retiring-service", "prod", T + "redisenterprise:RedisEnterprise", AMR, None),
    ("redis-retiring-service-nonprod", "dev", T + "redisenterprise:RedisEnterprise", AMR, None),
    ("keyvault-purge-protection", "dev", T + "keyvault:Vault", VAULT, changed(VAULT, "properties.enablePurgeProtection", False)),
    ("keyvault-soft-delete", "dev", T + "keyvault:Vault", VAULT, changed(VAULT, "properties.softDeleteRetentionInDays", 7)),
    ("keyvault-rbac-authorization", "dev", T + "keyvault:Vault", VAULT, changed(VAULT, "properties.enableRbacAuthorization", False)),
    ("keyvault-firewall", "dev", T + "keyvault:Vault", VAULT, changed(VAULT, "properties.networkAcls.defaultAction", "Allow")),
    ("keyvault-private-in-production", "prod", T + "keyvault:Vault", VAULT, changed(VAULT, "properties.publicNetworkAccess", "Enabled")),
    ("aks-rbac", "dev", T + "containerservice:ManagedCluster", CLUSTER, changed(CLUSTER, "aadProfile.enableAzureRBAC", False)),
    ("aks-local-accounts-disabled", "dev", T + "containerservice:ManagedCluster", CLUSTER, changed(CLUSTER, "disableLocalAccounts", False)),
    ("aks-network-policy", "dev", T + "containerservice:ManagedCluster", CLUSTER, changed(CLUSTER, "networkProfile.networkPolicy", DELETE)),
    ("aks-api-server-restricted", "dev", T + "containerservice:ManagedCluster", changed(CLUSTER, "apiServerAccessProfile", {"authorizedIPRanges": ["203.0.113.0/28"]}),
     changed(CLUSTER, "apiServerAccessProfile", {"authorizedIPRanges": []})),
    ("aks-workload-identity", "dev", T + "containerservice:ManagedCluster", CLUSTER, changed(CLUSTER, "oidcIssuerProfile.enabled", False)),
    ("aks-monitoring", "dev", T + "containerservice:ManagedCluster", CLUSTER, changed(CLUSTER, "addonProfiles.omsagent.enabled", False)),
    ("aks-secrets-store-rotation", "dev", T + "containerservice:ManagedCluster", CLUSTER, changed(CLUSTER, "addonProfiles.azureKeyvaultSecretsProvider.config.enableSecretRotation", "false")),
    ("aks-supported-kubernetes-version", "dev", T + "containerservice:AgentPool", AGENT_POOL, changed(AGENT_POOL, "orchestratorVersion", "1.29")),
    ("aks-encryption-at-host", "dev", T + "containerservice:AgentPool", AGENT_POOL, changed(AGENT_POOL, "enableEncryptionAtHost", False)),
    ("aks-uptime-sla", "prod", T + "containerservice:ManagedCluster", CLUSTER, changed(CLUSTER, "sku.tier", "Free")),
    ("aks-zones", "prod", T + "containerservice:AgentPool", AGENT_POOL, changed(AGENT_POOL, "availabilityZones", ["1"])),
    ("aks-minimum-system-nodes", "prod", T + "containerservice:ManagedCluster", CLUSTER, changed(CLUSTER, "agentPoolProfiles.0.minCount", 1)),
    ("aks-defender", "prod", T + "containerservice:ManagedCluster", CLUSTER, changed(CLUSTER, "securityProfile.defender", DELETE)),
    ("nsg-no-management-ports-from-internet", "dev", T + "network:SecurityRule",
     {"name": "ssh", "direction": "Inbound", "access": "Allow", "sourceAddressPrefix": "VirtualNetwork", "destinationPortRange": "22"},
     {"name": "ssh", "direction": "Inbound", "access": "Allow", "sourceAddressPrefix": "*", "destinationPortRange": "20-25"}),
    ("nsg-no-data-ports-from-internet", "dev", T + "network:NetworkSecurityGroup", NSG,
     changed(NSG, "securityRules.0.destinationPortRange", "5432")),
    ("nsg-denies-inbound-by-default", "dev", T + "network:NetworkSecurityGroup", NSG, changed(NSG, "securityRules", NSG["securityRules"][:1])),
    ("k8s-no-privileged", "dev", K + "apps/v1:Deployment", DEPLOYMENT, changed(DEPLOYMENT, "spec.template.spec.containers.0.securityContext.privileged", True)),
    ("k8s-no-privilege-escalation", "dev", K + "apps/v1:Deployment", DEPLOYMENT, changed(DEPLOYMENT, "spec.template.spec.containers.0.securityContext.allowPrivilegeEscalation", True)),
    ("k8s-run-as-non-root", "dev", K + "apps/v1:Deployment", DEPLOYMENT, changed(DEPLOYMENT, "spec.template.spec.containers.0.securityContext.runAsUser", 0)),
    ("k8s-no-host-namespaces", "dev", K + "apps/v1:Deployment", DEPLOYMENT, changed(DEPLOYMENT, "spec.template.spec.hostNetwork", True)),
    ("k8s-resource-limits", "dev", K + "apps/v1:Deployment", DEPLOYMENT, changed(DEPLOYMENT, "spec.template.spec.containers.0.resources", {})),
    ("k8s-image-pinned", "dev", K + "apps/v1:Deployment", DEPLOYMENT, changed(DEPLOYMENT, "spec.template.spec.containers.0.image", "odoo:latest")),
    ("k8s-image-from-platform-registry", "dev", K + "apps/v1:Deployment", DEPLOYMENT,
     changed(DEPLOYMENT, "spec.template.spec.containers.0.image", "odoo@sha256:" + "a" * 64)),
    ("k8s-load-balancer-only-for-ingress", "dev", K + "core/v1:Service",
     {"metadata": {"name": "traefik", "namespace": "traefik"}, "spec": {"type": "LoadBalancer"}},
     {"metadata": {"name": "odoo", "namespace": "odoo-gc-dev"}, "spec": {"type": "LoadBalancer"}}),
    ("required-tags", "dev", T + "keyvault:Vault", VAULT, changed(VAULT, "tags", {"owner": "me"})),
    ("allowed-regions", "dev", T + "keyvault:Vault", VAULT, changed(VAULT, "location", "brazilsouth")),
]
# The retiring-service rule has no compliant Azure Cache for Redis: its compliant case is Azure Managed Redis.
RETIRING_VIOLATION = (T + "redis:Redis", LEGACY)


@pytest.fixture(scope="module")
def pack():
    with PolicyPack(POLICY_DIR) as running:
        yield running


def entry(stack: str, type_: str, inputs: dict, name: str = "r", protect: bool = False) -> dict:
    return {"urn": f"urn:pulumi:{stack}::odoo-platform::{type_}::{name}", "type": type_, "name": name, "inputs": inputs, "protect": protect}


def reported(pack, stack: str, resources: list[dict], config=None) -> dict[str, list]:
    found: dict[str, list] = {}
    for v in pack.analyze(resources, "odoo-platform", stack, config).violations:
        found.setdefault(v.policy, []).append(v)
    return found


def declared_level(pack, policy: str) -> str:
    return {p.name: LEVEL_NAMES[p.enforcementLevel] for p in pack.info().policies}[policy]


def only(pack, *policies: str, config=None) -> dict:
    """Pack config that runs just `policies` at their declared levels (with their config from `config`): the SDK
    deserializes every resource once per enabled policy, so a test that runs one policy skips that cost."""
    config = config or {}
    return {"all": "disabled", **{p: {"enforcementLevel": declared_level(pack, p), **config.get(p, {})} for p in policies}}


def by_resource(pack, stack: str, entries: list[dict], config=None) -> dict[str, list]:
    """Resource name -> its violations (stack policies that name no resource under '')."""
    found: dict[str, list] = defaultdict(list)
    for v in pack.analyze(entries, "odoo-platform", stack, config).violations:
        found[v.urn.rsplit("::", 1)[-1] if v.urn else ""].append(v)
    return found


def assert_variants(pack, policy: str, stack: str, compliant: list[tuple], violating: list[tuple], config=None):
    """Every variant is (label, type, inputs). All are analyzed in one pass, each as its own resource: no compliant
    variant is reported by `policy`, every violating one is, at the policy's declared level."""
    entries = [entry(stack, t, i, f"ok-{label}") for label, t, i in compliant] + [entry(stack, t, i, f"bad-{label}") for label, t, i in violating]
    assert len({e["name"] for e in entries}) == len(entries) and not any("::" in e["name"] for e in entries), "variant labels: unique, no '::'"
    found, level = by_resource(pack, stack, entries, only(pack, policy, config=config)), declared_level(pack, policy)
    false_positives = {label: [v.message for v in found[f"ok-{label}"] if v.policy == policy] for label, _, _ in compliant}
    missed = [label for label, _, _ in violating if not any(v.policy == policy and v.level == level for v in found[f"bad-{label}"])]
    assert ({k: v for k, v in false_positives.items() if v}, missed) == ({}, [])


def assert_stack_variants(pack, policy: str, stack: str, compliant: list[tuple], violating: list[tuple], config=None):
    """Every variant is (label, resource entries), analyzed as a stack of its own."""
    level, config = declared_level(pack, policy), only(pack, policy, config=config)
    false_positives = {label: [v.message for v in pack.analyze(rs, "odoo-platform", stack, config).violations if v.policy == policy] for label, rs in compliant}
    missed = [label for label, rs in violating if not any(v.policy == policy and v.level == level for v in pack.analyze(rs, "odoo-platform", stack, config).violations)]
    assert ({k: v for k, v in false_positives.items() if v}, missed) == ({}, [])


@pytest.mark.parametrize("policy,stack,type_,compliant,violating", RESOURCE_CASES, ids=[c[0] for c in RESOURCE_CASES])
def test_resource_policy(pack, policy, stack, type_, compliant, violating):
    assert policy not in reported(pack, stack, [entry(stack, type_, compliant)])
    if violating is None:
        type_, violating = RETIRING_VIOLATION
    [violation] = reported(pack, stack, [entry(stack, type_, violating)])[policy]
    expected = "mandatory" if not policy.endswith("-nonprod") else "advisory"
    assert violation.level == expected
    assert violation.urn == f"urn:pulumi:{stack}::odoo-platform::{type_}::r"


def test_resilience_rules_do_not_apply_to_the_other_tier(pack):
    weak = changed(SERVER, "highAvailability.mode", "Disabled")
    assert "postgres-high-availability" not in reported(pack, "dev", [entry("dev", T + "dbforpostgresql:Server", weak)])
    assert "postgres-high-availability" in reported(pack, "prod-civil", [entry("prod-civil", T + "dbforpostgresql:Server", weak)])


def test_tier_override_through_pack_config(pack):
    weak = changed(SERVER, "highAvailability.mode", "Disabled")
    found = reported(pack, "staging", [entry("staging", T + "dbforpostgresql:Server", weak)], {"postgres-high-availability": {"tier": "production"}})
    assert "postgres-high-availability" in found


def test_thresholds_come_from_pack_config(pack):
    server = changed(SERVER, "backup.backupRetentionDays", 21)
    assert "postgres-backup-retention" in reported(pack, "prod", [entry("prod", T + "dbforpostgresql:Server", server)])
    config = {"postgres-backup-retention": {"minProductionDays": 14}}
    assert "postgres-backup-retention" not in reported(pack, "prod", [entry("prod", T + "dbforpostgresql:Server", server)], config)
    assert "allowed-regions" not in reported(pack, "dev", [entry("dev", T + "keyvault:Vault", changed(VAULT, "location", "brazilsouth"))],
                                             {"allowed-regions": {"allowedRegions": ["brazilsouth"]}})


def test_regions_compare_as_arm_does(pack):
    """ARM reads `Global`, `global` and `West Europe`, `westeurope` as the same location."""
    for location, allowed in (("Global", True), ("West Europe", True), ("Brazil South", False)):
        found = "allowed-regions" in reported(pack, "dev", [entry("dev", T + "keyvault:Vault", changed(VAULT, "location", location))])
        assert found is not allowed, location


# Stack policies: (policy, stack, compliant resources, violating resources)
LOCKED_VAULT = [entry("prod", T + "keyvault:Vault", VAULT, "kv", protect=True),
                entry("prod", T + "authorization:ManagementLockByScope", {"scope": f"{SUB}/Microsoft.KeyVault/vaults/kv", "level": "CanNotDelete"}, "lock")]
TENANT_NS = {"metadata": {"name": "odoo-gc-dev", "labels": {"odoo-platform/tenant": "gc"}, "annotations": {"odoo-platform/database": "odoo_gc_dev"}}}
GUARDRAILS = [
    entry("dev", K + "core/v1:Namespace", TENANT_NS, "ns"),
    entry("dev", K + "core/v1:ResourceQuota", {"metadata": {"namespace": "odoo-gc-dev"}}, "quota"),
    entry("dev", K + "core/v1:LimitRange", {"metadata": {"namespace": "odoo-gc-dev"}}, "limits"),
    entry("dev", K + "networking.k8s.io/v1:NetworkPolicy",
          {"metadata": {"namespace": "odoo-gc-dev"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}, "deny"),
]
DIAGNOSED = [entry("dev", T + "keyvault:Vault", VAULT, "kv"),
             entry("dev", T + "monitor:DiagnosticSetting", {"resourceUri": f"{SUB}/Microsoft.KeyVault/vaults/kv",
                                                              "workspaceId": f"{SUB}/Microsoft.OperationalInsights/workspaces/log",
                                                              "logs": [{"category": "AuditEvent", "enabled": True}]}, "diag")]


def route(namespace: str, host: str, name: str) -> dict:
    return entry("dev", K + "traefik.io/v1alpha1:IngressRoute",
                 {"metadata": {"namespace": namespace}, "spec": {"routes": [{"match": f"Host(`{host}`) && PathPrefix(`/`)"}]}}, name)


BACKUPS = [entry("dev", T + "storage:BlobContainer", {"accountName": "st", "containerName": "backups"}, "backups"),
           entry("dev", T + "storage:BlobContainerImmutabilityPolicy", {"accountName": "st", "containerName": "backups"}, "worm")]
SECURE = [entry("dev", T + "dbforpostgresql:Server", SERVER, "psql"),
          entry("dev", T + "dbforpostgresql:Configuration", {"serverName": "psql", "configurationName": "require_secure_transport", "value": "on"}, "tls")]
ALERTED_VAULT = [
    entry("prod", T + "keyvault:Vault", VAULT, "kv"),
    entry("prod", T + "monitor:MetricAlert", {
        "scopes": ["/subscriptions/s/resourceGroups/rg-mgmt/providers/Microsoft.KeyVault/vaults/kv"], "enabled": True,
        "criteria": {"odataType": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria", "allOf": [{"metricName": "Availability"}]},
        "actions": [{"actionGroupId": "/subscriptions/s/resourceGroups/rg-mgmt/providers/Microsoft.Insights/actionGroups/ag"}]}, "alert"),
]

STACK_CASES = [
    ("production-alert-coverage", "prod", ALERTED_VAULT, ALERTED_VAULT[:1]),
    ("stateful-resources-protected-and-locked", "prod", LOCKED_VAULT, [dict(LOCKED_VAULT[0], protect=False), LOCKED_VAULT[1]]),
    ("stateful-resources-protected-and-locked", "prod", LOCKED_VAULT, LOCKED_VAULT[:1]),
    ("tenant-namespace-guardrails", "dev", GUARDRAILS, GUARDRAILS[:3]),
    ("tenant-namespace-guardrails", "dev", GUARDRAILS, [g for g in GUARDRAILS if "ResourceQuota" not in g["type"]]),
    ("diagnostic-settings-present", "dev", DIAGNOSED, DIAGNOSED[:1]),
    ("tenant-isolation", "dev", [route("odoo-gc-dev", "dev.gc.example.com", "a"), route("odoo-gc-qa", "qa.gc.example.com", "b")],
     [route("odoo-gc-dev", "dev.gc.example.com", "a"), route("odoo-gc-qa", "dev.gc.example.com", "b")]),
    ("backup-container-immutable", "dev", BACKUPS, BACKUPS[:1]),
    ("postgres-secure-transport-enforced", "dev", SECURE, SECURE[:1]),
]


@pytest.mark.parametrize("policy,stack,compliant,violating", STACK_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(STACK_CASES)])
def test_stack_policy(pack, policy, stack, compliant, violating):
    assert policy not in reported(pack, stack, compliant)
    assert [v.level for v in reported(pack, stack, violating)[policy]] == ["mandatory"]


# The modules that hold the other policies' cases (compliant, violating and evasion variants): lists of (policy, ...)
# tuples named CASES or STACK_CASES, and the pod variants every workload kind is checked with.
CASE_MODULES = ("test_policies_kubernetes", "test_policies_network", "test_policies_azure", "test_policy_refresh")


def test_every_policy_has_cases(pack):
    covered = {c[0] for c in RESOURCE_CASES} | {c[0] for c in STACK_CASES}
    for name in CASE_MODULES:
        module = importlib.import_module(name)
        covered |= {c[0] for c in (*getattr(module, "CASES", []), *getattr(module, "STACK_CASES", []))}
        covered |= {v[1] for v in getattr(module, "POD_VIOLATIONS", [])}  # (label, policy, ...): run in every workload kind
    assert covered == {p.name for p in pack.info().policies}
    assert len(covered) >= 60


def test_advisory_rules_warn(pack):
    """The softer rules are advisory in every tier; everything else of the security category stays mandatory."""
    levels = {p.name: LEVEL_NAMES[p.enforcementLevel] for p in pack.info().policies}
    assert {n for n, level in levels.items() if level == "advisory" and not n.endswith("-nonprod")} == {
        "keyvault-secret-expiry", "postgres-log-connections", "aks-azure-policy-addon"}


def test_readme_table_lists_exactly_the_pack(pack):
    with open(os.path.join(POLICY_DIR, "README.md"), encoding="utf-8") as f:
        rows = re.findall(r"^\| `([a-z0-9-]+)` \|", f.read(), flags=re.M)
    assert sorted(rows) == sorted(p.name for p in pack.info().policies)
    assert len(rows) == len(set(rows))


def test_policies_carry_metadata(pack):
    for p in pack.info().policies:
        assert p.description and p.framework.name and p.remediation_steps, p.name
