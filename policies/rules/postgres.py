"""PostgreSQL Flexible Server, its firewall rules and server parameters."""
import ipaddress

from .common import COST, PRODUCTION, RESILIENCE, Rule, get, need

SERVER = "azure-native:dbforpostgresql:Server"
FIREWALL = "azure-native:dbforpostgresql:FirewallRule"
CONFIGURATION = "azure-native:dbforpostgresql:Configuration"
URL = "https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-security"


def _primary(p) -> bool:
    """Replicas inherit backups and HA settings from their source."""
    return p.get("createMode") not in ("Replica",)


def _version(p, c):
    minimum = int(c.config.get("minVersion", 16))
    version = p.get("version")
    if version is None or not str(version).isdigit() or int(version) < minimum:
        return [f"version {version!r} is below the supported minimum {minimum}"]
    return []


def _retention(p, c):
    if not _primary(p):
        return []
    minimum = c.config.get("minProductionDays" if c.production else "minNonProductionDays", 35 if c.production else 7)
    days = get(p, "backup.backupRetentionDays", 7)
    return need(days >= minimum, f"backup.backupRetentionDays is {days}; at least {minimum} required")


def _open_range(p, c):
    start, end = p.get("startIpAddress", ""), p.get("endIpAddress", "")
    try:
        size = int(ipaddress.IPv4Address(end)) - int(ipaddress.IPv4Address(start)) + 1
    except ValueError:
        return [f"invalid firewall range {start}-{end}"]
    if start == "0.0.0.0":
        return [f"firewall range {start}-{end} admits all Azure services or the whole Internet"]
    maximum = int(c.config.get("maxAddresses", 256))
    return need(size <= maximum, f"firewall range {start}-{end} admits {size} addresses (more than {maximum})")


RULES = [
    Rule(
        "postgres-supported-version",
        "PostgreSQL servers run a supported major version (16 or newer by default).",
        [SERVER],
        lambda p, c: _version(p, c) if _primary(p) else [],
        control="PV-5", remediation="Set version to 16 or newer.", url=URL,
        config={"minVersion": {"type": "integer", "default": 16}},
    ),
    Rule(
        "postgres-private-access",
        "PostgreSQL servers have public network access disabled (delegated subnet or private endpoint).",
        [SERVER],
        lambda p, c: need(get(p, "network.publicNetworkAccess") == "Disabled", f"network.publicNetworkAccess is {get(p, 'network.publicNetworkAccess')!r}"),
        control="NS-2", checkov="CKV_AZURE_68", remediation="Use a delegated subnet and set network.publicNetworkAccess to Disabled.", url=URL,
    ),
    Rule(
        "postgres-entra-authentication",
        "PostgreSQL servers accept Microsoft Entra ID authentication for administrators.",
        [SERVER],
        lambda p, c: need(get(p, "authConfig.activeDirectoryAuth") == "Enabled", "authConfig.activeDirectoryAuth must be Enabled") if _primary(p) else [],
        control="IM-1", remediation="Set authConfig.activeDirectoryAuth to Enabled and add an Entra administrator group.", url=URL,
    ),
    Rule(
        "postgres-high-availability",
        "Production PostgreSQL runs zone-redundant high availability.",
        [SERVER],
        lambda p, c: need(get(p, "highAvailability.mode") == "ZoneRedundant", f"highAvailability.mode is {get(p, 'highAvailability.mode')!r}") if _primary(p) else [],
        category=RESILIENCE, tiers=(PRODUCTION,), control="BR-1", remediation="Set highAvailability.mode to ZoneRedundant.", url=URL,
    ),
    Rule(
        "postgres-geo-redundant-backup",
        "Production PostgreSQL backups are geo-redundant.",
        [SERVER],
        lambda p, c: need(get(p, "backup.geoRedundantBackup") == "Enabled", "backup.geoRedundantBackup must be Enabled") if _primary(p) else [],
        category=RESILIENCE, tiers=(PRODUCTION,), control="BR-1", checkov="CKV_AZURE_136", remediation="Set backup.geoRedundantBackup to Enabled.", url=URL,
    ),
    Rule(
        "postgres-backup-retention",
        "PostgreSQL point-in-time restore keeps the minimum retention (35 days in production, 7 otherwise).",
        [SERVER],
        _retention,
        category=RESILIENCE, control="BR-1", remediation="Raise backup.backupRetentionDays.", url=URL,
        config={"minProductionDays": {"type": "integer", "default": 35}, "minNonProductionDays": {"type": "integer", "default": 7}},
    ),
    Rule(
        "postgres-production-sku",
        "Production PostgreSQL runs General Purpose or Memory Optimized compute, not Burstable.",
        [SERVER],
        lambda p, c: need(get(p, "sku.tier") in ("GeneralPurpose", "MemoryOptimized"), f"sku.tier {get(p, 'sku.tier')!r} has no sustained CPU for production"),
        category=COST, tiers=(PRODUCTION,), control="-", remediation="Use a GeneralPurpose or MemoryOptimized SKU.", url=URL,
    ),
    Rule(
        "postgres-no-open-firewall",
        "PostgreSQL firewall rules never admit all Azure services, the Internet or large ranges.",
        [FIREWALL],
        _open_range,
        control="NS-2", remediation="Remove the rule; use private access.", url=URL,
        config={"maxAddresses": {"type": "integer", "default": 256}},
    ),
    Rule(
        "postgres-secure-transport",
        "PostgreSQL require_secure_transport is never turned off.",
        [CONFIGURATION],
        lambda p, c: need(
            p.get("configurationName") != "require_secure_transport" or str(p.get("value", "")).lower() == "on",
            f"require_secure_transport is {p.get('value')!r}",
        ),
        control="DP-3", checkov="CKV_AZURE_29", remediation="Set require_secure_transport to on.", url=URL,
    ),
]
