"""The monthly cost of a plan: one pass over the recorded resources (the plan file's `resources`), priced from the table.

Every Azure resource is either priced (one item per meter), free (FREE, with the reason) or unpriced (no meter
mapping, or no price for its SKU/region): unpriced items are listed, never counted as zero. Money is Decimal,
rounded to the cent per item; totals are sums of items, and the split per tenant environment sums to the total.
"""
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Iterable, Optional

from components.capacity import VM_SIZES, NodePoolSpec, pods_per_node
from components.tier import tier_for_stack
from stacks.config import CostAssumptions

from .prices import PriceTable

CENT = Decimal("0.01")
HOURS_PER_WEEK = Decimal(168)
# Kubernetes labels the platform puts on tenant objects (components/odoo_tenant.py LABEL_TENANT, LABEL_ENVIRONMENT).
LABEL_TENANT, LABEL_ENVIRONMENT = "odoo-platform/tenant", "odoo-platform/environment"
WORKLOAD_CLASS = "workload-class"

# Azure resource types with no charge of their own (what they cost is billed on another resource or not at all).
FREE = {
    "azure-native:resources:ResourceGroup": "no charge",
    "azure-native:authorization:RoleAssignment": "no charge",
    "azure-native:authorization:RoleDefinition": "no charge",
    "azure-native:authorization:ManagementLockByScope": "no charge",
    "azure-native:authorization:PolicyAssignment": "no charge (Azure Policy on Azure resources)",
    "azure-native:managedidentity:UserAssignedIdentity": "no charge",
    "azure-native:managedidentity:FederatedIdentityCredential": "no charge",
    "azure-native:network:VirtualNetwork": "no charge (peering and gateways are billed apart)",
    "azure-native:network:Subnet": "no charge",
    "azure-native:network:NetworkSecurityGroup": "no charge",
    "azure-native:network:PrivateDnsZoneGroup": "no charge",
    "azure-native:privatedns:VirtualNetworkLink": "no charge",
    "azure-native:dns:RecordSet": "included in the zone (queries not estimated)",
    "azure-native:keyvault:Secret": "operations billed on the vault",
    "azure-native:dbforpostgresql:Database": "part of the server",
    "azure-native:dbforpostgresql:Configuration": "part of the server",
    "azure-native:dbforpostgresql:AdministratorsMicrosoftEntra": "part of the server",
    "azure-native:redisenterprise:Database": "part of the cluster",
    "azure-native:storage:BlobContainer": "capacity billed on the account",
    "azure-native:storage:BlobServiceProperties": "part of the account",
    "azure-native:storage:ManagementPolicy": "part of the account",
    "azure-native:containerregistry:CacheRule": "included in the registry tier",
    "azure-native:containerservice:MaintenanceConfiguration": "no charge",
    "azure-native:monitor:ActionGroup": "e-mail notifications within the free monthly grant",
    "azure-native:monitor:ActivityLogAlert": "no charge",
    "azure-native:alertsmanagement:AlertProcessingRuleByName": "no charge",
    "azure-native:applicationinsights:Workbook": "no charge",
    "azure-native:monitor:DataCollectionEndpoint": "ingestion billed on the workspaces",
    "azure-native:monitor:DataCollectionRule": "ingestion billed on the workspaces",
    "azure-native:monitor:DataCollectionRuleAssociation": "ingestion billed on the workspaces",
    "azure-native:monitor:DiagnosticSetting": "ingestion billed on the Log Analytics workspace",
    "azure-native:consumption:Budget": "no charge",
    "azure-native:dataprotection:BackupPolicy": "no charge",
}


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Item:
    """One meter of one resource: quantity per month in the table's unit, priced or not."""

    urn: str
    name: str
    type: str
    component: str
    meter: str
    region: str
    quantity: Decimal
    unit: str = ""
    unit_price: Optional[Decimal] = None
    monthly: Optional[Decimal] = None
    split: str = "compute"  # how a shared stack divides it between tenant environments
    note: str = ""
    minimum: Optional[Decimal] = None
    maximum: Optional[Decimal] = None

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "urn": self.urn, "name": self.name, "type": self.type, "component": self.component, "meter": self.meter, "region": self.region,
            "quantity": str(self.quantity.normalize()), "unit": self.unit, "unitPrice": str(self.unit_price), "monthly": str(self.monthly), "split": self.split,
        }
        if self.minimum is not None:
            entry["range"] = {"min": str(self.minimum), "max": str(self.maximum)}
        if self.note:
            entry["note"] = self.note
        return entry


