"""The two tenancy models as stacks: a `prod-<unit>` stack from the same program, production hardening, outputs."""
import copy
import subprocess
import sys

import pytest
import yaml

from tools.preview import ROOT, run_stack, stack_settings

STATEFUL = {
    "azure-native:keyvault:Vault": "vaults",
    "azure-native:dbforpostgresql:Server": "flexibleServers",
    "azure-native:storage:StorageAccount": "storageAccounts",
    "azure-native:redisenterprise:RedisEnterprise": "redisEnterprise",
}


def civil(prod_settings: dict) -> dict:
    settings = dict(prod_settings)
    settings["units"] = [{"name": "civil", "displayName": "Acme Civil Works", "environments": ["prod"]}]
    settings["network"] = {
        "addressSpace": "10.40.0.0/16",
        "subnets": {"aksSystem": "10.40.0.0/24", "aksUser": "10.40.4.0/22", "privateEndpoints": "10.40.1.0/26", "postgres": "10.40.2.0/28", "runners": "10.40.3.0/27"},
    }
    settings["drNetwork"] = {"addressSpace": "10.41.0.0/16", "postgresSubnet": "10.41.2.0/28"}
    settings["tags"] = {**settings["tags"], "business-unit": "civil", "cost-center": "CW-2000"}
    return settings


@pytest.fixture(scope="module")
def prod_civil():
    return run_stack("prod-civil", civil(copy.deepcopy(stack_settings("prod"))))


def test_a_unit_stack_is_production_and_dedicated(prod_civil):
    assert list(prod_civil.outputs["tenantEnvironments"]) == ["civil-prod"]
    assert prod_civil.outputs["tenantEnvironments"]["civil-prod"]["url"] == "https://prod.civil.erp.acme-construction.example/"
    server = prod_civil.one("azure-native:dbforpostgresql:Server", "psql").inputs
    assert server["serverName"] == "psql-acme-prod-civil-weu" and server["highAvailability"]["mode"] == "ZoneRedundant"
    assert prod_civil.one("azure-native:storage:StorageAccount", "st").inputs["accountName"] == "stacmeprodcivilweu"
    assert [z.inputs["zoneName"] for z in prod_civil.of_type("azure-native:dns:Zone")] == ["civil.erp.acme-construction.example"]
    assert {r.inputs["tags"]["environment"] for r in prod_civil.resources if r.type.startswith("azure-native:") and "tags" in r.inputs} == {"production"}


@pytest.mark.parametrize("type_", sorted(STATEFUL))
def test_every_stateful_resource_is_protected_and_locked(prod, type_):
    locks = [r.inputs["scope"] for r in prod.of_type("azure-native:authorization:ManagementLockByScope") if r.inputs["level"] == "CanNotDelete"]
    for resource in prod.of_type(type_):
        assert resource.protect, resource.name
        name = resource.inputs.get("serverName") or resource.inputs.get("vaultName") or resource.inputs.get("accountName") or resource.inputs.get("clusterName")
        assert any(scope.endswith(f"/{STATEFUL[type_]}/{name}") for scope in locks), name


def test_zones_and_high_availability_wherever_they_exist(prod):
    cluster = prod.one("azure-native:containerservice:ManagedCluster").inputs
    pools = cluster["agentPoolProfiles"] + [p.inputs for p in prod.of_type("azure-native:containerservice:AgentPool")]
    assert all(p["availabilityZones"] == ["1", "2", "3"] for p in pools)
    assert prod.one("azure-native:dbforpostgresql:Server", "psql").inputs["highAvailability"]["mode"] == "ZoneRedundant"
    assert prod.one("azure-native:redisenterprise:RedisEnterprise").inputs["highAvailability"] == "Enabled"
    assert {a.inputs["sku"]["name"] for a in prod.of_type("azure-native:storage:StorageAccount")} == {"Standard_RAGZRS"}


@pytest.mark.parametrize("key", ["url", "namespace", "database", "identityClientId"])
def test_outputs_per_tenant_environment(stack, key):
    for out in stack.outputs["tenantEnvironments"].values():
        assert out[key] and out[key] != "[secret]"


def test_unit_stack_previews_clean_with_the_policy_pack(prod_settings, tmp_path):
    path = tmp_path / "Pulumi.prod-civil.yaml"
    path.write_text(yaml.safe_dump({"config": {f"odoo-platform:{k}": v for k, v in civil(prod_settings).items()}}))
    result = subprocess.run([sys.executable, "-m", "tools.preview", "prod-civil", "--config", str(path), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "0 mandatory and 0 advisory violations" in result.stdout
