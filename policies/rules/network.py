"""Network security groups and their rules."""
from .common import CIS, Rule, need

NSG = "azure-native:network:NetworkSecurityGroup"
RULE = "azure-native:network:SecurityRule"
URL = "https://learn.microsoft.com/azure/virtual-network/network-security-groups-overview"
ANYWHERE = {"*", "0.0.0.0/0", "Internet", "Any", "any", "internet"}
MANAGEMENT_PORTS = {22: "SSH", 3389: "RDP", 5985: "WinRM", 5986: "WinRM"}
DATA_PORTS = {5432: "PostgreSQL", 6379: "Redis", 6380: "Redis TLS", 10000: "Azure Managed Redis", 1433: "SQL Server", 3306: "MySQL", 27017: "MongoDB", 9200: "Elasticsearch"}


def _ports(rule) -> set[int]:
    """Every port a rule's destination ranges cover ('*' is all of them)."""
    ranges = [rule.get("destinationPortRange")] + list(rule.get("destinationPortRanges") or [])
    covered: set[int] = set()
    for r in filter(None, ranges):
        if r == "*":
            return set(range(1, 65536))
        low, _, high = str(r).partition("-")
        covered.update(range(int(low), int(high or low) + 1))
    return covered


def _sources(rule) -> set[str]:
    return {s for s in [rule.get("sourceAddressPrefix")] + list(rule.get("sourceAddressPrefixes") or []) if s}


def _open_inbound(rules, watched: dict[int, str]):
    for rule in rules:
        if rule.get("direction") != "Inbound" or rule.get("access") != "Allow" or not (_sources(rule) & ANYWHERE):
            continue
        exposed = sorted({watched[p] for p in _ports(rule) & watched.keys()})
        if exposed:
            yield f"rule {rule.get('name')!r} admits {', '.join(exposed)} from {', '.join(sorted(_sources(rule) & ANYWHERE))}"


def _rules(p):
    return list(p.get("securityRules") or []) if "securityRules" in p else [p]


RULES = [
    Rule(
        "nsg-no-management-ports-from-internet",
        "No NSG rule admits SSH, RDP or WinRM from any source or the Internet.",
        [NSG, RULE],
        lambda p, c: list(_open_inbound(_rules(p), MANAGEMENT_PORTS)),
        framework=CIS, control="6.1, 6.2", checkov="CKV_AZURE_9, CKV_AZURE_10", remediation="Use Bastion or private access instead.", url=URL,
    ),
    Rule(
        "nsg-no-data-ports-from-internet",
        "No NSG rule admits database or cache ports (PostgreSQL, Redis, ...) from any source or the Internet.",
        [NSG, RULE],
        lambda p, c: list(_open_inbound(_rules(p), DATA_PORTS)),
        control="NS-1", remediation="Admit data ports from the VNet only.", url=URL,
    ),
    Rule(
        "nsg-denies-inbound-by-default",
        "NSGs end in an explicit deny-all inbound rule, so an allow is always a deliberate exception.",
        [NSG],
        lambda p, c: need(
            any(
                r.get("direction") == "Inbound" and r.get("access") == "Deny" and _sources(r) & ANYWHERE and r.get("destinationPortRange") == "*"
                for r in p.get("securityRules") or []
            ),
            "no deny-all inbound rule",
        ),
        control="NS-1", remediation="Add a priority-4096 deny-all inbound rule.", url=URL,
    ),
]
