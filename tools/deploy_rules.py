"""Deployment rules: what Azure, Kubernetes and the charts reject or break, and mocks accept.

Each rule reads the plan (the resources the program registered, with inputs, dependencies and
options) and encodes one documented behaviour, with its source in the rule's docstring. The
offline preview runs every rule on every plan and fails on a finding; `tests/test_deploy_rules.py`
has a compliant and a violating case per rule.
"""
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Iterable, Iterator, Optional

from components.tier import tier_for_stack

AZURE = "azure-native:"
K8S_POD_KINDS = {
    "kubernetes:core/v1:Pod": lambda spec: spec,
    "kubernetes:apps/v1:Deployment": lambda spec: spec.get("template", {}).get("spec", {}),
    "kubernetes:apps/v1:StatefulSet": lambda spec: spec.get("template", {}).get("spec", {}),
    "kubernetes:apps/v1:DaemonSet": lambda spec: spec.get("template", {}).get("spec", {}),
    "kubernetes:apps/v1:ReplicaSet": lambda spec: spec.get("template", {}).get("spec", {}),
    "kubernetes:batch/v1:Job": lambda spec: spec.get("template", {}).get("spec", {}),
    "kubernetes:batch/v1:CronJob": lambda spec: spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {}),
}
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# Built-in role definition ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"


@dataclass(frozen=True)
class Finding:
    rule: str
    urn: str
    message: str

    def line(self) -> str:
        return f"[{self.rule}] {self.urn.split('::')[-1]}: {self.message}"


def arm_type(resource_id: str) -> str:
    """`Microsoft.Storage/storageAccounts/blobServices` for a blob service id (the last provider segment wins)."""
    path = resource_id.rsplit("/providers/", 1)[-1].strip("/").split("/")
    return "/".join([path[0], *path[1::2]]) if len(path) > 1 else ""


def stack_of(urn: str) -> str:
    return urn.split("::")[0].removeprefix("urn:pulumi:")


def last_name(resource_id: str, kind: str) -> Optional[str]:
    """The name after `/<kind>/` in an ARM id (case-insensitive), e.g. the registry of a role assignment scope."""
    match = re.search(rf"/{kind}/([^/]+)", resource_id, re.IGNORECASE)
    return match.group(1) if match else None


