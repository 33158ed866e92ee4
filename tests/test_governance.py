"""The pack over the real stacks: clean as built, and every mutation a careless change could make is caught."""
import copy

import pytest

from tools.plan import build_plan
from tools.policy_runner import PolicyPack
from tools.preview import POLICY_DIR


@pytest.fixture(scope="module")
def pack():
    with PolicyPack(POLICY_DIR) as running:
        yield running


def analyze(pack, rec, resources=None):
    resources = resources if resources is not None else build_plan(rec)["resources"]
    return pack.analyze(resources, rec.project, rec.stack)


def test_real_stacks_have_no_violations(pack, stack):
    result = analyze(pack, stack)
    assert [(v.policy, v.urn, v.message) for v in result.violations] == []
    assert len(result.policies) >= 45


def mutated(rec, mutate):
    resources = copy.deepcopy(build_plan(rec)["resources"])
    return [r for r in resources if mutate(r) is not False]


def vault_public(r):
    if r["type"] == "azure-native:keyvault:Vault":
        r["inputs"]["properties"]["publicNetworkAccess"] = "Enabled"


def server_unlocked(r):
    if r["type"] == "azure-native:authorization:ManagementLockByScope":
        return not (r["inputs"]["scope"].endswith("/flexibleServers/psql-acme-prod-weu") or r["inputs"]["scope"].endswith("/rg-acme-prod-weu-data"))


def storage_unprotected(r):
    if r["type"] == "azure-native:storage:StorageAccount":
        r["protect"] = False


def blob_public(r):
    if r["type"] == "azure-native:storage:StorageAccount":
        r["inputs"]["allowBlobPublicAccess"] = True


def vault_undiagnosed(r):
    return not (r["type"] == "azure-native:monitor:DiagnosticSetting" and "/vaults/" in r["inputs"]["resourceUri"])


def ssh_from_internet(r):
    if r["type"] == "azure-native:network:NetworkSecurityGroup" and r["name"] == "nsg-aks-user":
        r["inputs"]["securityRules"].insert(0, {"name": "ssh", "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
                                                "sourceAddressPrefix": "Internet", "destinationPortRange": "22"})


def api_server_open(r):
    if r["type"] == "azure-native:containerservice:ManagedCluster":
        r["inputs"]["apiServerAccessProfile"] = {}


def no_ha(r):
    if r["type"] == "azure-native:dbforpostgresql:Server":
        r["inputs"]["highAvailability"] = {"mode": "Disabled"}


def backups_mutable(r):
    if r["type"] == "azure-native:storage:StorageAccount":
        r["inputs"].pop("immutableStorageWithVersioning", None)


def tls_off(r):
    if r["type"] == "azure-native:dbforpostgresql:Configuration" and r["inputs"]["configurationName"] == "require_secure_transport":
        r["inputs"]["value"] = "off"


def untagged(r):
    if r["type"] == "azure-native:redisenterprise:RedisEnterprise":
        del r["inputs"]["tags"]["owner"]


def default_deny_removed(r):
    meta = r["inputs"].get("metadata", {})
    return not (r["type"] == "kubernetes:networking.k8s.io/v1:NetworkPolicy" and (meta["namespace"], meta["name"]) == ("odoo-civil-uat", "default-deny"))


def quota_removed(r):
    return not (r["type"] == "kubernetes:core/v1:ResourceQuota" and r["inputs"]["metadata"]["namespace"] == "odoo-gc-prod")


def shared_host(r):
    if r["type"] == "kubernetes:traefik.io/v1alpha1:IngressRoute" and r["inputs"]["metadata"]["namespace"] == "odoo-gc-qa":
        for route in r["inputs"]["spec"]["routes"]:
            route["match"] = route["match"].replace("qa.gc.", "dev.gc.")


def privileged_odoo(r):
    if r["type"] == "kubernetes:batch/v1:Job" and r["inputs"]["metadata"] == {**r["inputs"]["metadata"], "namespace": "odoo-gc-dev", "name": "odoo-init"}:
        r["inputs"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True


MUTATIONS = [
    ("prod", vault_public, "keyvault-private-in-production"),
    ("prod", server_unlocked, "stateful-resources-protected-and-locked"),
    ("prod", storage_unprotected, "stateful-resources-protected-and-locked"),
    ("prod", no_ha, "postgres-high-availability"),
    ("dev", blob_public, "storage-no-public-blob-access"),
    ("dev", vault_undiagnosed, "diagnostic-settings-present"),
    ("dev", ssh_from_internet, "nsg-no-management-ports-from-internet"),
    ("dev", api_server_open, "aks-api-server-restricted"),
    ("dev", backups_mutable, "backup-container-immutable"),
    ("dev", tls_off, "postgres-secure-transport"),
    ("dev", untagged, "required-tags"),
    ("dev", default_deny_removed, "tenant-namespace-guardrails"),
    ("prod", quota_removed, "tenant-namespace-guardrails"),
    ("dev", shared_host, "tenant-isolation"),
    ("dev", privileged_odoo, "k8s-no-privileged"),
]


@pytest.mark.parametrize("stack_name,mutate,policy", MUTATIONS, ids=[m[1].__name__ for m in MUTATIONS])
def test_mutation_is_caught(pack, request, stack_name, mutate, policy):
    rec = request.getfixturevalue(stack_name)
    result = analyze(pack, rec, mutated(rec, mutate))
    assert policy in {v.policy for v in result.mandatory}