@dataclass
class Tenant:
    key: str
    unit: str
    namespace: str


@dataclass
class Pool:
    urn: str
    name: str
    component: str
    vm_size: str
    region: str
    min_count: int
    max_count: int
    max_pods: int
    workload_class: str
    typical: int = 0
    note: str = ""


@dataclass
class Estimate:
    stack: str
    currency: str
    items: list[Item]
    unpriced: list[Item]
    tenants: list[Tenant]
    weights: dict[str, dict[str, Decimal]]
    assumptions: dict[str, Any]
    off_hours_saving: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return sum((i.monthly for i in self.items if i.monthly is not None), Decimal(0))

    def total_range(self) -> tuple[Decimal, Decimal]:
        low = sum((i.minimum if i.minimum is not None else i.monthly or Decimal(0) for i in self.items), Decimal(0))
        high = sum((i.maximum if i.maximum is not None else i.monthly or Decimal(0) for i in self.items), Decimal(0))
        return low, high

    def by_component(self) -> dict[str, Decimal]:
        found: dict[str, Decimal] = defaultdict(Decimal)
        for item in self.items:
            found[item.component] += item.monthly or Decimal(0)
        return dict(sorted(found.items(), key=lambda kv: -kv[1]))

    def by_environment(self) -> dict[str, Decimal]:
        """Each item split by its basis' weights, to the cent, remainders to the largest shares: sums to `total`."""
        found: dict[str, Decimal] = {t.key: Decimal(0) for t in self.tenants}
        if not found:
            return {}
        for item in self.items:
            for key, share in split(item.monthly or Decimal(0), self.weights_for(item.split)).items():
                found[key] += share
        return found

    def weights_for(self, basis: str) -> dict[str, Decimal]:
        for candidate in (basis, "compute", "environments"):
            weights = self.weights.get(candidate, {})
            if sum(weights.values()) > 0:
                return weights
        return {t.key: Decimal(1) for t in self.tenants}

    def largest(self, n: int = 5) -> list[Item]:
        return sorted(self.items, key=lambda i: -(i.monthly or 0))[:n]


def split(amount: Decimal, weights: dict[str, Decimal]) -> dict[str, Decimal]:
    """`amount` in cents over `weights`, largest remainder first: the shares add up to `amount` exactly."""
    total = sum(weights.values())
    cents = int(amount / CENT)
    exact = {k: Decimal(cents) * w / total for k, w in weights.items()}
    shares = {k: int(v) for k, v in exact.items()}
    left = cents - sum(shares.values())
    for key in sorted(exact, key=lambda k: (-(exact[k] - shares[k]), k))[:left]:
        shares[key] += 1
    return {k: Decimal(v) * CENT for k, v in shares.items()}


# -- reading the recorded resources ---------------------------------------------------------------------------------

def cpu_m(value: Any) -> int:
    text = str(value)
    return int(text[:-1]) if text.endswith("m") else int(Decimal(text) * 1000)


def memory_mib(value: Any) -> int:
    text = str(value)
    for suffix, factor in (("Ki", Decimal(1) / 1024), ("Mi", 1), ("Gi", 1024), ("M", Decimal("0.95367431640625")), ("G", Decimal("953.67431640625"))):
        if text.endswith(suffix):
            return int(Decimal(text[: -len(suffix)]) * Decimal(factor))
    return int(Decimal(text) / (1024 * 1024))


