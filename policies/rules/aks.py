"""AKS clusters and agent pools."""
import ipaddress

from .common import CIS_K8S, PRODUCTION, RESILIENCE, Rule, get, need

CLUSTER = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
URL = "https://learn.microsoft.com/azure/aks/concepts-security"
ZONES = {"1", "2", "3"}


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in str(version).split(".") if x.isdigit())


def _api_server(p, c):
    access = p.get("apiServerAccessProfile") or {}
    if access.get("enablePrivateCluster") is True or access.get("enableVnetIntegration") is True and not access.get("authorizedIPRanges"):
        return []
    if c.production:
        return ["production API servers are private (enablePrivateCluster) or VNet-integrated"]
    ranges = list(access.get("authorizedIPRanges") or [])
    if not ranges:
        return ["the public API server admits every address: set apiServerAccessProfile.authorizedIPRanges"]
    wide = [r for r in ranges if ipaddress.ip_network(r, strict=False).prefixlen < int(c.config.get("minPrefixLength", 16))]
    return [f"authorizedIPRanges {wide} are too wide"] if wide else []


def _pools(p):
    return list(p.get("agentPoolProfiles") or []) if "agentPoolProfiles" in p else [p]


def _zones(p, c):
    return [
        f"pool {pool.get('name') or c.name!r} spans zones {sorted(pool.get('availabilityZones') or [])}; production needs 1, 2 and 3"
        for pool in _pools(p)
        if set(pool.get("availabilityZones") or []) != ZONES
    ]


def _system_nodes(p, c):
    minimum = int(c.config.get("minSystemNodes", 3))
    return [
        f"system pool {pool.get('name')!r} may shrink to {pool.get('minCount') or pool.get('count')} nodes; keep at least {minimum}"
        for pool in p.get("agentPoolProfiles") or []
        if pool.get("mode") == "System" and (pool.get("minCount") or pool.get("count") or 0) < minimum
    ]