class Plan:
    """The plan's resources with the lookups rules need: by type, by URN, and transitive dependencies."""

    def __init__(self, resources: list[dict[str, Any]]):
        self.resources = resources
        self.by_urn = {r["urn"]: r for r in resources}
        self._children: dict[str, list[str]] = {}
        for r in resources:
            if r.get("parent"):
                self._children.setdefault(r["parent"], []).append(r["urn"])
        self._closure: dict[str, frozenset[str]] = {}

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] in types]

    def _descendants(self, urn: str) -> Iterator[str]:
        for child in self._children.get(urn, []):
            yield child
            yield from self._descendants(child)

    def waits_for(self, urn: str) -> frozenset[str]:
        """Every resource `urn` is created after: its dependencies and its provider, transitively; a component stands
        for all it holds."""
        if urn in self._closure:
            return self._closure[urn]
        self._closure[urn] = frozenset()  # cycles cannot occur in a plan; guard anyway
        seen: set[str] = set()
        resource = self.by_urn.get(urn, {})
        for dep in [*resource.get("dependencies", []), *([resource["provider"]] if resource.get("provider") else [])]:
            for target in (dep, *self._descendants(dep)):
                if target not in seen:
                    seen.add(target)
                    seen |= self.waits_for(target)
        self._closure[urn] = frozenset(seen)
        return self._closure[urn]

    def ordered(self, a: str, b: str) -> bool:
        return a in self.waits_for(b) or b in self.waits_for(a)

    @cached_property
    def pods(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(resource, pod spec) for every Kubernetes object that carries a pod template."""
        found = []
        for r in self.resources:
            spec_of = K8S_POD_KINDS.get(r["type"])
            if spec_of is not None:
                found.append((r, spec_of(r["inputs"].get("spec") or {})))
        return found


Rule = Callable[[Plan], Iterable[Finding]]
RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn

    return register


def _serialised(plan: Plan, rule_name: str, what: str, groups: dict[str, list[dict[str, Any]]]) -> Iterator[Finding]:
    for parent, operations in groups.items():
        for i, a in enumerate(operations):
            for b in operations[i + 1 :]:
                if not plan.ordered(a["urn"], b["urn"]):
                    yield Finding(rule_name, b["urn"], f"runs at the same time as {a['name']} on {what} {parent}; chain them with depends_on")
                    break


@rule("serial-postgres-operations")
def serial_postgres_operations(plan: Plan) -> Iterator[Finding]:
    """One operation at a time per Flexible Server: a second concurrent change fails with `ServerBusy`
    (Azure answers 409 while a configuration, database or admin change is in progress; terraform-provider-azurerm
    locks per server name in postgresql_flexible_server_{configuration,database}_resource.go)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in plan.resources:
        if not r["type"].startswith(AZURE + "dbforpostgresql:"):
            continue
        inputs = r["inputs"]
        server = inputs.get("serverName") if r["type"] != AZURE + "dbforpostgresql:Server" else None
        source = inputs.get("sourceServerResourceId")
        if source:  # a replica is created from, and reconfigures, its source
            server = last_name(source, "flexibleServers")
        if server:
            groups.setdefault(server, []).append(r)
    yield from _serialised(plan, "serial-postgres-operations", "PostgreSQL server", groups)


@rule("serial-aks-operations")
def serial_aks_operations(plan: Plan) -> Iterator[Finding]:
    """One operation at a time per AKS cluster: agent pools, maintenance configurations and extensions created
    together on a cluster that is still settling fail with `OperationNotAllowed: ... another operation is in progress`."""
    kinds = (AZURE + "containerservice:AgentPool", AZURE + "containerservice:MaintenanceConfiguration")
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in plan.of_type(*kinds):
        groups.setdefault(str(r["inputs"].get("resourceName")), []).append(r)
    for r in plan.of_type(AZURE + "kubernetesconfiguration:Extension", AZURE + "kubernetesconfiguration:FluxConfiguration"):
        groups.setdefault(str(r["inputs"].get("clusterName")), []).append(r)
    yield from _serialised(plan, "serial-aks-operations", "AKS cluster", groups)


# What each resource type accepts in a diagnostic setting: (log categories, log category groups, metric categories).
# Source: Azure Monitor "Supported logs" and "Supported metrics" reference pages per resource type
# (learn.microsoft.com/azure/azure-monitor/reference/supported-logs/microsoft-<provider>-<type>-logs and
# .../supported-metrics/...); storage sub-services export `Capacity` and `Transaction`, not `AllMetrics`.
DIAGNOSTIC_CATEGORIES: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    # learn.microsoft.com/azure/azure-monitor/reference/supported-logs/microsoft-dataprotection-backupvaults-logs;
    # metrics: the "Supported metrics" page of backupVaults (category Health).
    "Microsoft.DataProtection/backupVaults": (
        frozenset({"AddonAzureBackupJobs", "AddonAzureBackupPolicy", "AddonAzureBackupProtectedInstance", "CoreAzureBackup"}),
        frozenset({"allLogs"}),
        frozenset({"Health"}),
    ),
    "Microsoft.Storage/storageAccounts": (frozenset(), frozenset(), frozenset({"Capacity", "Transaction"})),
    "Microsoft.Storage/storageAccounts/blobServices": (
        frozenset({"StorageRead", "StorageWrite", "StorageDelete"}),
        frozenset({"allLogs", "audit"}),
        frozenset({"Capacity", "Transaction"}),
    ),
    "Microsoft.KeyVault/vaults": (frozenset({"AuditEvent", "AzurePolicyEvaluationDetails"}), frozenset({"allLogs", "audit"}), frozenset({"AllMetrics"})),
    "Microsoft.DBforPostgreSQL/flexibleServers": (
        frozenset({"PostgreSQLLogs", "PostgreSQLFlexSessions", "PostgreSQLFlexQueryStoreRuntime", "PostgreSQLFlexQueryStoreWaitStats",
                   "PostgreSQLFlexTableStats", "PostgreSQLFlexDatabaseXacts"}),
        frozenset({"allLogs", "audit"}),
        frozenset({"AllMetrics"}),
    ),
    "Microsoft.ContainerService/managedClusters": (
        frozenset({"kube-apiserver", "kube-audit", "kube-audit-admin", "kube-controller-manager", "kube-scheduler", "cluster-autoscaler",
                   "cloud-controller-manager", "guard", "csi-azuredisk-controller", "csi-azurefile-controller", "csi-snapshot-controller"}),
        frozenset({"allLogs", "audit"}),
        frozenset({"AllMetrics"}),
    ),
    "Microsoft.Network/networkSecurityGroups": (
        frozenset({"NetworkSecurityGroupEvent", "NetworkSecurityGroupRuleCounter"}),
        frozenset({"allLogs"}),
        frozenset(),
    ),
    "Microsoft.Cache/redisEnterprise": (frozenset(), frozenset(), frozenset({"AllMetrics"})),
    "Microsoft.Cache/redisEnterprise/databases": (frozenset({"ConnectionEvents"}), frozenset({"allLogs", "audit"}), frozenset({"AllMetrics"})),
    "Microsoft.ContainerRegistry/registries": (
        frozenset({"ContainerRegistryRepositoryEvents", "ContainerRegistryLoginEvents"}),
        frozenset({"allLogs", "audit"}),
        frozenset({"AllMetrics"}),
    ),
}


