"""Key Vault."""
from .common import PRODUCTION, Rule, get, need

VAULT = "azure-native:keyvault:Vault"
SECRET = "azure-native:keyvault:Secret"
URL = "https://learn.microsoft.com/azure/key-vault/general/security-features"
# SecretAttributes.exp: "Expiry date in seconds since 1970-01-01T00:00:00Z" (Key Vault ARM API, Microsoft.KeyVault
# vaults/secrets, https://learn.microsoft.com/azure/templates/microsoft.keyvault/vaults/secrets); azure-native
# names it `expires`.
EXPIRY_KEYS = ("expires", "exp")


def _secret_expiry(p, c):
    attributes = get(p, "properties.attributes") or {}
    expiry = next((attributes.get(k) for k in EXPIRY_KEYS if attributes.get(k) is not None), None)
    valid = isinstance(expiry, (int, float)) and not isinstance(expiry, bool) and expiry > 0
    return need(valid, f"secret {p.get('secretName') or c.name!r} has no expiry (properties.attributes.expires is {expiry!r})")

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
    Rule(
        "keyvault-secret-expiry",
        "Advisory: Key Vault secrets carry an expiry date (properties.attributes.expires), so a forgotten rotation shows.",
        [SECRET],
        _secret_expiry,
        advisory=True, control="DP-6", checkov="CKV_AZURE_41", remediation="Set properties.attributes.expires from the secret kind's rotation period.",
        url="https://learn.microsoft.com/azure/key-vault/secrets/tutorial-rotation",
    ),
]
