"""The mocks answer like Azure: ARM ids built from type, group and name, and the outputs others read."""
from tools.mocks import SUBSCRIPTION_ID, TENANT_ID, AzureMocks, arm_id

RG = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-data"


def test_top_level_id():
    assert arm_id("azure-native:storage:StorageAccount", "st", {"resourceGroupName": "rg-data", "accountName": "stacme"}) == (
        f"{RG}/providers/Microsoft.Storage/storageAccounts/stacme"
    )


def test_nested_blob_container_under_its_account():
    inputs = {"resourceGroupName": "rg-data", "accountName": "stacme", "containerName": "gc-dev"}
    assert arm_id("azure-native:storage:BlobContainer", "c", inputs) == (
        f"{RG}/providers/Microsoft.Storage/storageAccounts/stacme/blobServices/default/containers/gc-dev"
    )


def test_extension_resource_under_its_scope():
    scope = f"{RG}/providers/Microsoft.KeyVault/vaults/kv"
    assert arm_id("azure-native:authorization:ManagementLockByScope", "l", {"scope": scope, "lockName": "lock-kv"}) == (
        f"{scope}/providers/Microsoft.Authorization/locks/lock-kv"
    )


def test_resource_group_id():
    assert arm_id("azure-native:resources:ResourceGroup", "rg", {"resourceGroupName": "rg-data"}) == RG


class _Args:
    def __init__(self, typ, name, inputs):
        self.typ, self.name, self.inputs = typ, name, inputs


def test_cluster_outputs_an_oidc_issuer_and_fqdn():
    _, state = AzureMocks().new_resource(
        _Args("azure-native:containerservice:ManagedCluster", "aks", {"resourceGroupName": "rg", "resourceName": "aks-x", "dnsPrefix": "acme", "location": "westeurope"})
    )
    assert state["oidcIssuerProfile"]["issuerURL"].startswith(f"https://westeurope.oic.prod-aks.azure.com/{TENANT_ID}/")
    assert state["fqdn"] == "acme.hcp.westeurope.azmk8s.io"


def test_identity_ids_are_stable_and_distinct():
    mocks = AzureMocks()
    a = mocks.new_resource(_Args("azure-native:managedidentity:UserAssignedIdentity", "a", {"resourceGroupName": "rg", "resourceName": "id-a"}))[1]
    again = mocks.new_resource(_Args("azure-native:managedidentity:UserAssignedIdentity", "a", {"resourceGroupName": "rg", "resourceName": "id-a"}))[1]
    b = mocks.new_resource(_Args("azure-native:managedidentity:UserAssignedIdentity", "b", {"resourceGroupName": "rg", "resourceName": "id-b"}))[1]
    assert a["clientId"] == again["clientId"] != b["clientId"]
    assert a["principalId"] != a["clientId"]


def test_hostnames():
    mocks = AzureMocks()
    pg = mocks.new_resource(_Args("azure-native:dbforpostgresql:Server", "pg", {"resourceGroupName": "rg", "serverName": "psql-x"}))[1]
    st = mocks.new_resource(_Args("azure-native:storage:StorageAccount", "st", {"resourceGroupName": "rg", "accountName": "stx"}))[1]
    kv = mocks.new_resource(_Args("azure-native:keyvault:Vault", "kv", {"resourceGroupName": "rg", "vaultName": "kv-x", "properties": {}}))[1]
    assert pg["fullyQualifiedDomainName"] == "psql-x.postgres.database.azure.com"
    assert st["primaryEndpoints"]["blob"] == "https://stx.blob.core.windows.net/"
    assert kv["properties"]["vaultUri"] == "https://kv-x.vault.azure.net/"


def test_unmocked_invoke_fails_loudly():
    import pytest

    class Call:
        token, args, provider = "azure-native:network:getVirtualNetwork", {}, ""

    with pytest.raises(NotImplementedError, match="getVirtualNetwork"):
        AzureMocks().call(Call())