@rule("diagnostic-categories")
def diagnostic_categories(plan: Plan) -> Iterator[Finding]:
    """Every diagnostic setting names only categories its target type exports; Azure rejects the whole setting otherwise."""
    for r in plan.of_type(AZURE + "monitor:DiagnosticSetting"):
        inputs = r["inputs"]
        target = arm_type(str(inputs.get("resourceUri", "")))
        accepted = DIAGNOSTIC_CATEGORIES.get(target)
        if accepted is None:
            yield Finding("diagnostic-categories", r["urn"], f"no known diagnostic categories for {target or 'its target'}; add them with a source")
            continue
        categories, groups, metrics = accepted
        for log in inputs.get("logs") or []:
            if "category" in log and log["category"] not in categories:
                yield Finding("diagnostic-categories", r["urn"], f"{target} has no log category {log['category']!r} (accepted: {sorted(categories) or 'none'})")
            if "categoryGroup" in log and log["categoryGroup"] not in groups:
                yield Finding("diagnostic-categories", r["urn"], f"{target} has no log category group {log['categoryGroup']!r} (accepted: {sorted(groups) or 'none'})")
        for metric in inputs.get("metrics") or []:
            if metric.get("category") not in metrics:
                yield Finding("diagnostic-categories", r["urn"], f"{target} exports no metric category {metric.get('category')!r} (accepted: {sorted(metrics) or 'none'})")


def _pool_subnets(plan: Plan) -> dict[str, list[str]]:
    """Node label `workload-class` value -> subnet ids of the pools carrying it."""
    pools: dict[str, list[str]] = {}
    for cluster in plan.of_type(AZURE + "containerservice:ManagedCluster"):
        for profile in cluster["inputs"].get("agentPoolProfiles") or []:
            label = (profile.get("nodeLabels") or {}).get("workload-class")
            pools.setdefault(str(label), []).append(str(profile.get("vnetSubnetID", "")))
    for pool in plan.of_type(AZURE + "containerservice:AgentPool"):
        label = (pool["inputs"].get("nodeLabels") or {}).get("workload-class")
        pools.setdefault(str(label), []).append(str(pool["inputs"].get("vnetSubnetID", "")))
    return pools


