"""Network and AKS rules of the pack, over the Analyzer gRPC protocol, with the variants written to evade them:
"anywhere" in every spelling ARM accepts, port ranges and lists, inline and standalone rules and pools, an API
server made public through another setting, and the versions an omitted field implies."""
import pytest
from test_policies import AGENT_POOL, CLUSTER, DELETE, DENY_ALL, NSG, POOL_PROFILE, T, assert_variants, changed, pack  # noqa: F401

RULE, GROUP = T + "network:SecurityRule", T + "network:NetworkSecurityGroup"
VNET, SUBNET = T + "network:VirtualNetwork", T + "network:Subnet"
AKS, POOL = T + "containerservice:ManagedCluster", T + "containerservice:AgentPool"


def inbound(port="22", source="VirtualNetwork", **extra) -> dict:
    return {"name": "r", "direction": "Inbound", "access": "Allow", "protocol": "Tcp", "priority": 100,
            "sourceAddressPrefix": source, "destinationPortRange": port} | extra


def group(*rules: dict) -> dict:
    return changed(NSG, "securityRules", [*rules, DENY_ALL])


ANYWHERE = ["*", "0.0.0.0/0", "0.0.0.0", "::/0", "Internet", "internet", "Any", "AzureCloud", "AzureCloud.WestEurope", "128.0.0.0/1"]


def evasions(port: str) -> list[tuple]:
    """The same opening written every way ARM accepts it."""
    variants = [(f"source-{s.replace(':', 'x')}", RULE, inbound(port, s)) for s in ANYWHERE]
    variants += [
        ("source-in-list", RULE, inbound(port, None, sourceAddressPrefixes=["10.0.0.0/8", "Internet"])),
        ("port-range", RULE, inbound(f"{int(port) - 2}-{int(port) + 2}", "*")),
        ("port-list", RULE, inbound(None, "*", destinationPortRanges=["443", port])),
        ("all-ports", RULE, inbound("*", "Internet")),
        ("all-ports-as-range", RULE, inbound("0-65535", "Internet")),
        ("lowercase-enums", RULE, inbound(port, "Internet", direction="inbound", access="allow")),
        ("inline", GROUP, group(inbound(port, "Any"))),
    ]
    return variants


SAFE = [("vnet", RULE, inbound("22", "VirtualNetwork")), ("bastion-subnet", RULE, inbound("22", "10.20.9.0/26")),
        ("https-from-internet", RULE, inbound("443", "Internet")), ("denied", RULE, inbound("22", "*", access="Deny")),
        ("outbound", RULE, inbound("22", "*", direction="Outbound")), ("inline-https", GROUP, group(inbound("443", "Internet")))]


def vnet(*subnets: dict) -> dict:
    return {"location": "westeurope", "virtualNetworkName": "vnet", "resourceGroupName": "rg", "addressSpace": {"addressPrefixes": ["10.20.0.0/16"]},
            "subnets": list(subnets)}


