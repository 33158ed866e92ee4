"""Stack policies: properties of the whole stack that no single resource shows."""
from collections import defaultdict

from .common import PRODUCTION, UNKNOWN as UNKNOWN_VALUE, StackRule, get, known, per_resource

LOCK = "azure-native:authorization:ManagementLockByScope"
DIAGNOSTIC = "azure-native:monitor:DiagnosticSetting"
NAMESPACE = "kubernetes:core/v1:Namespace"
TENANT_LABEL = "odoo-platform/tenant"
URL = "https://learn.microsoft.com/azure/azure-resource-manager/management/lock-resources"

# Stateful resources: type -> (ARM path segment, input holding the name).
STATEFUL = {
    "azure-native:keyvault:Vault": ("vaults", "vaultName"),
    "azure-native:dbforpostgresql:Server": ("flexibleServers", "serverName"),
    "azure-native:storage:StorageAccount": ("storageAccounts", "accountName"),
    "azure-native:redisenterprise:RedisEnterprise": ("redisEnterprise", "clusterName"),
    "azure-native:redis:Redis": ("redis", "name"),
    "azure-native:dataprotection:BackupVault": ("backupVaults", "vaultName"),
}
# Resources that offer diagnostic settings, where their setting attaches below the resource id, and the log categories
# that count (any one enabled; the allLogs and audit category groups always count). Categories per resource type:
# https://learn.microsoft.com/azure/azure-monitor/reference/logs-index. An empty tuple: the resource exports metrics
# only (an Azure Managed Redis cluster; its logs are on the database), so an enabled metric category counts.
DIAGNOSABLE = {
    "azure-native:keyvault:Vault": ("vaults", "vaultName", "", ("AuditEvent",)),
    "azure-native:dbforpostgresql:Server": ("flexibleServers", "serverName", "", ("PostgreSQLLogs",)),
    "azure-native:storage:StorageAccount": ("storageAccounts", "accountName", "/blobServices/default", ("StorageRead", "StorageWrite", "StorageDelete")),
    "azure-native:redisenterprise:RedisEnterprise": ("redisEnterprise", "clusterName", "", ()),
    "azure-native:containerservice:ManagedCluster": ("managedClusters", "resourceName", "", ("kube-audit", "kube-audit-admin")),
    "azure-native:network:NetworkSecurityGroup": ("networkSecurityGroups", "networkSecurityGroupName", "", ("NetworkSecurityGroupEvent", "NetworkSecurityGroupRuleCounter")),
    "azure-native:redis:Redis": ("redis", "name", "", ("ConnectedClientList",)),
    "azure-native:containerregistry:Registry": ("registries", "registryName", "", ("ContainerRegistryLoginEvents", "ContainerRegistryRepositoryEvents")),
    "azure-native:dataprotection:BackupVault": ("backupVaults", "vaultName", "", ("CoreAzureBackup", "AddonAzureBackupJobs")),
}
COUNTING_GROUPS = {"alllogs", "audit"}

def _of(resources, type_):
    return [r for r in resources if r.resource_type == type_]


def _arm_tail(r, segment, key) -> str:
    return f"/{segment}/{r.props.get(key) or r.name}"


def _protected_and_locked(resources, c):
    lock_scopes = [str(r.props.get("scope", "")) for r in _of(resources, LOCK) if r.props.get("level") in ("CanNotDelete", "ReadOnly")]
    for r in resources:
        if r.resource_type not in STATEFUL:
            continue
        segment, key = STATEFUL[r.resource_type]
        if not r.opts.protect:
            yield f"{r.resource_type} {r.name!r} is not protected (protect=True)", r.urn
        group = f"/resourceGroups/{r.props.get('resourceGroupName')}"
        tail = _arm_tail(r, segment, key)
        if not any(s.endswith(tail) or s.endswith(group) for s in lock_scopes):
            yield f"{r.resource_type} {r.name!r} has no delete lock on itself or its resource group", r.urn


def _tenant_namespaces(resources):
    return {
        get(r.props, "metadata.name"): r
        for r in _of(resources, NAMESPACE)
        if TENANT_LABEL in (get(r.props, "metadata.labels") or {})
    }


