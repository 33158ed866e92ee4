"""Key Vault."""
from .common import PRODUCTION, Rule, get, need

VAULT = "azure-native:keyvault:Vault"
URL = "https://learn.microsoft.com/azure/key-vault/general/security-features"

RULES = [
    Rule(
        "keyvault-purge-protection",
        "Key Vaults have purge protection on.",
        [VAULT],
        lambda p, c: need(get(p, "properties.enablePurgeProtection") is True, "properties.enablePurgeProtection must be true"),
        control="DP-8", checkov="CKV_AZURE_110", remediation="Set properties.enablePurgeProtection to true.", url=URL,
    ),
    Rule(
        "keyvault-soft-delete",
        "Key Vaults keep deleted secrets for the minimum soft-delete retention (90 days by default).",
        [VAULT],
        lambda p, c: need(
            get(p, "properties.enableSoftDelete", True) is not False
            and get(p, "properties.softDeleteRetentionInDays", 90) >= int(c.config.get("minRetentionDays", 90)),
            f"soft delete must be on with at least {c.config.get('minRetentionDays', 90)} days",
        ),
        control="DP-8", checkov="CKV_AZURE_42", remediation="Set enableSoftDelete true and softDeleteRetentionInDays 90.", url=URL,
        config={"minRetentionDays": {"type": "integer", "default": 90}},
    ),
    Rule(
        "keyvault-rbac-authorization",
        "Key Vaults authorise data access with Azure RBAC, not access policies.",
        [VAULT],
        lambda p, c: need(get(p, "properties.enableRbacAuthorization") is True, "properties.enableRbacAuthorization must be true"),
        control="PA-7", remediation="Set properties.enableRbacAuthorization to true.", url=URL,
    ),
    Rule(
        "keyvault-firewall",
        "Key Vault firewalls deny by default.",
        [VAULT],
        lambda p, c: need(get(p, "properties.networkAcls.defaultAction") == "Deny", "properties.networkAcls.defaultAction must be Deny"),
        control="NS-2", checkov="CKV_AZURE_109", remediation="Set networkAcls.defaultAction to Deny.", url=URL,
    ),
    Rule(
        "keyvault-private-in-production",
        "Production Key Vaults have public network access disabled.",
        [VAULT],
        lambda p, c: need(get(p, "properties.publicNetworkAccess") == "Disabled", f"properties.publicNetworkAccess is {get(p, 'properties.publicNetworkAccess')!r}"),
        tiers=(PRODUCTION,), control="NS-2", checkov="CKV_AZURE_189", remediation="Set publicNetworkAccess to Disabled; deploy from inside the VNet.", url=URL,
    ),
]