NSG_REF = {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-aks"}


def subnet(name: str, nsg=NSG_REF) -> dict:
    return {"name": name, "subnetName": name, "virtualNetworkName": "vnet", "addressPrefix": "10.20.0.0/24"} | ({} if nsg is None else {"networkSecurityGroup": nsg})


PUBLIC_API = {"authorizedIPRanges": ["203.0.113.0/28"]}

# (policy, stack, compliant variants, violating variants); a variant is (label, type, inputs)
CASES = [
    ("nsg-no-management-ports-from-internet", "dev", SAFE, [(f"ssh-{label}", t, i) for label, t, i in evasions("22")] + [("rdp", RULE, inbound("3389", "*"))]),
    ("nsg-no-data-ports-from-internet", "dev", SAFE + [("postgres-from-vnet", RULE, inbound("5432", "VirtualNetwork"))],
     [(f"postgres-{label}", t, i) for label, t, i in evasions("5432")] + [("redis", GROUP, group(inbound("10000", "::/0")))]),
    ("nsg-denies-inbound-by-default", "dev",
     [("deny-all", GROUP, NSG), ("deny-all-lowercase-any", GROUP, changed(NSG, "securityRules.1", DENY_ALL | {"sourceAddressPrefix": "Any", "access": "deny"}))],
     [("none", GROUP, changed(NSG, "securityRules", NSG["securityRules"][:1])),
      ("deny-some-ports", GROUP, changed(NSG, "securityRules.1", DENY_ALL | {"destinationPortRange": "1-1024"})),
      ("deny-from-vnet-only", GROUP, changed(NSG, "securityRules.1", DENY_ALL | {"sourceAddressPrefix": "VirtualNetwork"}))]),
    ("subnet-has-nsg", "dev",
     [("standalone", SUBNET, subnet("snet-aks")), ("inline", VNET, vnet(subnet("snet-aks"))), ("gateway", VNET, vnet(subnet("GatewaySubnet", None))),
      ("firewall", SUBNET, subnet("AzureFirewallSubnet", None)), ("no-inline-subnets", VNET, vnet())],
     [("standalone", SUBNET, subnet("snet-aks", None)), ("inline", VNET, vnet(subnet("snet-a"), subnet("snet-b", None))),
      ("empty-reference", SUBNET, subnet("snet-aks", {})), ("null-id", SUBNET, subnet("snet-aks", {"id": ""})),
      ("bastion-needs-one", SUBNET, subnet("AzureBastionSubnet", None))]),
    ("aks-api-server-restricted", "dev",
     [("private", AKS, CLUSTER), ("named-ranges", AKS, changed(CLUSTER, "apiServerAccessProfile", PUBLIC_API)),
      ("outbound-ip-only", AKS, changed(CLUSTER, "apiServerAccessProfile", {"authorizedIPRanges": ["0.0.0.0/32"]}))],
     [("no-ranges", AKS, changed(CLUSTER, "apiServerAccessProfile", {"authorizedIPRanges": []})),
      ("no-profile", AKS, changed(CLUSTER, "apiServerAccessProfile", {})),
      ("vnet-integration-alone", AKS, changed(CLUSTER, "apiServerAccessProfile", {"enableVnetIntegration": True, "subnetId": "/s/snet-api"})),
      ("vnet-integration-open-range", AKS, changed(CLUSTER, "apiServerAccessProfile", {"enableVnetIntegration": True, "authorizedIPRanges": ["0.0.0.0/0"]})),
      ("private-off", AKS, changed(CLUSTER, "apiServerAccessProfile", {"enablePrivateCluster": False})),
      ("everyone-among-ranges", AKS, changed(CLUSTER, "apiServerAccessProfile", {"authorizedIPRanges": ["203.0.113.0/28", "0.0.0.0/0"]})),
      ("ipv6-everyone", AKS, changed(CLUSTER, "apiServerAccessProfile", {"authorizedIPRanges": ["::/0"]})),
      ("half-the-internet", AKS, changed(CLUSTER, "apiServerAccessProfile", {"authorizedIPRanges": ["0.0.0.0/1", "128.0.0.0/1"]})),
      ("not-a-range", AKS, changed(CLUSTER, "apiServerAccessProfile", {"authorizedIPRanges": ["everyone"]}))]),
    ("aks-supported-kubernetes-version", "dev",
     [("pinned", AKS, CLUSTER), ("cluster-default-version", AKS, changed(CLUSTER, "kubernetesVersion", DELETE)),
      ("pool-follows-cluster", POOL, changed(AGENT_POOL, "orchestratorVersion", DELETE)),
      ("inline-pool-follows-cluster", AKS, CLUSTER), ("patch-version", POOL, changed(AGENT_POOL, "orchestratorVersion", "1.33.2")),
      ("v-prefix", POOL, changed(AGENT_POOL, "orchestratorVersion", "v1.34"))],
     [("cluster", AKS, changed(CLUSTER, "kubernetesVersion", "1.29")),
      ("inline-pool", AKS, changed(CLUSTER, "agentPoolProfiles", [POOL_PROFILE | {"orchestratorVersion": "1.29.9"}])),
      ("standalone-pool", POOL, changed(AGENT_POOL, "orchestratorVersion", "1.31")),
      ("not-a-version", POOL, changed(AGENT_POOL, "orchestratorVersion", "latest"))]),
    ("aks-no-node-public-ip", "dev",
     [("inline", AKS, CLUSTER), ("standalone", POOL, AGENT_POOL), ("explicitly-off", POOL, AGENT_POOL | {"enableNodePublicIP": False})],
     [("inline", AKS, changed(CLUSTER, "agentPoolProfiles", [POOL_PROFILE, POOL_PROFILE | {"name": "user", "enableNodePublicIP": True}])),
      ("standalone", POOL, AGENT_POOL | {"enableNodePublicIP": True})]),
    ("aks-node-os-upgrades", "dev",
     [("default-node-image", AKS, CLUSTER), ("node-image", AKS, CLUSTER | {"autoUpgradeProfile": {"nodeOSUpgradeChannel": "NodeImage"}}),
      ("security-patch", AKS, CLUSTER | {"autoUpgradeProfile": {"nodeOSUpgradeChannel": "SecurityPatch", "upgradeChannel": "patch"}})],
     [("none", AKS, CLUSTER | {"autoUpgradeProfile": {"nodeOSUpgradeChannel": "None"}}),
      ("unmanaged", AKS, CLUSTER | {"autoUpgradeProfile": {"nodeOSUpgradeChannel": "Unmanaged"}}),
      ("lowercase-none", AKS, CLUSTER | {"autoUpgradeProfile": {"nodeOSUpgradeChannel": "none"}})]),
    ("aks-azure-policy-addon", "dev",
     [("on", AKS, changed(CLUSTER, "addonProfiles.azurepolicy", {"enabled": True})),
      ("camel-case-key", AKS, changed(CLUSTER, "addonProfiles.azurePolicy", {"enabled": True}))],
     [("missing", AKS, CLUSTER), ("off", AKS, changed(CLUSTER, "addonProfiles.azurepolicy", {"enabled": False}))]),
]


@pytest.mark.parametrize("policy,stack,compliant,violating", CASES, ids=[c[0] for c in CASES])
def test_network_and_aks_policy(pack, policy, stack, compliant, violating):
    assert_variants(pack, policy, stack, compliant, violating)


def test_production_api_server_is_private_whatever_the_ranges(pack):
    narrow = changed(CLUSTER, "apiServerAccessProfile", PUBLIC_API | {"enableVnetIntegration": True})
    assert_variants(pack, "aks-api-server-restricted", "prod", [("private", AKS, CLUSTER)], [("public-narrow", AKS, narrow)])