def _pod_spec(r: dict[str, Any]) -> dict[str, Any]:
    spec = r["inputs"].get("spec", {})
    if r["type"] == "kubernetes:batch/v1:CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {}).get("spec", {})


def _requests(pod: dict[str, Any]) -> tuple[int, int]:
    cpu = mem = 0
    for c in pod.get("containers", []):
        requests = c.get("resources", {}).get("requests", {})
        cpu += cpu_m(requests.get("cpu", "0"))
        mem += memory_mib(requests.get("memory", "0"))
    return cpu, mem


def _cron_days(field_: str) -> int:
    if field_ == "*":
        return 7
    days: set[int] = set()
    for part in field_.split(","):
        low, _, high = part.partition("-")
        days.update(range(int(low), int(high or low) + 1))
    return len({d % 7 for d in days})


def _cron_minutes(expression: str) -> int:
    minute, hour = expression.split()[:2]
    return int(hour) * 60 + int(minute)


# The release's pods and the workload class release/base puts them on (web.yaml, cron.yaml nodeSelector), with the
# values (the `release-values` ConfigMap, components/odoo_tenant.py release_values) that size them.
RELEASE_PODS = {"WEB": "web", "CRON": "jobs"}


class Reader:
    """Facts about the stack read once from the resources: components, tenants, their release's pods, weights."""

    def __init__(self, resources: list[dict[str, Any]]):
        self.resources = resources
        self.by_urn = {r["urn"]: r for r in resources}
        self.tenants = self._tenants()
        self.releases: dict[str, dict[str, str]] = {}
        self.odoo_conf: dict[str, str] = {}
        self.jobs: dict[str, list[dict[str, Any]]] = defaultdict(list)  # namespace -> its Jobs' and CronJobs' pod specs
        for r in resources:
            if r["type"] in ("kubernetes:batch/v1:CronJob", "kubernetes:batch/v1:Job"):
                self.jobs[r["inputs"].get("metadata", {}).get("namespace")].append(_pod_spec(r))
            if r["type"] != "kubernetes:core/v1:ConfigMap":
                continue
            namespace, data = r["inputs"].get("metadata", {}).get("namespace"), r["inputs"].get("data", {})
            if "WEB_MAX_REPLICAS" in data:
                self.releases[namespace] = data
            if "odoo.conf" in data:
                self.odoo_conf[namespace] = data["odoo.conf"]

    def component(self, r: dict[str, Any]) -> str:
        parent = r.get("parent")
        while parent and parent in self.by_urn and self.by_urn[parent].get("custom"):
            parent = self.by_urn[parent].get("parent")
        if not parent or parent not in self.by_urn or self.by_urn[parent]["type"] == "pulumi:pulumi:Stack":
            return "stack"
        return self.by_urn[parent]["name"]

    def _tenants(self) -> list[Tenant]:
        found = []
        for r in self.resources:
            if r["type"] == "kubernetes:core/v1:Namespace":
                labels = r["inputs"].get("metadata", {}).get("labels", {})
                if LABEL_TENANT in labels and LABEL_ENVIRONMENT in labels:
                    found.append(Tenant(f"{labels[LABEL_TENANT]}-{labels[LABEL_ENVIRONMENT]}", labels[LABEL_TENANT], r["inputs"]["metadata"]["name"]))
        return sorted(found, key=lambda t: t.key)

    def working_hours_per_week(self) -> Optional[Decimal]:
        """Hours a week the releases run outside their idle count (KEDA's cron window); None when none scales to zero."""
        for values in self.releases.values():
            if values.get("WEB_IDLE_REPLICAS") != values.get("WEB_MIN_REPLICAS"):
                start, end = values["WORKING_START"], values["WORKING_END"]
                return Decimal(_cron_minutes(end) - _cron_minutes(start)) / 60 * _cron_days(start.split()[4])
        return None

    def pods(self, namespace: str, workload_class: str, typical: bool) -> list[tuple[int, int, int]]:
        """(count, cpu_m, memory_mib) of the release's pods on a workload class: in working hours (web at its minimum,
        one cron pod) or at most (web at its maximum)."""
        values = self.releases.get(namespace)
        if values is None:
            return []
        found = []
        for kind, cls in RELEASE_PODS.items():
            if cls != workload_class:
                continue
            count = int(values["WEB_MIN_REPLICAS" if typical else "WEB_MAX_REPLICAS"]) if kind == "WEB" else 1
            found.append((count, cpu_m(values[f"{kind}_CPU_REQUEST"]), memory_mib(values[f"{kind}_MEMORY_REQUEST"])))
        return found

    def reserved_cpu(self, namespace: str, workload_class: str) -> int:
        """What the environment reserves on a class: its release at full scale and, on the jobs pool, its largest Job
        (the default schedules run one job of an environment at a time, stacks/sizing.py)."""
        cpu = sum(n * c for n, c, _ in self.pods(namespace, workload_class, typical=False))
        jobs = [_requests(spec)[0] for spec in self.jobs.get(namespace, ()) if spec.get("nodeSelector", {}).get(WORKLOAD_CLASS) == workload_class]
        return cpu + max(jobs, default=0)

    def connections(self, namespace: str) -> int:
        """Odoo processes at full scale (web: workers + the gevent process; cron: its threads + 1), as components/capacity.py counts."""
        values = self.releases.get(namespace)
        if values is None:
            return 0
        found = re.search(r"^workers = (\d+)", self.odoo_conf.get(namespace, ""), re.M)
        workers = int(found.group(1)) if found else 0
        return int(values["WEB_MAX_REPLICAS"]) * (workers + 1) + int(values.get("CRON_THREADS", 1)) + 1

    def weights(self, classes: Iterable[str]) -> dict[str, dict[str, Decimal]]:
        found: dict[str, dict[str, Decimal]] = {}
        per_class = {c: {t.key: Decimal(self.reserved_cpu(t.namespace, c)) for t in self.tenants} for c in classes}
        for c, w in per_class.items():
            found[f"compute/{c}"] = w
        found["compute"] = {t.key: sum((w[t.key] for w in per_class.values()), Decimal(0)) for t in self.tenants}
        found["connections"] = {t.key: Decimal(self.connections(t.namespace)) for t in self.tenants}
        found["environments"] = {t.key: Decimal(1) for t in self.tenants}
        found["storage"] = found["environments"]
        for unit in {t.unit for t in self.tenants}:
            found[f"unit/{unit}"] = {t.key: Decimal(1 if t.unit == unit else 0) for t in self.tenants}
        return found