RULES = [
    Rule(
        "aks-rbac",
        "AKS uses Kubernetes RBAC with Entra ID integration and Azure RBAC for authorisation.",
        [CLUSTER],
        lambda p, c: need(p.get("enableRBAC") is not False, "enableRBAC must be true")
        + need(get(p, "aadProfile.managed") is True and get(p, "aadProfile.enableAzureRBAC") is True, "aadProfile must be managed with enableAzureRBAC"),
        control="PA-7", checkov="CKV_AZURE_5", remediation="Enable managed Entra integration with Azure RBAC.", url=URL,
    ),
    Rule(
        "aks-local-accounts-disabled",
        "AKS local accounts (static admin credentials) are disabled.",
        [CLUSTER],
        lambda p, c: need(p.get("disableLocalAccounts") is True, "disableLocalAccounts must be true"),
        control="IM-1", checkov="CKV_AZURE_141", remediation="Set disableLocalAccounts to true.", url=URL,
    ),
    Rule(
        "aks-network-policy",
        "AKS enforces Kubernetes network policies (Cilium, Azure or Calico).",
        [CLUSTER],
        lambda p, c: need(get(p, "networkProfile.networkPolicy") in ("cilium", "azure", "calico"), f"networkProfile.networkPolicy is {get(p, 'networkProfile.networkPolicy')!r}"),
        framework=CIS_K8S, control="5.3.2", checkov="CKV_AZURE_7", remediation="Set networkProfile.networkPolicy to cilium.", url=URL,
    ),
    Rule(
        "aks-api-server-restricted",
        "The AKS API server is private in production and limited to named CIDRs elsewhere.",
        [CLUSTER],
        _api_server,
        control="NS-2", checkov="CKV_AZURE_6, CKV_AZURE_115", remediation="Make the cluster private, or set authorizedIPRanges.", url=URL,
        config={"minPrefixLength": {"type": "integer", "default": 16}},
    ),
    Rule(
        "aks-workload-identity",
        "AKS issues OIDC tokens and runs workload identity (no secrets for Azure access in pods).",
        [CLUSTER],
        lambda p, c: need(get(p, "oidcIssuerProfile.enabled") is True, "oidcIssuerProfile.enabled must be true")
        + need(get(p, "securityProfile.workloadIdentity.enabled") is True, "securityProfile.workloadIdentity.enabled must be true"),
        control="IM-3", remediation="Enable the OIDC issuer and workload identity.", url=URL,
    ),
    Rule(
        "aks-monitoring",
        "AKS sends container logs to Log Analytics (Container Insights) and metrics to managed Prometheus.",
        [CLUSTER],
        lambda p, c: need(get(p, "addonProfiles.omsagent.enabled") is True, "addonProfiles.omsagent must be enabled")
        + need(get(p, "azureMonitorProfile.metrics.enabled") is True, "azureMonitorProfile.metrics must be enabled"),
        control="LT-3", checkov="CKV_AZURE_4", remediation="Enable omsagent and azureMonitorProfile.metrics.", url=URL,
    ),
    Rule(
        "aks-secrets-store-rotation",
        "The Key Vault secrets provider add-on is on and rotates secrets.",
        [CLUSTER],
        lambda p, c: need(
            get(p, "addonProfiles.azureKeyvaultSecretsProvider.enabled") is True
            and get(p, "addonProfiles.azureKeyvaultSecretsProvider.config.enableSecretRotation") == "true",
            "azureKeyvaultSecretsProvider must be enabled with enableSecretRotation",
        ),
        control="DP-7", checkov="CKV_AZURE_172", remediation="Enable the add-on with enableSecretRotation true.", url=URL,
    ),
    Rule(
        "aks-supported-kubernetes-version",
        "AKS runs a supported Kubernetes version (1.32 or newer by default).",
        [CLUSTER, POOL],
        lambda p, c: need(
            _version_tuple(p.get("kubernetesVersion") or p.get("orchestratorVersion") or "0") >= _version_tuple(c.config.get("minVersion", "1.32")),
            f"Kubernetes {p.get('kubernetesVersion') or p.get('orchestratorVersion')!r} is older than {c.config.get('minVersion', '1.32')}",
        ),
        control="PV-5", remediation="Raise kubernetesVersion.", url=URL,
        config={"minVersion": {"type": "string", "default": "1.32"}},
    ),
    Rule(
        "aks-encryption-at-host",
        "AKS node disks and caches are encrypted at host.",
        [CLUSTER, POOL],
        lambda p, c: [f"pool {pool.get('name') or c.name!r} lacks enableEncryptionAtHost" for pool in _pools(p) if pool.get("enableEncryptionAtHost") is not True],
        control="DP-5", checkov="CKV_AZURE_227", remediation="Set enableEncryptionAtHost on every pool.", url=URL,
    ),
    Rule(
        "aks-uptime-sla",
        "Production AKS runs the Standard tier (financially backed API server SLA).",
        [CLUSTER],
        lambda p, c: need(get(p, "sku.tier") in ("Standard", "Premium"), f"sku.tier is {get(p, 'sku.tier')!r}"),
        category=RESILIENCE, tiers=(PRODUCTION,), control="BR-1", checkov="CKV_AZURE_170", remediation="Set sku.tier to Standard.", url=URL,
    ),
    Rule(
        "aks-zones",
        "Production AKS spreads every node pool over availability zones 1, 2 and 3.",
        [CLUSTER, POOL],
        _zones,
        category=RESILIENCE, tiers=(PRODUCTION,), control="BR-1", remediation="Set availabilityZones to 1, 2, 3.", url=URL,
    ),
    Rule(
        "aks-minimum-system-nodes",
        "Production AKS never runs fewer than 3 system nodes.",
        [CLUSTER],
        _system_nodes,
        category=RESILIENCE, tiers=(PRODUCTION,), control="BR-1", remediation="Raise the system pool's minCount to 3.", url=URL,
        config={"minSystemNodes": {"type": "integer", "default": 3}},
    ),
    Rule(
        "aks-defender",
        "Production AKS runs Microsoft Defender for Containers.",
        [CLUSTER],
        lambda p, c: need(get(p, "securityProfile.defender.securityMonitoring.enabled") is True, "securityProfile.defender.securityMonitoring must be enabled"),
        tiers=(PRODUCTION,), control="LT-1", remediation="Enable securityProfile.defender.", url=URL,
    ),
]
