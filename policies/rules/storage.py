"""Storage accounts, blob services and containers."""
from pulumi_policy import Severity

from .common import CIS, COST, PRODUCTION, RESILIENCE, Rule, get, need

ACCOUNT = "azure-native:storage:StorageAccount"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"
CONTAINER = "azure-native:storage:BlobContainer"
URL = "https://learn.microsoft.com/azure/storage/common/security-recommendations"
GEO_REDUNDANT = {"Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS"}

RULES = [
    Rule(
        "storage-minimum-tls",
        "Storage accounts accept TLS 1.2 or newer only.",
        [ACCOUNT],
        lambda p, c: need(p.get("minimumTlsVersion") in ("TLS1_2", "TLS1_3"), f"minimumTlsVersion is {p.get('minimumTlsVersion')!r}; set TLS1_2"),
        control="DP-3", checkov="CKV_AZURE_44", remediation="Set minimumTlsVersion to TLS1_2.", url=URL,
    ),
    Rule(
        "storage-https-only",
        "Storage accounts refuse plain HTTP.",
        [ACCOUNT],
        lambda p, c: need(p.get("enableHttpsTrafficOnly") is not False, "enableHttpsTrafficOnly is false"),
        control="DP-3", checkov="CKV_AZURE_3", remediation="Set enableHttpsTrafficOnly to true.", url=URL,
    ),
    Rule(
        "storage-no-public-blob-access",
        "No anonymous (public) blob access on storage accounts.",
        [ACCOUNT],
        lambda p, c: need(p.get("allowBlobPublicAccess") is False, "allowBlobPublicAccess must be false"),
        framework=CIS, control="3.7", checkov="CKV_AZURE_190", remediation="Set allowBlobPublicAccess to false.", url=URL,
    ),
    Rule(
        "storage-no-shared-key",
        "Storage accounts authorise with Entra ID only: shared keys off.",
        [ACCOUNT],
        lambda p, c: need(p.get("allowSharedKeyAccess") is False, "allowSharedKeyAccess must be false (use Entra ID and RBAC)"),
        control="IM-1", checkov="CKV2_AZURE_40", remediation="Set allowSharedKeyAccess to false.", url=URL,
    ),
    Rule(
        "storage-network-deny-by-default",
        "Storage account firewalls deny by default and public network access is off.",
        [ACCOUNT],
        lambda p, c: need(get(p, "networkRuleSet.defaultAction") == "Deny", "networkRuleSet.defaultAction must be Deny")
        + need(p.get("publicNetworkAccess") == "Disabled", f"publicNetworkAccess is {p.get('publicNetworkAccess')!r}; reach the account through its private endpoint"),
        control="NS-2", checkov="CKV_AZURE_35, CKV_AZURE_59", remediation="Set networkRuleSet.defaultAction to Deny and publicNetworkAccess to Disabled.", url=URL,
    ),
    Rule(
        "storage-no-cross-tenant-replication",
        "Object replication to other Entra tenants is off.",
        [ACCOUNT],
        lambda p, c: need(p.get("allowCrossTenantReplication") is False, "allowCrossTenantReplication must be false"),
        control="DP-2", remediation="Set allowCrossTenantReplication to false.", url=URL,
    ),
    Rule(
        "storage-geo-redundant",
        "Production storage replicates across zones and regions (GZRS/GRS family).",
        [ACCOUNT],
        lambda p, c: need(get(p, "sku.name") in GEO_REDUNDANT, f"sku {get(p, 'sku.name')!r} is not geo-redundant; use Standard_RAGZRS"),
        category=RESILIENCE, tiers=(PRODUCTION,), control="BR-1", checkov="CKV_AZURE_206", remediation="Use sku Standard_RAGZRS.", url=URL,
    ),
    Rule(
        "blob-soft-delete",
        "Blob and container soft delete keep deleted data for the minimum retention.",
        [BLOB_SERVICE],
        lambda p, c: _soft_delete(p, c),
        category=RESILIENCE, control="BR-1", checkov="CKV2_AZURE_38",
        remediation="Enable deleteRetentionPolicy and containerDeleteRetentionPolicy with enough days.", url=URL,
        config={"minProductionDays": {"type": "integer", "default": 30}, "minNonProductionDays": {"type": "integer", "default": 7}},
    ),
    Rule(
        "blob-versioning",
        "Blob versioning and change feed are on (point-in-time restore needs both).",
        [BLOB_SERVICE],
        lambda p, c: need(p.get("isVersioningEnabled") is True, "isVersioningEnabled must be true")
        + need(get(p, "changeFeed.enabled") is True, "changeFeed.enabled must be true"),
        category=RESILIENCE, tiers=(PRODUCTION,), control="BR-1", remediation="Enable isVersioningEnabled and changeFeed.", url=URL,
    ),
    Rule(
        "blob-container-private",
        "Blob containers allow no anonymous access.",
        [CONTAINER],
        lambda p, c: need(p.get("publicAccess") in (None, "None"), f"publicAccess is {p.get('publicAccess')!r}; use None"),
        framework=CIS, control="3.7", checkov="CKV_AZURE_34", remediation="Set publicAccess to None.", url=URL,
    ),
    Rule(
        "storage-access-tier-hot-or-cool",
        "Accounts hold live attachments in Hot or Cool; archive data moves by lifecycle rules, not account defaults.",
        [ACCOUNT],
        lambda p, c: need(p.get("accessTier") in (None, "Hot", "Cool"), f"accessTier {p.get('accessTier')!r} makes attachments slow and costly to read"),
        category=COST, severity=Severity.LOW, control="-", remediation="Use accessTier Hot and a lifecycle policy.", url=URL,
    ),
]


def _soft_delete(p, c):
    minimum = c.config.get("minProductionDays" if c.production else "minNonProductionDays", 30 if c.production else 7)
    problems = []
    for key in ("deleteRetentionPolicy", "containerDeleteRetentionPolicy"):
        policy = p.get(key) or {}
        if policy.get("enabled") is not True or (policy.get("days") or 0) < minimum:
            problems.append(f"{key} must be enabled with at least {minimum} days (is {dict(policy) or 'unset'})")
    return problems