def _subnet_nsg(plan: Plan, subnet_id: str) -> Optional[dict[str, Any]]:
    vnet, subnet = last_name(subnet_id, "virtualNetworks"), last_name(subnet_id, "subnets")
    for s in plan.of_type(AZURE + "network:Subnet"):
        if s["inputs"].get("subnetName") == subnet and s["inputs"].get("virtualNetworkName") == vnet:
            nsg_name = last_name(str((s["inputs"].get("networkSecurityGroup") or {}).get("id", "")), "networkSecurityGroups")
            for nsg in plan.of_type(AZURE + "network:NetworkSecurityGroup"):
                if nsg["inputs"].get("networkSecurityGroupName") == nsg_name:
                    return nsg
    return None


INTERNET_SOURCES = {"*", "Internet", "0.0.0.0/0", "Any"}


def _port_in(port: int, ranges: Iterable[str]) -> bool:
    for spec in ranges:
        if spec == "*":
            return True
        low, _, high = spec.partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


def nsg_admits(nsg: dict[str, Any], sources: set[str], port: int) -> bool:
    """Whether the NSG's inbound rules, in priority order, allow `port` from any of `sources` before a deny."""
    rules = sorted((r for r in nsg["inputs"].get("securityRules") or [] if r.get("direction") == "Inbound"), key=lambda r: r.get("priority", 0))
    for r in rules:
        rule_sources = {r.get("sourceAddressPrefix")} | set(r.get("sourceAddressPrefixes") or [])
        ports = [r.get("destinationPortRange")] if r.get("destinationPortRange") else list(r.get("destinationPortRanges") or [])
        if rule_sources & (sources | {"*"}) and _port_in(port, ports):
            return r.get("access") == "Allow"
    return False


@rule("ingress-nsg")
def ingress_nsg(plan: Plan) -> Iterator[Finding]:
    """A public ingress answers on 80/443 only if the NSG of the subnet whose nodes run it admits the Internet there:
    with `externalTrafficPolicy: Local` the client address is kept, so the packets reach the node from `Internet`,
    not from `AzureLoadBalancer` (AKS docs, "Use a public standard load balancer": NSG rules for LoadBalancer services)."""
    pools = _pool_subnets(plan)
    for release in plan.of_type(HELM_RELEASE):
        values = release["inputs"].get("values") or {}
        annotations = (values.get("service") or {}).get("annotations") or {}
        if release["inputs"].get("chart") != "traefik" or annotations.get("service.beta.kubernetes.io/azure-load-balancer-internal") == "true":
            continue
        workload_class = (values.get("nodeSelector") or {}).get("workload-class")
        subnets = pools.get(str(workload_class), [])
        if not subnets:
            yield Finding("ingress-nsg", release["urn"], f"no node pool carries workload-class={workload_class}, where the ingress runs")
        for subnet_id in subnets:
            nsg = _subnet_nsg(plan, subnet_id)
            for port in (80, 443):
                if nsg is not None and not nsg_admits(nsg, INTERNET_SOURCES, port):
                    yield Finding("ingress-nsg", release["urn"], f"runs on subnet {last_name(subnet_id, 'subnets')}, whose NSG {nsg['name']} denies port {port} from the Internet")


def image_registry(image: str) -> str:
    """The registry host of an image reference (Docker's rule: the first component, if it has a dot or colon)."""
    first, _, rest = image.partition("/")
    return first if rest and ("." in first or ":" in first or first == "localhost") else "docker.io"


def _chart_images(release: dict[str, Any]) -> list[str]:
    """The images a pinned chart pulls for its values. cert-manager >= 1.20 composes `imageRegistry/imageNamespace/
    cert-manager-<component>` (templates/_helpers.tpl `cert-manager.image`, default quay.io/jetstack); Traefik 41.3.0
    `image.registry/image.repository` (default docker.io/traefik)."""
    values = release["inputs"].get("values") or {}
    chart = str(release["inputs"].get("chart"))
    if chart == "cert-manager":
        prefix = f"{values.get('imageRegistry') or 'quay.io'}/{values.get('imageNamespace') or 'jetstack'}"
        return [f"{prefix}/cert-manager-{c}" for c in ("controller", "webhook", "cainjector", "startupapicheck", "acmesolver")]
    image = values.get("image") or {}
    return [f"{image.get('registry') or 'docker.io'}/{image.get('repository') or chart}"]


