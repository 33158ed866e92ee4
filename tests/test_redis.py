"""RedisCache (Azure Managed Redis) in both tiers: TLS-only, private, persistent in production, key in Key Vault."""
import re

from tools.mocks import stable_uuid

CLUSTER = "azure-native:redisenterprise:RedisEnterprise"
DATABASE = "azure-native:redisenterprise:Database"


def test_cluster_is_private_and_tls_only(stack):
    c = stack.one(CLUSTER).inputs
    assert c["publicNetworkAccess"] == "Disabled" and c["minimumTlsVersion"] == "1.2"
    assert c["sku"]["name"].startswith("Balanced_")


def test_sku_and_high_availability_by_tier(dev, prod):
    assert dev.one(CLUSTER).inputs["sku"] == {"name": "Balanced_B0"} and dev.one(CLUSTER).inputs["highAvailability"] == "Disabled"
    assert prod.one(CLUSTER).inputs["sku"] == {"name": "Balanced_B5"} and prod.one(CLUSTER).inputs["highAvailability"] == "Enabled"


def test_database_speaks_encrypted_protocol_on_one_endpoint(stack):
    db = stack.one(DATABASE).inputs
    assert (db["clientProtocol"], db["port"], db["clusteringPolicy"]) == ("Encrypted", 10000, "EnterpriseCluster")
    assert db["accessKeysAuthentication"] == "Enabled", "Odoo's session store authenticates with a key"


def test_persistence_and_protection_in_production(dev, prod):
    assert prod.one(DATABASE).inputs["persistence"] == {"aofEnabled": True, "aofFrequency": "1s"}
    assert "persistence" not in dev.one(DATABASE).inputs
    assert prod.one(CLUSTER).protect and prod.one(DATABASE).protect
    assert any(r.inputs["scope"].endswith("/redisEnterprise/redis-acme-prod-weu") for r in prod.of_type("azure-native:authorization:ManagementLockByScope"))


def test_private_endpoint_in_the_redis_zone(stack):
    [pep] = [p for p in stack.of_type("azure-native:network:PrivateEndpoint") if p.inputs["privateLinkServiceConnections"][0]["groupIds"] == ["redisEnterprise"]]
    assert pep.inputs["privateLinkServiceConnections"][0]["privateLinkServiceId"].endswith(f"/redisEnterprise/redis-acme-{stack.stack}-weu")
    [group] = [g for g in stack.of_type("azure-native:network:PrivateDnsZoneGroup") if g.inputs["privateEndpointName"] == pep.inputs["privateEndpointName"]]
    assert group.inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"].endswith("/privateDnsZones/privatelink.redis.azure.net")


def test_access_key_only_in_key_vault(stack):
    secret = stack.one("azure-native:keyvault:Secret", "kv-redis-access-key").inputs
    assert re.fullmatch(r"redis-access-key-[0-9a-f]{6}", secret["secretName"]) and secret["properties"]["value"] == "[secret]"
    key = f"mock-primary-{stable_uuid('redis', f'redis-acme-{stack.stack}-weu')}"
    assert key not in repr(stack.resources) + repr(stack.outputs)


def test_each_tenant_environment_has_its_own_key_prefix(dev):
    prefixes = {t: out["redisKeyPrefix"] for t, out in dev.outputs["tenantEnvironments"].items()}
    assert all(prefix == f"{t}:" for t, prefix in prefixes.items())
    assert len(set(prefixes.values())) == len(prefixes) == 7


def test_metrics_to_the_workspace(stack):
    [diag] = [d for d in stack.of_type("azure-native:monitor:DiagnosticSetting") if d.inputs["resourceUri"].endswith(f"/redisEnterprise/redis-acme-{stack.stack}-weu")]
    assert diag.inputs["metrics"] == [{"category": "AllMetrics", "enabled": True}]
