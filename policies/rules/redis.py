"""Azure Managed Redis (redisenterprise) and the retiring Azure Cache for Redis (redis) that users may write by hand."""
from pulumi_policy import Severity

from .common import COST, PRODUCTION, RESILIENCE, Rule, get, need

AMR = "azure-native:redisenterprise:RedisEnterprise"
AMR_DATABASE = "azure-native:redisenterprise:Database"
LEGACY = "azure-native:redis:Redis"
URL = "https://learn.microsoft.com/azure/redis/overview"

def _high_availability(p):
    if get(p, "sku.family") is not None:  # Azure Cache for Redis: zone redundancy is Premium with zones
        return need(len(p.get("zones") or []) >= 2, "production Azure Cache for Redis needs at least two zones")
    return need(p.get("highAvailability") == "Enabled", "highAvailability must be Enabled")


RULES = [
    Rule(
        "redis-minimum-tls",
        "Redis accepts TLS 1.2 or newer only.",
        [AMR, LEGACY],
        lambda p, c: need(str(p.get("minimumTlsVersion")) in ("1.2", "1.3"), f"minimumTlsVersion is {p.get('minimumTlsVersion')!r}"),
        control="DP-3", checkov="CKV_AZURE_148", remediation="Set minimumTlsVersion to 1.2.", url=URL,
    ),
    Rule(
        "redis-no-public-access",
        "Redis is reachable only through its private endpoint.",
        [AMR, LEGACY],
        lambda p, c: need(p.get("publicNetworkAccess") == "Disabled", f"publicNetworkAccess is {p.get('publicNetworkAccess')!r}"),
        control="NS-2", checkov="CKV_AZURE_89", remediation="Set publicNetworkAccess to Disabled and add a private endpoint.", url=URL,
    ),
    Rule(
        "redis-encrypted-client-protocol",
        "Clients speak TLS to Redis: encrypted protocol on Azure Managed Redis, no non-TLS port on Azure Cache for Redis.",
        [AMR_DATABASE, LEGACY],
        lambda p, c: need(p.get("clientProtocol", "Encrypted") == "Encrypted", "clientProtocol must be Encrypted")
        + need(p.get("enableNonSslPort") is not True, "enableNonSslPort must be false"),
        control="DP-3", checkov="CKV_AZURE_91", remediation="Use clientProtocol Encrypted / enableNonSslPort false.", url=URL,
    ),
    Rule(
        "redis-high-availability",
        "Production Redis is highly available (replicated across zones).",
        [AMR, LEGACY],
        lambda p, c: _high_availability(p),
        category=RESILIENCE, tiers=(PRODUCTION,), control="BR-1", remediation="Enable high availability / zones.", url=URL,
    ),
    Rule(
        "redis-persistence",
        "Production Azure Managed Redis persists data (AOF or RDB).",
        [AMR_DATABASE],
        lambda p, c: need(bool(get(p, "persistence.aofEnabled") or get(p, "persistence.rdbEnabled")), "persistence must enable AOF or RDB"),
        category=RESILIENCE, tiers=(PRODUCTION,), control="BR-1", remediation="Set persistence.aofEnabled with aofFrequency 1s.", url=URL,
    ),
    Rule(
        "redis-production-sku",
        "Production Azure Cache for Redis is Premium (zones, persistence); Basic has no SLA.",
        [LEGACY],
        lambda p, c: need(get(p, "sku.name") == "Premium", f"sku {get(p, 'sku.name')!r} is not Premium"),
        category=COST, tiers=(PRODUCTION,), control="-", remediation="Use Azure Managed Redis, or Premium.", url=URL,
    ),
    Rule(
        "redis-retiring-service",
        "Azure Cache for Redis is retiring (Basic/Standard/Premium end 2028-09-30): new caches use Azure Managed Redis.",
        [LEGACY],
        lambda p, c: ["Azure Cache for Redis is retiring; use azure-native:redisenterprise (Azure Managed Redis)"],
        category=COST, severity=Severity.MEDIUM, control="-", remediation="Move to redisenterprise.RedisEnterprise.", url=URL,
    ),
]