@rule("image-pull")
def image_pull(plan: Plan) -> Iterator[Finding]:
    """Every image a pod or chart runs comes from a registry the kubelet identity holds AcrPull on; otherwise the
    pod ends in ImagePullBackOff (AKS docs, "Authenticate with ACR from AKS": the kubelet identity needs AcrPull)."""
    kubelets = {
        str(((c["inputs"].get("identityProfile") or {}).get("kubeletidentity") or {}).get("objectId"))
        for c in plan.of_type(AZURE + "containerservice:ManagedCluster")
    }
    granted = {
        str(last_name(str(a["inputs"].get("scope", "")), "registries")).lower()
        for a in plan.of_type(AZURE + "authorization:RoleAssignment")
        if str(a["inputs"].get("roleDefinitionId", "")).endswith(ACR_PULL) and str(a["inputs"].get("principalId")) in kubelets
    }
    used: list[tuple[dict[str, Any], str]] = []
    for r, pod in plan.pods:
        for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
            used.append((r, str(container.get("image", ""))))
    for release in plan.of_type(HELM_RELEASE):
        used += [(release, image) for image in _chart_images(release)]
    for r, image in used:
        host = image_registry(image)
        name = host.removesuffix(".azurecr.io").lower()
        if not host.endswith(".azurecr.io") or name not in granted:
            yield Finding("image-pull", r["urn"], f"pulls {image} from {host}, where the kubelet identity holds no AcrPull")


def chart_service_account(release: dict[str, Any]) -> tuple[str, bool]:
    """(service account the chart's pods run as, whether the chart creates it). Traefik 41.3.0:
    templates/rbac/serviceaccount.yaml renders only `if not .Values.serviceAccount.name`; _helpers.tpl names it
    `traefik.fullname` (the release name when it contains the chart name) in that case."""
    values = release["inputs"].get("values") or {}
    if release["inputs"].get("chart") == "traefik":
        name = (values.get("serviceAccount") or {}).get("name")
        release_name = str(release["inputs"].get("name") or "traefik")
        return (name, False) if name else (release_name if "traefik" in release_name else f"{release_name}-traefik", True)
    account = values.get("serviceAccount") or {}
    return (account.get("name") or str(release["inputs"].get("name")), account.get("create", True))


@rule("service-account-exists")
def service_account_exists(plan: Plan) -> Iterator[Finding]:
    """Every ServiceAccount a pod names exists in its namespace: the API server refuses to create pods for a missing
    one ("error looking up service account"), so a Deployment never gets a pod and an atomic release rolls back."""
    existing = {
        ((r["inputs"].get("metadata") or {}).get("namespace"), (r["inputs"].get("metadata") or {}).get("name"))
        for r in plan.of_type("kubernetes:core/v1:ServiceAccount")
    }
    wanted: list[tuple[dict[str, Any], str, str]] = []
    for release in plan.of_type(HELM_RELEASE):
        name, created = chart_service_account(release)
        namespace = release["inputs"].get("namespace")
        if created:
            existing.add((namespace, name))
        else:
            wanted.append((release, namespace, name))
    for r, pod in plan.pods:
        name = pod.get("serviceAccountName")
        if name and name != "default":
            wanted.append((r, (r["inputs"].get("metadata") or {}).get("namespace"), name))
    for r, namespace, name in wanted:
        if (namespace, name) not in existing:
            yield Finding("service-account-exists", r["urn"], f"runs as service account {namespace}/{name}, which nothing creates")


