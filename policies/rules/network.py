"""Network security groups, their rules, and the subnets they protect."""
import ipaddress

from .common import CIS, Rule, need

NSG = "azure-native:network:NetworkSecurityGroup"
RULE = "azure-native:network:SecurityRule"
VNET = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
URL = "https://learn.microsoft.com/azure/virtual-network/network-security-groups-overview"
# Every spelling of "any source" ARM accepts in sourceAddressPrefix(es): the wildcard, the Internet and Any tags
# and the broad AzureCloud tag (every Azure datacenter address, shared by all tenants), regional or not
# (https://learn.microsoft.com/azure/virtual-network/service-tags-overview). ARM reads them without case.
ANY_TAGS = {"*", "internet", "any", "azurecloud"}
MANAGEMENT_PORTS = {22: "SSH", 3389: "RDP", 5985: "WinRM", 5986: "WinRM"}
DATA_PORTS = {5432: "PostgreSQL", 6379: "Redis", 6380: "Redis TLS", 10000: "Azure Managed Redis", 1433: "SQL Server", 3306: "MySQL", 27017: "MongoDB", 9200: "Elasticsearch"}
# Subnets Azure refuses an NSG on: VPN/ExpressRoute gateways ("NSGs on the gateway subnet aren't supported",
# https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-about-vpn-gateway-settings#gwsub), Azure Firewall
# (https://learn.microsoft.com/azure/firewall/firewall-faq "Are Network Security Groups (NSGs) supported on the
# AzureFirewallSubnet?" no) and Route Server (https://learn.microsoft.com/azure/route-server/route-server-faq).
NSG_FORBIDDEN_SUBNETS = {"gatewaysubnet", "azurefirewallsubnet", "azurefirewallmanagementsubnet", "routeserversubnet"}


def _ports(rule) -> set[int]:
    """Every port a rule's destination ranges cover ('*' and 0-65535 are all of them)."""
    ranges = [rule.get("destinationPortRange")] + list(rule.get("destinationPortRanges") or [])
    covered: set[int] = set()
    for r in filter(None, (str(x).strip() for x in ranges if x is not None)):
        if r == "*":
            return set(range(0, 65536))
        low, _, high = r.partition("-")
        try:
            covered.update(range(int(low), int(high or low) + 1))
        except ValueError:
            return set(range(0, 65536))  # ARM rejects it; judge it as the widest
    return covered


def anywhere(source) -> bool:
    """A source prefix that admits any address: a catch-all tag (any case, AzureCloud.<region> too), or a public
    IPv4/IPv6 range of /8 (IPv4) or /32 (IPv6) or wider, 0.0.0.0, 0.0.0.0/0 and ::/0 included."""
    text = str(source).strip().lower()
    if text in ANY_TAGS or text.startswith("azurecloud."):
        return True
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    if text in ("0.0.0.0", "::"):
        return True
    return not network.is_private and network.prefixlen <= (8 if network.version == 4 else 32)


def _sources(rule) -> list[str]:
    return [s for s in [rule.get("sourceAddressPrefix")] + list(rule.get("sourceAddressPrefixes") or []) if s]


def _is(rule, key: str, value: str) -> bool:
    return str(rule.get(key, "")).lower() == value


def _open_inbound(rules, watched: dict[int, str]):
    for rule in rules:
        broad = [s for s in _sources(rule) if anywhere(s)]
        if not _is(rule, "direction", "inbound") or not _is(rule, "access", "allow") or not broad:
            continue
        exposed = sorted({watched[p] for p in _ports(rule) & watched.keys()})
        if exposed:
            yield f"rule {rule.get('name')!r} admits {', '.join(exposed)} from {', '.join(broad)}"


def _rules(p):
    return list(p.get("securityRules") or []) if "securityRules" in p else [p]


def _subnets_without_nsg(p, c):
    subnets = list(p.get("subnets") or []) if c.type == VNET else [p]
    return [f"subnet {s.get('subnetName') or s.get('name') or c.name!r} has no network security group"
            for s in subnets
            if str(s.get("subnetName") or s.get("name") or "").lower() not in NSG_FORBIDDEN_SUBNETS and not (s.get("networkSecurityGroup") or {}).get("id")]


RULES = [
    Rule(
        "nsg-no-management-ports-from-internet",
        "No NSG rule (inline or standalone) admits SSH, RDP or WinRM from any source, the Internet or AzureCloud, in any spelling.",
        [NSG, RULE],
        lambda p, c: list(_open_inbound(_rules(p), MANAGEMENT_PORTS)),
        framework=CIS, control="6.1, 6.2", checkov="CKV_AZURE_9, CKV_AZURE_10", remediation="Use Bastion or private access instead.", url=URL,
    ),
    Rule(
        "nsg-no-data-ports-from-internet",
        "No NSG rule admits database or cache ports (PostgreSQL, Redis, ...) from any source, the Internet or AzureCloud.",
        [NSG, RULE],
        lambda p, c: list(_open_inbound(_rules(p), DATA_PORTS)),
        control="NS-1", remediation="Admit data ports from the VNet only.", url=URL,
    ),
    Rule(
        "nsg-denies-inbound-by-default",
        "NSGs end in an explicit deny-all inbound rule, so an allow is always a deliberate exception.",
        [NSG],
        lambda p, c: need(
            any(_is(r, "direction", "inbound") and _is(r, "access", "deny") and any(anywhere(s) for s in _sources(r)) and len(_ports(r)) == 65536
                for r in p.get("securityRules") or []),
            "no deny-all inbound rule",
        ),
        control="NS-1", remediation="Add a priority-4096 deny-all inbound rule.", url=URL,
    ),
    Rule(
        "subnet-has-nsg",
        "Every subnet (inline in a VNet or standalone) has a network security group, except those Azure forbids one on (GatewaySubnet, AzureFirewallSubnet, RouteServerSubnet).",
        [VNET, SUBNET],
        _subnets_without_nsg,
        control="NS-1", checkov="CKV2_AZURE_31", remediation="Attach the subnet's NSG (LandingZone does for every subnet).", url=URL,
    ),
]
