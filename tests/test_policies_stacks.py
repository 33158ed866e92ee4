"""The new rules over the real dev stack's plan: the stack as built passes them (tests/test_governance.py checks the whole
pack), and an evasion written into a real resource of each area is caught in the plan's own shape (parent chains,
dependencies, ARM ids as the mocks return them)."""
import copy

import pytest
from test_policies import only, pack  # noqa: F401

from tools.plan import build_plan

AZ, K = "azure-native:", "kubernetes:"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"


@pytest.fixture(scope="module")
def plan(dev):
    return build_plan(dev)["resources"]


def backup_init_unconfined(r):
    if r["type"] == K + "batch/v1:CronJob" and r["inputs"]["metadata"]["name"] == "backup":
        pod = r["inputs"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        init = copy.deepcopy(pod["containers"][0]) | {"name": "warm-up"}
        init["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
        pod["initContainers"] = [init]


def tenant_opens_ingress(r):
    if r["type"] == K + "networking.k8s.io/v1:NetworkPolicy" and r["inputs"]["metadata"]["name"] == "allow-from-traefik":
        r["inputs"]["spec"]["ingress"].append({"from": [{"namespaceSelector": {}}]})


def postgres_from_azure_cloud(r):
    if r["type"] == AZ + "network:NetworkSecurityGroup" and r["name"] == "nsg-aks-user":
        r["inputs"]["securityRules"].insert(0, {"name": "pg", "priority": 100, "direction": "inbound", "access": "allow", "protocol": "Tcp",
                                                "sourceAddressPrefixes": ["AzureCloud.westeurope"], "destinationPortRanges": ["5000-5500"]})


def kubelet_made_owner(r):
    if r["type"] == AZ + "authorization:RoleAssignment" and r["name"] == "kubelet-acr-pull-role":
        inputs = r["inputs"]
        inputs["roleDefinitionId"] = inputs["roleDefinitionId"].rsplit("/", 1)[0].upper() + "/" + OWNER
        inputs["scope"] = inputs["scope"].split("/providers/")[0] + "/"
        inputs.pop("principalType")


def vault_audit_disabled(r):
    if r["type"] == AZ + "monitor:DiagnosticSetting" and "/vaults/" in r["inputs"]["resourceUri"]:
        r["inputs"]["logs"] = [dict(log, enabled=False) for log in r["inputs"]["logs"]]


def api_server_public_through_vnet_integration(r):
    if r["type"] == AZ + "containerservice:ManagedCluster":
        r["inputs"]["apiServerAccessProfile"] = {"enableVnetIntegration": True}


def tenant_namespace_privileged(r):
    if r["type"] == K + "core/v1:Namespace" and r["inputs"]["metadata"]["name"] == "odoo-gc-qa":
        r["inputs"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"


def admin_password_in_config(r):
    if r["type"] == K + "core/v1:ConfigMap" and r["inputs"]["metadata"]["name"] == "odoo-config":
        r["inputs"]["data"]["odoo.conf"] += "admin_passwd = construction-2026\n"


MUTATIONS = [
    (backup_init_unconfined, "k8s-seccomp-runtime-default"),
    (tenant_opens_ingress, "tenant-network-policy-no-allow-all"),
    (postgres_from_azure_cloud, "nsg-no-data-ports-from-internet"),
    (kubelet_made_owner, "azure-no-privileged-roles-for-workloads"),
    (vault_audit_disabled, "diagnostic-settings-present"),
    (api_server_public_through_vnet_integration, "aks-api-server-restricted"),
    (tenant_namespace_privileged, "k8s-pod-security-enforced"),
    (admin_password_in_config, "k8s-no-literal-credentials"),
]


@pytest.mark.parametrize("mutate,policy", MUTATIONS, ids=[m[0].__name__ for m in MUTATIONS])
def test_evasion_in_the_real_stack_is_caught(pack, plan, mutate, policy):
    config = only(pack, policy)
    assert [v.message for v in pack.analyze(plan, "odoo-platform", "dev", config).violations] == []
    resources = copy.deepcopy(plan)
    for r in resources:
        mutate(r)
    assert resources != plan, "the mutation found nothing to change"
    assert {v.policy for v in pack.analyze(resources, "odoo-platform", "dev", config).violations} == {policy}


def test_pools_that_follow_the_cluster_version_pass(pack, plan):
    """The false positive of old: a pool without orchestratorVersion is 'Kubernetes None'."""
    resources = copy.deepcopy(plan)
    for r in resources:
        if r["type"] in (AZ + "containerservice:AgentPool", AZ + "containerservice:ManagedCluster"):
            r["inputs"].pop("orchestratorVersion", None)
            for pool in r["inputs"].get("agentPoolProfiles", []):
                pool.pop("orchestratorVersion", None)
    assert pack.analyze(resources, "odoo-platform", "dev", only(pack, "aks-supported-kubernetes-version")).violations == []