@rule("dr-peering")
def dr_peering(plan: Plan) -> Iterator[Finding]:
    """A cross-region read replica with VNet integration needs the two VNets peered, in both directions
    (Flexible Server docs, "Read replicas: networking considerations" / "Geo-replication with private access")."""
    vnet_of = {}
    for s in plan.of_type(AZURE + "dbforpostgresql:Server"):
        network = s["inputs"].get("network") or {}
        vnet_of[s["inputs"].get("serverName")] = last_name(str(network.get("delegatedSubnetResourceId", "")), "virtualNetworks")
    peerings = {
        (p["inputs"].get("virtualNetworkName"), last_name(str((p["inputs"].get("remoteVirtualNetwork") or {}).get("id", "")), "virtualNetworks"))
        for p in plan.of_type(AZURE + "network:VirtualNetworkPeering")
    }
    for s in plan.of_type(AZURE + "dbforpostgresql:Server"):
        source = s["inputs"].get("sourceServerResourceId")
        if not source:
            continue
        here, there = vnet_of.get(s["inputs"].get("serverName")), vnet_of.get(last_name(str(source), "flexibleServers"))
        if here and there and here != there:
            for a, b in ((there, here), (here, there)):
                if (a, b) not in peerings:
                    yield Finding("dr-peering", s["urn"], f"replicates across VNets, but {a} is not peered to {b}")


@rule("no-lock-over-ha-dns")
def no_lock_over_ha_dns(plan: Plan) -> Iterator[Finding]:
    """No delete lock over the private DNS zone of a highly available Flexible Server: failover rewrites its records
    ("Networking with private access": do not lock the private DNS zone or its records when HA is enabled)."""
    locks = plan.of_type(AZURE + "authorization:ManagementLockByScope")
    for s in plan.of_type(AZURE + "dbforpostgresql:Server"):
        if ((s["inputs"].get("highAvailability") or {}).get("mode") or "Disabled") == "Disabled":
            continue
        zone = str((s["inputs"].get("network") or {}).get("privateDnsZoneArmResourceId", ""))
        for lock in locks:
            scope = str(lock["inputs"].get("scope", ""))
            if scope and (zone.lower() == scope.lower() or zone.lower().startswith(scope.lower().rstrip("/") + "/")):
                yield Finding("no-lock-over-ha-dns", lock["urn"], f"locks {scope.split('/')[-1]}, which holds the HA server's DNS zone {zone.split('/')[-1]}")


def _generated(plan: Plan, r: dict[str, Any]) -> bool:
    return any(plan.by_urn.get(d, {}).get("type", "").startswith("random:index/randomId") for d in r["dependencies"])


@rule("no-soft-deleted-name-reuse")
def no_soft_deleted_name_reuse(plan: Plan) -> Iterator[Finding]:
    """A deleted Key Vault or secret keeps its name for the soft-delete period (7-90 days); creating one of that name
    fails with `ConflictError ... is currently in a deleted but recoverable state` (Key Vault soft-delete overview).
    A non-production vault (its stack is destroyed and rebuilt) and every secret (environments come and go) therefore
    carry a generation suffix from a RandomId, so a rebuild never collides. A production vault keeps its name."""
    for vault in plan.of_type(AZURE + "keyvault:Vault"):
        if not tier_for_stack(stack_of(vault["urn"])).is_production and not _generated(plan, vault):
            yield Finding("no-soft-deleted-name-reuse", vault["urn"], "a non-production vault is rebuilt under the same name; give its name a generation suffix")
    for secret in plan.of_type(AZURE + "keyvault:Secret"):
        if not _generated(plan, secret):
            yield Finding("no-soft-deleted-name-reuse", secret["urn"], f"secret {secret['inputs'].get('secretName')} would be recreated under the same name; give it a generation suffix")


