"""The landing zone's resources and their security-relevant inputs, in both tiers."""
import ipaddress

import pytest

from components.aks import POD_CIDR
from components.landing_zone import inbound_allows
from tools.mocks import DEPLOYER_OBJECT_ID, SUBSCRIPTION_ID

RG = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups"
ZONE = "odoo-platform:landing:LandingZone"


def vault(rec):
    return rec.one("azure-native:keyvault:Vault")


def test_resource_groups_per_concern(stack):
    names = sorted(r.inputs["resourceGroupName"] for r in stack.of_type("azure-native:resources:ResourceGroup") if r.name != "rg-dr")
    s = stack.stack
    assert names == [f"rg-acme-{s}-weu-{p}" for p in ("compute", "data", "management", "network")]


def test_production_resource_groups_and_vault_are_locked(prod):
    locks = {r.inputs["scope"]: r.inputs["level"] for r in prod.of_type("azure-native:authorization:ManagementLockByScope")}
    for group in prod.of_type("azure-native:resources:ResourceGroup"):
        name = group.inputs["resourceGroupName"]
        if name == "rg-acme-prod-weu-network":
            # It holds the PostgreSQL private DNS zone, which HA failover rewrites: its VNets are locked instead.
            assert f"{RG}/{name}" not in locks
            assert locks[f"{RG}/{name}/providers/Microsoft.Network/virtualNetworks/vnet-acme-prod-weu"] == "CanNotDelete"
        else:
            assert locks[f"{RG}/{name}"] == "CanNotDelete"
    kv = vault(prod)
    assert locks[f"{RG}/rg-acme-prod-weu-management/providers/Microsoft.KeyVault/vaults/{kv.inputs['vaultName']}"] == "CanNotDelete"


def test_non_production_has_no_locks(dev):
    assert dev.of_type("azure-native:authorization:ManagementLockByScope") == []


def test_stateful_resources_protected_in_production_only(dev, prod):
    for type_ in ("azure-native:keyvault:Vault", "azure-native:operationalinsights:Workspace"):
        assert prod.one(type_).protect is True
        assert dev.one(type_).protect is False