def _default_deny(policy) -> bool:
    spec = policy.props.get("spec") or {}
    return not (spec.get("podSelector") or {}).get("matchLabels") and not (spec.get("podSelector") or {}).get("matchExpressions") \
        and {"Ingress", "Egress"} <= set(spec.get("policyTypes") or []) and not spec.get("ingress") and not spec.get("egress")


def _namespace_guardrails(resources, c):
    by_namespace = defaultdict(lambda: defaultdict(list))
    for r in resources:
        namespace = get(r.props, "metadata.namespace")
        if namespace:
            by_namespace[namespace][r.resource_type.rsplit(":", 1)[-1]].append(r)
    for name, ns in _tenant_namespaces(resources).items():
        objects = by_namespace.get(name, {})
        for kind in ("ResourceQuota", "LimitRange"):
            if not objects.get(kind):
                yield f"tenant namespace {name!r} has no {kind}", ns.urn
        if not any(_default_deny(p) for p in objects.get("NetworkPolicy", [])):
            yield f"tenant namespace {name!r} has no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)", ns.urn


def _enabled(entries) -> list:
    return [e for e in entries or [] if e.get("enabled") is True]


def _exports(setting, categories) -> bool:
    """The setting sends logs the rule counts: an enabled allLogs/audit group or one of `categories`, or, for a
    metrics-only resource, an enabled metric category. A category with enabled: false sends nothing."""
    logs = _enabled(setting.props.get("logs"))
    if not categories:
        return bool(_enabled(setting.props.get("metrics")))
    wanted = {x.lower() for x in categories}
    return any(str(e.get("categoryGroup", "")).lower() in COUNTING_GROUPS or str(e.get("category", "")).lower() in wanted for e in logs)


def _targets(setting, r, tail: str) -> bool:
    """The setting is on `r`: by its resourceUri, or (the id of a resource not created yet is unknown during preview)
    by the resource it was computed from."""
    uri = known(lambda: str(setting.props.get("resourceUri", "")).lower().rstrip("/"))
    if uri is not UNKNOWN_VALUE:
        return uri.endswith(tail)
    deps = setting.property_dependencies.get("resourceUri") if "resourceUri" in setting.property_dependencies else setting.dependencies
    return any(d.urn == r.urn for d in deps or [])


def _diagnostics(resources, c):
    settings = [s for s in _of(resources, DIAGNOSTIC)
                if known(lambda s=s: "/microsoft.operationalinsights/workspaces/" in str(s.props.get("workspaceId", "")).lower(), True)]

    def judge(r):
        if r.resource_type not in DIAGNOSABLE:
            return
        segment, key, child, categories = DIAGNOSABLE[r.resource_type]
        tail = (_arm_tail(r, segment, key) + child).lower()
        if not any(_targets(s, r, tail) and known(lambda s=s: _exports(s, categories), True) for s in settings):
            yield f"{r.resource_type} {r.name!r} sends no {' or '.join(categories) or 'metrics'} logs (allLogs/audit) to a Log Analytics workspace", r.urn

    yield from per_resource(resources, judge)


def _isolation(resources, c):
    owners = defaultdict(set)
    for name, ns in _tenant_namespaces(resources).items():
        annotations = get(ns.props, "metadata.annotations") or {}
        for key in ("odoo-platform/database", "odoo-platform/container", "odoo-platform/host"):
            if annotations.get(key):
                owners[(key.split("/")[1], annotations[key])].add(name)
    for r in _of(resources, "kubernetes:traefik.io/v1alpha1:IngressRoute"):
        namespace = get(r.props, "metadata.namespace")
        for route in get(r.props, "spec.routes") or []:
            for host in _hosts(route.get("match", "")):
                owners[("host", host)].add(namespace)
    for (kind, value), namespaces in sorted(owners.items()):
        if len(namespaces) > 1:
            yield f"{kind} {value!r} is shared by tenant environments {', '.join(sorted(namespaces))}", None


def _hosts(match: str) -> list[str]:
    import re

    return re.findall(r"Host\(`([^`]+)`\)", match)