# -- meters per resource type ----------------------------------------------------------------------------------------

class Pricer:
    def __init__(self, stack: str, resources: list[dict[str, Any]], prices: PriceTable, assumptions: CostAssumptions):
        self.stack, self.prices, self.a = stack, prices, assumptions
        self.reader = Reader(resources)
        self.hours = Decimal(str(assumptions.hours_per_month))
        self.environments = Decimal(max(1, len(self.reader.tenants)))
        weekly = self.reader.working_hours_per_week()
        # Off-hours scaling exists only in non-production (stacks/config.py _off_hours_rules); production runs around the clock.
        self.working_fraction = weekly / HOURS_PER_WEEK if weekly is not None and not tier_for_stack(stack).is_production else Decimal(1)
        self.weekly_hours = weekly
        self.items: list[Item] = []
        self.off_hours_saving = Decimal(0)
        self.pools: list[Pool] = []
        self.cluster_location: Optional[str] = None
        self.defender = False

    def add(self, r: dict[str, Any], meter: str, quantity: Any, split_: str = "compute", note: str = "", region: Optional[str] = None,
            low: Optional[Any] = None, high: Optional[Any] = None, name: Optional[str] = None) -> Item:
        where: str = region or r["inputs"].get("location") or self.prices.region
        item = Item(r["urn"], name or r["name"], r["type"], self.reader.component(r), meter, where, Decimal(str(quantity)), split=split_, note=note)
        row = self.prices.get(meter, where.lower().replace(" ", ""))
        if row is None:
            item.note = f"no price for meter {meter} in {region}" + (f"; {note}" if note else "")
        else:
            item.unit, item.unit_price = row.unit, row.price
            item.monthly = money(item.quantity * row.price)
            if low is not None:
                item.minimum, item.maximum = money(Decimal(str(low)) * row.price), money(Decimal(str(high)) * row.price)
        self.items.append(item)
        return item

    def unpriced(self, r: dict[str, Any], meter: str, reason: str) -> None:
        self.items.append(Item(r["urn"], r["name"], r["type"], self.reader.component(r), meter, r["inputs"].get("location") or self.prices.region, Decimal(0), note=reason))

    # AKS ------------------------------------------------------------------------------------------------------------

    def managed_cluster(self, r: dict[str, Any]) -> None:
        inputs = r["inputs"]
        tier = inputs.get("sku", {}).get("tier", "Free")
        self.add(r, f"aks/control-plane/{tier}", self.hours, name=f"{r['name']} control plane")
        if str(inputs.get("networkProfile", {}).get("loadBalancerSku", "")).lower() == "standard":
            self.add(r, "lb/Standard", self.hours, name=f"{r['name']} load balancer", note="created by AKS in the node resource group")
        for profile in inputs.get("agentPoolProfiles", []):
            self.pools.append(self._pool(r, profile, profile.get("name", "system")))
        self.defender = bool(inputs.get("securityProfile", {}).get("defender", {}).get("securityMonitoring", {}).get("enabled"))
        self.cluster_location = inputs.get("location")

    def agent_pool(self, r: dict[str, Any]) -> None:
        self.pools.append(self._pool(r, r["inputs"], r["inputs"].get("agentPoolName", r["name"])))

    def _pool(self, r: dict[str, Any], profile: dict[str, Any], name: str) -> Pool:
        count = int(profile.get("count", 1))
        autoscale = profile.get("enableAutoScaling")
        low, high = (int(profile.get("minCount", count)), int(profile.get("maxCount", count))) if autoscale else (count, count)
        cls = profile.get("nodeLabels", {}).get(WORKLOAD_CLASS, name)
        return Pool(r["urn"], name, self.reader.component(r), profile["vmSize"], r["inputs"].get("location", ""), low, high, int(profile.get("maxPods", 30)), cls)

    def price_pools(self) -> None:
        """Each pool's nodes: minimum, typical (what the tenants' pods need in working hours) and maximum (the autoscaler's)."""
        defender_row = self.prices.get("defender/containers", self.prices.region)
        for pool in self.pools:
            pods = [p for t in self.reader.tenants for p in self.reader.pods(t.namespace, pool.workload_class, typical=True)]
            pool.typical = pool.min_count
            if pods and pool.vm_size in VM_SIZES:
                largest = max(pods, key=lambda p: (p[1], p[2]))
                per_node = pods_per_node(NodePoolSpec(pool.vm_size, pool.min_count, pool.max_count, pool.max_pods), largest[1], largest[2])
                needed = math.ceil(sum(p[0] for p in pods) / per_node) if per_node else pool.max_count
                pool.typical = min(pool.max_count, max(pool.min_count, needed))
            elif pods:
                pool.note = f"{pool.vm_size} not in components/capacity.py VM_SIZES: typical taken as the minimum"
            node_hours = self.hours * (pool.min_count + (pool.typical - pool.min_count) * self.working_fraction)
            region = pool.region or self.cluster_location or self.prices.region
            fake = {"urn": pool.urn, "name": pool.name, "type": "azure-native:containerservice:AgentPool", "inputs": {"location": region}, "parent": self.by_parent(pool.urn)}
            item = self.add(
                fake, f"vm/{pool.vm_size}", node_hours, split_=f"compute/{pool.workload_class}", name=f"pool {pool.name}",
                low=self.hours * pool.min_count, high=self.hours * pool.max_count,
                note=f"nodes min {pool.min_count} / typical {pool.typical} / max {pool.max_count}" + (f"; {pool.note}" if pool.note else ""),
            )
            vcpus = VM_SIZES.get(pool.vm_size, (None, None))[0]
            idle = (pool.typical - pool.min_count) * self.hours * (1 - self.working_fraction)
            if item.unit_price is not None:
                self.off_hours_saving += idle * item.unit_price
            if self.defender:
                if vcpus is None:
                    self.unpriced(fake, "defender/containers", f"vCPUs of {pool.vm_size} unknown")
                else:
                    self.add(fake, "defender/containers", node_hours * vcpus, split_=f"compute/{pool.workload_class}", name=f"pool {pool.name} Defender for Containers",
                             low=self.hours * pool.min_count * vcpus, high=self.hours * pool.max_count * vcpus, note="per vCore-hour of running nodes")
                    if defender_row is not None:
                        self.off_hours_saving += idle * vcpus * defender_row.price

    def by_parent(self, urn: str) -> Optional[str]:
        return self.reader.by_urn[urn].get("parent") if urn in self.reader.by_urn else None

    # data -----------------------------------------------------------------------------------------------------------

    def postgres(self, r: dict[str, Any]) -> None:
        inputs = r["inputs"]
        source = inputs.get("sourceServerResourceId")
        primary = self._server_named(source.rsplit("/", 1)[-1]) if source else None
        sku = inputs.get("sku") or (primary or {}).get("inputs", {}).get("sku", {})
        storage = inputs.get("storage") or (primary or {}).get("inputs", {}).get("storage", {})
        ha = inputs.get("highAvailability", {}).get("mode", "Disabled") in ("ZoneRedundant", "SameZone")
        copies = 2 if ha else 1
        note = ("high availability: standby compute and storage" if ha else "") + ("read replica" if source else "")
        name = sku.get("name", "")
        vcores = re.fullmatch(r"Standard_([DE])(\d+)d?s_v5", name)
        if sku.get("tier") == "Burstable" or not vcores:
            self.add(r, f"postgres/compute/{name}", self.hours * copies, split_="connections", note=note, name=f"{r['name']} compute")
        else:
            self.add(r, f"postgres/vcore/{vcores.group(1)}dsv5", self.hours * int(vcores.group(2)) * copies, split_="connections", note=note, name=f"{r['name']} compute")
        self.add(r, "postgres/storage", Decimal(str(storage.get("storageSizeGB", 0))) * copies, split_="storage", note=note, name=f"{r['name']} storage")
        if not source:
            redundancy = "GRS" if inputs.get("backup", {}).get("geoRedundantBackup") == "Enabled" else "LRS"
            self.add(r, f"postgres/backup/{redundancy}", self.a.postgres_backup_gb_over_free, split_="storage", name=f"{r['name']} backup storage",
                     note="backup storage up to the provisioned size is free; assumed GB beyond it")

    def _server_named(self, server_name: str) -> Optional[dict[str, Any]]:
        return next((r for r in self.reader.resources if r["type"] == "azure-native:dbforpostgresql:Server" and r["inputs"].get("serverName") == server_name), None)

    def redis(self, r: dict[str, Any]) -> None:
        ha = r["inputs"].get("highAvailability", "Enabled") == "Enabled"
        self.add(r, f"redis/{r['inputs'].get('sku', {}).get('name')}", self.hours * (2 if ha else 1), split_="connections",
                 note="two nodes (high availability)" if ha else "one node (no high availability)")

    def storage_account(self, r: dict[str, Any]) -> None:
        inputs = r["inputs"]
        redundancy = inputs.get("sku", {}).get("name", "").removeprefix("Standard_")
        backups = bool(inputs.get("immutableStorageWithVersioning", {}).get("enabled"))
        per_env = self.a.backup_gb_per_environment if backups else self.a.files_gb_per_environment
        what = "backup sets" if backups else "attachments"
        self.add(r, f"storage/blob-hot/{redundancy}", Decimal(str(per_env)) * self.environments, split_="storage", note=f"{per_env:g} GB of {what} per environment assumed")

    def key_vault(self, r: dict[str, Any]) -> None:
        self.add(r, "keyvault/operations", Decimal(str(self.a.key_vault_operations_per_environment)) * self.environments / 10000, split_="environments",
                 note=f"{self.a.key_vault_operations_per_environment:g} operations per environment assumed")

    # network --------------------------------------------------------------------------------------------------------

    def public_ip(self, r: dict[str, Any]) -> None:
        self.add(r, f"pip/{r['inputs'].get('sku', {}).get('name', 'Basic')}", self.hours)

    def nat_gateway(self, r: dict[str, Any]) -> None:
        self.add(r, "nat/gateway", self.hours)
        self.add(r, "nat/data", self.a.nat_gb_per_month, name=f"{r['name']} data", note="GB processed assumed")

    def private_endpoint(self, r: dict[str, Any]) -> None:
        count = sum(1 for x in self.reader.resources if x["type"] == r["type"])
        self.add(r, "pep/endpoint", self.hours)
        self.add(r, "pep/data", Decimal(str(self.a.private_endpoint_gb_per_month)) / count, name=f"{r['name']} data", note="GB processed assumed, shared by the endpoints")

    def peering(self, r: dict[str, Any]) -> None:
        count = sum(1 for x in self.reader.resources if x["type"] == r["type"])
        self.add(r, "vnet/peering-global", Decimal(str(self.a.peering_gb_per_month)) / count, region="global", note="inter-region GB assumed, shared by the peerings")

    def dns_zone(self, r: dict[str, Any], meter: str) -> None:
        zone = str(r["inputs"].get("zoneName") or r["inputs"].get("privateZoneName") or "")
        units = {t.unit for t in self.reader.tenants}
        first = zone.split(".")[0]
        self.add(r, meter, 1, split_=f"unit/{first}" if first in units else "compute", region="global")

    # registry, monitoring, backup --------------------------------------------------------------------------------------

    def registry(self, r: dict[str, Any]) -> None:
        self.add(r, f"acr/{r['inputs'].get('sku', {}).get('name')}", self.hours / 24)

    def registry_replica(self, r: dict[str, Any]) -> None:
        self.add(r, "acr/Premium", self.hours / 24, note="geo-replica: a Premium registry unit in its region")

    def log_analytics(self, r: dict[str, Any]) -> None:
        self.add(r, "loganalytics/ingestion", Decimal(str(self.a.log_analytics_gb_per_day)) * self.hours / 24, note=f"{self.a.log_analytics_gb_per_day:g} GB/day assumed")

    def monitor_workspace(self, r: dict[str, Any]) -> None:
        self.add(r, "prometheus/ingestion", Decimal(str(self.a.prometheus_samples_millions_per_month)) / 10, note=f"{self.a.prometheus_samples_millions_per_month:g} million samples assumed")

    def grafana(self, r: dict[str, Any]) -> None:
        self.add(r, f"grafana/{r['inputs'].get('sku', {}).get('name')}", self.hours, note="active users not counted")

    def metric_alert(self, r: dict[str, Any]) -> None:
        self.add(r, "alerts/metric-series", len(r["inputs"].get("scopes", [])) or 1, region="global")

    def log_alert(self, r: dict[str, Any]) -> None:
        self.add(r, f"alerts/log-rule/{r['inputs'].get('evaluationFrequency')}", 1, region="global")

    def backup_vault(self, r: dict[str, Any]) -> None:
        settings = r["inputs"].get("properties", {}).get("storageSettings", [{}])
        redundancy = settings[0].get("type", "LocallyRedundant") if settings else "LocallyRedundant"
        self.add(r, f"backup/vault/{redundancy}", Decimal(str(self.a.vault_gb_per_environment)) * self.environments, split_="storage",
                 note=f"{self.a.vault_gb_per_environment:g} GB of long-term backups per environment assumed")

    def backup_instance(self, r: dict[str, Any]) -> None:
        kind = r["inputs"].get("properties", {}).get("dataSourceInfo", {}).get("datasourceType", "unknown").split("/")[-1]
        self.add(r, f"backup/instance/{kind}", 1, split_="storage", note="protected-instance fee")

    def dispatch(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        return {
            "azure-native:containerservice:ManagedCluster": self.managed_cluster,
            "azure-native:containerservice:AgentPool": self.agent_pool,
            "azure-native:dbforpostgresql:Server": self.postgres,
            "azure-native:redisenterprise:RedisEnterprise": self.redis,
            "azure-native:storage:StorageAccount": self.storage_account,
            "azure-native:keyvault:Vault": self.key_vault,
            "azure-native:network:PublicIPAddress": self.public_ip,
            "azure-native:network:NatGateway": self.nat_gateway,
            "azure-native:network:PrivateEndpoint": self.private_endpoint,
            "azure-native:network:VirtualNetworkPeering": self.peering,
            "azure-native:dns:Zone": lambda r: self.dns_zone(r, "dns/public-zone"),
            "azure-native:privatedns:PrivateZone": lambda r: self.dns_zone(r, "dns/private-zone"),
            "azure-native:containerregistry:Registry": self.registry,
            "azure-native:containerregistry:Replication": self.registry_replica,
            "azure-native:operationalinsights:Workspace": self.log_analytics,
            "azure-native:monitor:AzureMonitorWorkspace": self.monitor_workspace,
            "azure-native:dashboard:Grafana": self.grafana,
            "azure-native:monitor:MetricAlert": self.metric_alert,
            "azure-native:monitor:ScheduledQueryRule": self.log_alert,
            "azure-native:dataprotection:BackupVault": self.backup_vault,
            "azure-native:dataprotection:BackupInstance": self.backup_instance,
        }


def estimate(stack: str, resources: list[dict[str, Any]], prices: PriceTable, assumptions: Optional[CostAssumptions] = None) -> Estimate:
    """Price every Azure resource of a plan (the plan file's `resources`)."""
    assumptions = assumptions or CostAssumptions()
    pricer = Pricer(stack, resources, prices, assumptions)
    meters = pricer.dispatch()
    for r in resources:
        if not r["type"].startswith("azure-native:") or r["type"] in FREE:
            continue
        handler = meters.get(r["type"])
        if handler is None:
            pricer.unpriced(r, r["type"], "no meter mapping for this resource type in tools/cost/estimate.py")
        else:
            handler(r)
    pricer.price_pools()
    priced = [i for i in pricer.items if i.monthly is not None]
    unpriced = [i for i in pricer.items if i.monthly is None]
    weights = pricer.reader.weights({p.workload_class for p in pricer.pools})
    stated = {
        **{k: v for k, v in assumptions.model_dump(by_alias=True).items()},
        "environments": len(pricer.reader.tenants),
        "workingHoursPerWeek": str(pricer.weekly_hours) if pricer.weekly_hours is not None and pricer.working_fraction < 1 else None,
        "nodes": {p.name: {"vmSize": p.vm_size, "min": p.min_count, "typical": p.typical, "max": p.max_count} for p in pricer.pools},
    }
    return Estimate(stack, prices.currency, priced, unpriced, pricer.reader.tenants, weights, stated, money(pricer.off_hours_saving))
