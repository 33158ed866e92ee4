"""AKS clusters and agent pools."""
import ipaddress
import re

from .common import CIS_K8S, PRODUCTION, RESILIENCE, Rule, get, need

CLUSTER = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
URL = "https://learn.microsoft.com/azure/aks/concepts-security"
ZONES = {"1", "2", "3"}


def _version_tuple(version: str) -> tuple[int, ...]:
    """`1.32`, `1.32.4` or `v1.32` -> (1, 32[, 4]); () when it is not a version."""
    text = str(version).strip().lower().removeprefix("v")
    return tuple(int(x) for x in text.split(".")) if re.fullmatch(r"\d+(\.\d+){1,2}", text) else ()


def _versions(p, c):
    """Every version the resource pins: the cluster's kubernetesVersion, each inline pool's orchestratorVersion, a
    standalone pool's. An omitted version is not a violation: the cluster gets AKS's default version (always a supported
    one: https://learn.microsoft.com/azure/aks/supported-kubernetes-versions) and a pool follows the control plane."""
    if c.type == POOL:
        pinned = [(f"pool {p.get('agentPoolName') or c.name!r}", p.get("orchestratorVersion"))]
    else:
        pinned = [("cluster", p.get("kubernetesVersion"))] + [(f"pool {pool.get('name')!r}", pool.get("orchestratorVersion")) for pool in p.get("agentPoolProfiles") or []]
    minimum = _version_tuple(c.config.get("minVersion", "1.32"))
    return [f"{what} runs Kubernetes {version!r}, older than {c.config.get('minVersion', '1.32')}" if _version_tuple(version) else f"{what} names no Kubernetes version: {version!r}"
            for what, version in pinned if version is not None and not (_version_tuple(version) and _version_tuple(version)[:2] >= minimum[:2])]


def _node_public_ips(p, c):
    return [f"pool {pool.get('name') or pool.get('agentPoolName') or c.name!r} gives every node a public IP (enableNodePublicIP)"
            for pool in _pools(p) if pool.get("enableNodePublicIP") is True]


def _node_os_upgrades(p, c):
    """nodeOSUpgradeChannel defaults to NodeImage (ManagedClusterAutoUpgradeProfile in the AKS API); None and Unmanaged
    leave node images unpatched by AKS (https://learn.microsoft.com/azure/aks/auto-upgrade-node-os-image)."""
    channel = get(p, "autoUpgradeProfile.nodeOSUpgradeChannel")
    return [] if channel is None or str(channel).lower() in ("nodeimage", "securitypatch") else [f"autoUpgradeProfile.nodeOSUpgradeChannel is {channel!r}; NodeImage or SecurityPatch required"]


def _azure_policy_addon(p, c):
    """Add-on keys are matched without case (the AKS API accepts `azurepolicy` and `azurePolicy`)."""
    addons = {str(k).lower(): v for k, v in (p.get("addonProfiles") or {}).items()}
    return need((addons.get("azurepolicy") or {}).get("enabled") is True, "addonProfiles.azurepolicy is not enabled: nothing checks what Flux or a person applies")


def _wide(ranges, minimum: int) -> list[str]:
    """Ranges wider than /minimum (IPv4 or IPv6: 0.0.0.0/0 and ::/0 are the widest), or not a range at all."""
    wide = []
    for r in ranges:
        try:
            network = ipaddress.ip_network(str(r).strip(), strict=False)
        except ValueError:
            wide.append(r)
            continue
        if network.prefixlen < minimum:
            wide.append(r)
    return wide


def _api_server(p, c):
    """Only enablePrivateCluster removes the public endpoint. API Server VNet Integration alone keeps it public
    (https://learn.microsoft.com/azure/aks/api-server-vnet-integration), and then authorizedIPRanges decide who reaches it."""
    access = p.get("apiServerAccessProfile") or {}
    if access.get("enablePrivateCluster") is True:
        return []
    if c.production:
        return ["production API servers are private (apiServerAccessProfile.enablePrivateCluster)"]
    ranges = list(access.get("authorizedIPRanges") or [])
    if not ranges:
        return ["the public API server admits every address: set apiServerAccessProfile.authorizedIPRanges"]
    wide = _wide(ranges, int(c.config.get("minPrefixLength", 16)))
    return [f"authorizedIPRanges {wide} are too wide" + (" (the API server is public even with VNet integration)" if access.get("enableVnetIntegration") else "")] if wide else []


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
        "AKS pins no Kubernetes version older than 1.32 (by default) on the cluster or any pool, inline or standalone; an omitted version follows AKS's default or the control plane.",
        [CLUSTER, POOL],
        _versions,
        control="PV-5", remediation="Raise kubernetesVersion and every orchestratorVersion (or omit a pool's to follow the cluster).", url=URL,
        config={"minVersion": {"type": "string", "default": "1.32"}},
    ),
    Rule(
        "aks-no-node-public-ip",
        "No AKS node pool (inline or standalone) gives its nodes public IPs.",
        [CLUSTER, POOL],
        _node_public_ips,
        control="NS-2", checkov="CKV_AZURE_143", remediation="Remove enableNodePublicIP; reach nodes through the VNet.", url=URL,
    ),
    Rule(
        "aks-node-os-upgrades",
        "AKS node images are patched automatically (nodeOSUpgradeChannel NodeImage or SecurityPatch, never None or Unmanaged).",
        [CLUSTER],
        _node_os_upgrades,
        control="PV-6", remediation="Set autoUpgradeProfile.nodeOSUpgradeChannel to NodeImage and a maintenance window.",
        url="https://learn.microsoft.com/azure/aks/auto-upgrade-node-os-image",
    ),
    Rule(
        "aks-azure-policy-addon",
        "Advisory: the Azure Policy add-on is on, so admission-time guardrails check what Pulumi does not deploy.",
        [CLUSTER],
        _azure_policy_addon,
        advisory=True, control="PV-2", checkov="CKV_AZURE_116", remediation="Enable addonProfiles.azurepolicy.",
        url="https://learn.microsoft.com/azure/governance/policy/concepts/policy-for-kubernetes",
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