def test_key_vault_is_secure_by_default(stack):
    props = vault(stack).inputs["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    assert props["enableSoftDelete"] is True and props["softDeleteRetentionInDays"] == 90
    assert props["networkAcls"]["defaultAction"] == "Deny"
    assert props["tenantId"] == "00000000-0000-4000-8000-00000000aaaa"  # from getClientConfig, not hard-coded


def test_key_vault_public_access_by_tier(dev, prod):
    assert vault(prod).inputs["properties"]["publicNetworkAccess"] == "Disabled"
    assert "ipRules" not in vault(prod).inputs["properties"]["networkAcls"]
    dev_props = vault(dev).inputs["properties"]
    assert dev_props["publicNetworkAccess"] == "Enabled"
    assert [r["value"] for r in dev_props["networkAcls"]["ipRules"]] == ["203.0.113.0/28"]


def test_key_vault_audit_events_go_to_the_workspace(stack):
    kv, log = vault(stack), stack.one("azure-native:operationalinsights:Workspace")
    kv_id = f"{RG}/{kv.inputs['resourceGroupName']}/providers/Microsoft.KeyVault/vaults/{kv.inputs['vaultName']}"
    log_id = f"{RG}/{log.inputs['resourceGroupName']}/providers/Microsoft.OperationalInsights/workspaces/{log.inputs['workspaceName']}"
    [setting] = [r for r in stack.of_type("azure-native:monitor:DiagnosticSetting") if r.inputs["resourceUri"] == kv_id]
    assert setting.inputs["workspaceId"] == log_id
    assert {"category": "AuditEvent", "enabled": True} in setting.inputs["logs"]


def test_key_vault_private_endpoint_and_dns(stack):
    # The zone also parents dev's endpoints to production export accounts (tests/test_refresh_stacks.py).
    [pep] = [r for r in stack.children(ZONE, "azure-native:network:PrivateEndpoint")
             if r.inputs["privateLinkServiceConnections"][0]["groupIds"] == ["vault"]]
    [conn] = pep.inputs["privateLinkServiceConnections"]
    assert conn["privateLinkServiceId"].endswith(f"/vaults/{vault(stack).inputs['vaultName']}")
    assert pep.inputs["subnet"]["id"].endswith("/subnets/snet-private-endpoints")
    [group] = [r for r in stack.children(ZONE, "azure-native:network:PrivateDnsZoneGroup")
               if r.inputs["privateEndpointName"] == pep.inputs["privateEndpointName"]]
    assert group.inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"].endswith("/privateDnsZones/privatelink.vaultcore.azure.net")


def test_deployer_may_write_secrets(stack):
    [grant] = [r for r in stack.children(ZONE, "azure-native:authorization:RoleAssignment") if r.inputs["principalId"] == DEPLOYER_OBJECT_ID]
    assert grant.inputs["principalId"] == DEPLOYER_OBJECT_ID
    assert grant.inputs["roleDefinitionId"].endswith("/roleDefinitions/b86a8fe4-44ce-4948-aee5-eccb2c155cd7")
    assert grant.inputs["scope"].endswith(f"/vaults/{vault(stack).inputs['vaultName']}")


def test_subnets_follow_the_plan_and_deny_default_outbound(stack, dev_settings, prod_settings):
    settings = dev_settings if stack.stack == "dev" else prod_settings
    plan = settings["network"]["subnets"]
    subnets = {r.inputs["subnetName"]: r.inputs for r in primary_subnets(stack)}
    assert {k: v["addressPrefix"] for k, v in subnets.items()} == {
        "snet-aks-system": plan["aksSystem"],
        "snet-aks-user": plan["aksUser"],
        "snet-private-endpoints": plan["privateEndpoints"],
        "snet-postgres": plan["postgres"],
        **({"snet-runners": plan["runners"]} if "runners" in plan else {}),
    }
    space = ipaddress.ip_network(stack.one("azure-native:network:VirtualNetwork", "vnet").inputs["addressSpace"]["addressPrefixes"][0])
    assert all(ipaddress.ip_network(s["addressPrefix"]).subnet_of(space) for s in subnets.values())
    assert all(s["defaultOutboundAccess"] is False for s in subnets.values())
    assert all(s["networkSecurityGroup"]["id"].split("/")[-1].startswith("nsg-") for s in subnets.values())
    assert subnets["snet-postgres"]["delegations"] == [{"name": "postgres-flexible-server", "serviceName": "Microsoft.DBforPostgreSQL/flexibleServers"}]
    # WAL archiving reaches Azure Storage through a service endpoint, default outbound being off.
    assert subnets["snet-postgres"]["serviceEndpoints"] == [{"service": "Microsoft.Storage"}]
    # Entra ID authentication needs the server to reach Entra ID: a NAT gateway, default outbound being off.
    assert subnets["snet-postgres"]["natGateway"]["id"].endswith(f"/natGateways/nat-acme-{stack.stack}-weu-postgres")
    assert all("natGateway" not in s for name, s in subnets.items() if name != "snet-postgres")


def primary_subnets(rec):
    return [r for r in rec.of_type("azure-native:network:Subnet") if r.inputs["virtualNetworkName"] == f"vnet-acme-{rec.stack}-weu"]


def test_subnets_are_created_one_after_another(stack):
    subnets = primary_subnets(stack)
    for earlier, later in zip(subnets, subnets[1:]):
        assert earlier.urn in later.dependencies


def test_nsgs_deny_inbound_by_default(stack):
    for nsg in stack.of_type("azure-native:network:NetworkSecurityGroup"):
        rules = sorted(nsg.inputs["securityRules"], key=lambda r: r["priority"])
        last = rules[-1]
        assert (last["access"], last["direction"], last["sourceAddressPrefix"], last["destinationPortRange"]) == ("Deny", "Inbound", "*", "*")
        assert all(r["sourceAddressPrefix"] != "*" for r in rules[:-1]), "only the final deny may match any source"


def test_internet_reaches_only_the_ingress_subnet_on_web_ports(stack):
    # Traefik runs on the system pool: its subnet, and only it, takes 80/443 from the Internet.
    for nsg in stack.of_type("azure-native:network:NetworkSecurityGroup"):
        internet = [r for r in nsg.inputs["securityRules"] if r["sourceAddressPrefix"] == "Internet"]
        if nsg.inputs["networkSecurityGroupName"].endswith("aks-system"):
            assert sorted(r["destinationPortRange"] for r in internet) == ["443", "80"]
        else:
            assert internet == []


def test_internal_ingress_opens_nothing_to_the_internet():
    for purpose in ("aks-system", "aks-user", "private-endpoints", "postgres", "runners"):
        assert [a for a in inbound_allows(purpose, None, POD_CIDR) if a[1] == "Internet"] == []


def test_overlay_pod_traffic_crosses_the_node_subnets(stack):
    """The pod CIDR is outside the VirtualNetwork tag: node NSGs must admit it before their deny-all."""
    for nsg in stack.of_type("azure-native:network:NetworkSecurityGroup"):
        pod_rules = [r for r in nsg.inputs["securityRules"] if r["sourceAddressPrefix"] == POD_CIDR]
        if "-aks-" in nsg.inputs["networkSecurityGroupName"]:
            assert [(r["access"], r["destinationPortRange"]) for r in pod_rules] == [("Allow", "*")]
            assert pod_rules[0]["priority"] < 4096
        else:
            assert pod_rules == []


def test_dr_network_is_peered_both_ways(prod):
    peerings = {(p.inputs["virtualNetworkName"], p.inputs["remoteVirtualNetwork"]["id"].rsplit("/", 1)[-1]) for p in prod.of_type("azure-native:network:VirtualNetworkPeering")}
    assert peerings == {("vnet-acme-prod-weu", "vnet-acme-prod-neu"), ("vnet-acme-prod-neu", "vnet-acme-prod-weu")}


@pytest.mark.parametrize("zone", ["privatelink.redis.azure.net", "privatelink.blob.core.windows.net", "privatelink.vaultcore.azure.net"])
def test_private_dns_zones_linked_to_the_vnet(stack, zone):
    stack.one("azure-native:privatedns:PrivateZone", f"dns-{zone.split('.')[1].replace('vaultcore', 'vault').replace('redis', 'redisenterprise')}")
    links = [r for r in stack.of_type("azure-native:privatedns:VirtualNetworkLink") if r.inputs["privateZoneName"] == zone]
    assert len(links) == 1 and links[0].inputs["registrationEnabled"] is False
    assert links[0].inputs["virtualNetwork"]["id"].endswith(f"/virtualNetworks/vnet-acme-{stack.stack}-weu")


def test_postgres_zone_is_a_flexible_server_zone(stack):
    zone = stack.one("azure-native:privatedns:PrivateZone", "dns-postgres").inputs["privateZoneName"]
    assert zone.endswith(".private.postgres.database.azure.com")


def test_workspace_retention_by_tier(dev, prod):
    assert prod.one("azure-native:operationalinsights:Workspace").inputs["retentionInDays"] == 90
    assert dev.one("azure-native:operationalinsights:Workspace").inputs["retentionInDays"] == 30


def test_workload_identities(stack):
    names = sorted(r.inputs["resourceName"] for r in stack.children(ZONE, "azure-native:managedidentity:UserAssignedIdentity"))
    assert names == [f"id-acme-{stack.stack}-weu-aks-control-plane", f"id-acme-{stack.stack}-weu-aks-kubelet"]


def test_every_azure_resource_is_parented_to_a_component(stack):
    """Never to another Azure resource: alias chains would multiply along parent chains (pulumi/pulumi#10010)."""
    components = {r.urn for r in stack.resources if r.type.startswith("odoo-platform:")}
    for r in stack.resources:
        if r.type.startswith("azure-native:"):
            assert r.parent in components, r.urn