def _immutable_backups(resources, c):
    """A container-level policy, or the account's default version-level policy (Unlocked or Locked), both count."""
    policies = {(r.props.get("accountName"), r.props.get("containerName")) for r in _of(resources, "azure-native:storage:BlobContainerImmutabilityPolicy")}
    worm_accounts = set()
    for r in _of(resources, "azure-native:storage:StorageAccount"):
        worm = r.props.get("immutableStorageWithVersioning") or {}
        policy = worm.get("immutabilityPolicy") or {}
        if worm.get("enabled") is True and policy.get("state") in ("Unlocked", "Locked") and (policy.get("immutabilityPeriodSinceCreationInDays") or 0) > 0:
            worm_accounts.add(r.props.get("accountName"))
    for r in _of(resources, "azure-native:storage:BlobContainer"):
        account = r.props.get("accountName")
        if r.props.get("containerName") == "backups" and (account, "backups") not in policies and account not in worm_accounts:
            yield f"backup container in account {account!r} has no immutability policy", r.urn


def _servers_without(parameter: str, is_on, what: str):
    """A check that every PostgreSQL server (not a replica: it takes its primary's parameters) sets `parameter` on
    through a Configuration resource (server parameter names are case-insensitive)."""
    def check(resources, c):
        on = {r.props.get("serverName") for r in _of(resources, "azure-native:dbforpostgresql:Configuration")
              if str(r.props.get("configurationName", "")).lower() == parameter and is_on(str(r.props.get("value", "")).strip().lower())}
        for r in _of(resources, "azure-native:dbforpostgresql:Server"):
            if r.props.get("createMode") != "Replica" and r.props.get("serverName") not in on:
                yield f"PostgreSQL server {r.props.get('serverName')!r} does not set {what}", r.urn
    return check


def _logs_connections(value: str) -> bool:
    """log_connections is a boolean up to PostgreSQL 17 and a list of aspects from 18 (`receipt,authentication,...`,
    `all`, or '' for none): https://www.postgresql.org/docs/18/runtime-config-logging.html#GUC-LOG-CONNECTIONS."""
    return value not in ("off", "false", "no", "0", "", "none")


RULES = [
    StackRule(
        "stateful-resources-protected-and-locked",
        "Production stateful resources (Key Vault, PostgreSQL, storage, Redis, backup vaults) are protected and carry a delete lock.",
        _protected_and_locked, tiers=(PRODUCTION,), control="BR-2", remediation="Set protect and a CanNotDelete lock (lock: CanNotDelete).", url=URL,
    ),
    StackRule(
        "tenant-namespace-guardrails",
        "Every tenant namespace has a ResourceQuota, a LimitRange and a default-deny NetworkPolicy.",
        _namespace_guardrails, control="NS-1", remediation="Deploy tenants through OdooTenant.",
        url="https://kubernetes.io/docs/concepts/services-networking/network-policies/",
    ),
    StackRule(
        "diagnostic-settings-present",
        "Every resource that offers diagnostic settings sends its audit logs (enabled categories, or the allLogs/audit group) to the Log Analytics workspace.",
        _diagnostics, control="LT-3", remediation="Pass diagnostics to the component.",
        url="https://learn.microsoft.com/azure/azure-monitor/essentials/diagnostic-settings",
    ),
    StackRule(
        "tenant-isolation",
        "No two tenant environments share a database, a blob container or a host name.",
        _isolation, control="NS-1", remediation="Give each tenant environment its own names (one config entry each).", url="",
    ),
    StackRule(
        "backup-container-immutable",
        "The backup container of every storage account has a time-based immutability policy (its own or the account's version-level one).",
        _immutable_backups, control="BR-2", remediation="Keep ObjectStorage's immutability policy.",
        url="https://learn.microsoft.com/azure/storage/blobs/immutable-storage-overview",
    ),
    StackRule(
        "postgres-secure-transport-enforced",
        "Every PostgreSQL server sets require_secure_transport=on explicitly.",
        _servers_without("require_secure_transport", lambda v: v == "on", "require_secure_transport=on"), control="DP-3", checkov="CKV_AZURE_29", remediation="Keep PostgresServer's server parameters.", url="",
    ),
    StackRule(
        "postgres-log-connections",
        "Advisory: every PostgreSQL server logs connections (log_connections on, set explicitly; never turned off).",
        _servers_without("log_connections", _logs_connections, "log_connections on"), advisory=True, control="LT-3", checkov="CKV_AZURE_31",
        remediation="Keep PostgresServer's server parameters (log_connections on).",
        url="https://www.postgresql.org/docs/current/runtime-config-logging.html#GUC-LOG-CONNECTIONS",
    ),
]