@rule("replicas-owned-by-autoscaler")
def replicas_owned_by_autoscaler(plan: Plan) -> Iterator[Finding]:
    """A Deployment scaled by an HPA or a KEDA ScaledObject must leave `spec.replicas` to it (ignoreChanges); otherwise
    the next update sets it back and server-side apply reports a conflict with the autoscaler's field manager."""
    scaled: set[tuple[Any, Any]] = set()
    for r in plan.resources:
        if r["type"] in ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler",) or (
            r["type"].startswith("kubernetes:keda.sh/") and r["type"].endswith(":ScaledObject")
        ):
            target = (r["inputs"].get("spec") or {}).get("scaleTargetRef") or {}
            scaled.add(((r["inputs"].get("metadata") or {}).get("namespace"), target.get("name")))
    for r in plan.of_type("kubernetes:apps/v1:Deployment"):
        meta = r["inputs"].get("metadata") or {}
        if (meta.get("namespace"), meta.get("name")) in scaled and "spec.replicas" not in (r.get("ignoreChanges") or []):
            yield Finding("replicas-owned-by-autoscaler", r["urn"], "is scaled by an autoscaler but does not ignore changes to spec.replicas")


def _secret_objects(spec: dict[str, Any]) -> list[str]:
    objects = str((spec.get("parameters") or {}).get("objects", ""))
    return re.findall(r"objectName:\s*(\S+)", objects)


@rule("pod-inputs-ready")
def pod_inputs_ready(plan: Plan) -> Iterator[Finding]:
    """A pod mounting Key Vault secrets starts only after those secrets exist and its identity may read them, or the
    CSI mount fails (`SecretNotFound`, 403) and a Job burns its retries before Azure RBAC has propagated."""
    classes = {}
    for r in plan.resources:
        if r["type"].endswith(":SecretProviderClass") or (r["type"] == "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass"):
            meta = r["inputs"].get("metadata") or {}
            classes[(meta.get("namespace"), meta.get("name"))] = _secret_objects(r["inputs"].get("spec") or {})
    secrets = {s["inputs"].get("secretName"): s for s in plan.of_type(AZURE + "keyvault:Secret")}
    grants: dict[str, list[dict[str, Any]]] = {}
    for a in plan.of_type(AZURE + "authorization:RoleAssignment"):
        name = last_name(str(a["inputs"].get("scope", "")), "secrets")
        if name:
            grants.setdefault(name, []).append(a)
    for r, pod in plan.pods:
        namespace = (r["inputs"].get("metadata") or {}).get("namespace")
        waits = plan.waits_for(r["urn"])
        for volume in pod.get("volumes") or []:
            csi = volume.get("csi") or {}
            spc = (csi.get("volumeAttributes") or {}).get("secretProviderClass")
            for object_name in classes.get((namespace, spc), []) if spc else []:
                if object_name in secrets and secrets[object_name]["urn"] not in waits:
                    yield Finding("pod-inputs-ready", r["urn"], f"may start before Key Vault secret {object_name} exists")
                if not any(g["urn"] in waits for g in grants.get(object_name, [])):
                    yield Finding("pod-inputs-ready", r["urn"], f"may start before its identity is granted Key Vault secret {object_name}")


@rule("deployer-cluster-access")
def deployer_cluster_access(plan: Plan) -> Iterator[Finding]:
    """With Azure RBAC for Kubernetes and no local accounts, Owner or Contributor carry no Kubernetes data actions: the
    principal that deploys the Kubernetes objects needs a role such as Azure Kubernetes Service RBAC Cluster Admin."""
    if not plan.of_type("pulumi:providers:kubernetes"):
        return
    for cluster in plan.of_type(AZURE + "containerservice:ManagedCluster"):
        aad = cluster["inputs"].get("aadProfile") or {}
        if not (aad.get("enableAzureRBAC") and cluster["inputs"].get("disableLocalAccounts")):
            continue
        name = cluster["inputs"].get("resourceName")
        if not any(
            str(a["inputs"].get("roleDefinitionId", "")).endswith(AKS_RBAC_CLUSTER_ADMIN) and last_name(str(a["inputs"].get("scope", "")), "managedClusters") == name
            for a in plan.of_type(AZURE + "authorization:RoleAssignment")
        ):
            yield Finding("deployer-cluster-access", cluster["urn"], "the deploying principal holds no Kubernetes role on the cluster; its Kubernetes objects would be refused")


def check(resources: list[dict[str, Any]]) -> list[Finding]:
    plan = Plan(resources)
    return [finding for fn in RULES.values() for finding in fn(plan)]
