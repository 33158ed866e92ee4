"""OdooTenant: one tenant environment (unit x environment) on the cluster.

Isolation: its own namespace (quota, limits, default-deny network policies), service account and
workload identity, database and role, Redis key prefix, blob container and host name.
Secrets (database password, Redis key, Odoo admin password) come from Key Vault through the CSI
driver as files; an entrypoint turns them into the final odoo.conf in memory, so no ConfigMap,
environment variable of the pod spec or command line ever holds one.
"""
import configparser
import io
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .db_bootstrap import ODOO_INIT_SH, ODOO_REQUIRED_MODULES, READ_DB_CREDENTIAL_SH
from .flux import RELEASE_VALUES
from .kube import api, secret_provider_spec
from .naming import TenantNames
from .tier import Tier
from .traefik import ADMIN_ONLY, DATABASE_MANAGER_PATHS, MIDDLEWARES, NAMESPACE as TRAEFIK_NAMESPACE, middleware_ref

HTTP_PORT, LONGPOLL_PORT = 8069, 8072
# The namespace's certificate for its host, issued by cert-manager (components/certificates.py).
TLS_SECRET = "odoo-tls"
SERVICE_ACCOUNT = "odoo"
SECRETS_DIR = "/mnt/secrets"
LABEL_TENANT, LABEL_ENVIRONMENT, LABEL_TIER = "odoo-platform/tenant", "odoo-platform/environment", "odoo-platform/tier"
ENTRA_ID_HOST = "login.microsoftonline.com"
ODOO_UID = 10101  # a high UID, clear of host users (the image only needs its files world-readable)

# Turns the mounted secrets into the final config and session-store URL, in memory, then runs Odoo
# (or, with `init` as first argument, the database initialisation step).
ENTRYPOINT = """#!/bin/sh
set -eu
umask 077
""" + READ_DB_CREDENTIAL_SH + """cp /etc/odoo/odoo.conf /run/odoo/odoo.conf
# After a rotation the credential names the login role (ops/rotate): db_user follows it.
read_db_credential {secrets}/db-password "$(sed -n 's/^db_user = //p' /etc/odoo/odoo.conf)"
sed -i "s/^db_user = .*/db_user = $db_login/" /run/odoo/odoo.conf
printf 'db_password = %s\\nadmin_passwd = %s\\n' "$db_password" "$(cat {secrets}/admin-password)" >> /run/odoo/odoo.conf
# The release's upgrade Job and start gate (release/base) run their script with the rendered config.
if [ "${{1:-}}" = run ]; then shift; exec "$@"; fi
ODOO_SESSION_REDIS_URL="rediss://:$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read().strip(), safe=""))' {secrets}/redis-key)@${{ODOO_SESSION_REDIS_HOST}}:${{ODOO_SESSION_REDIS_PORT}}/0"
export ODOO_SESSION_REDIS_URL
if [ "${{1:-}}" = init ]; then exec /bin/sh /etc/odoo/odoo-init.sh; fi
exec odoo -c /run/odoo/odoo.conf "$@"
""".format(secrets=SECRETS_DIR)


@dataclass(frozen=True)
class OdooSizing:
    web_min_replicas: int
    web_max_replicas: int
    http_workers: int
    cron_threads: int
    web_cpu_m: int
    web_memory_mib: int
    cron_cpu_m: int
    cron_memory_mib: int


@dataclass(frozen=True)
class DataServices:
    """Where the tenant's data lives, and the private networks that reach it."""

    postgres_fqdn: pulumi.Input[str]
    postgres_cidr: str
    redis_host: pulumi.Input[str]
    redis_port: int
    private_endpoint_cidr: str
    blob_endpoint: pulumi.Input[str]
    key_vault_name: pulumi.Input[str]
    tenant_id: pulumi.Input[str]


@dataclass(frozen=True)
class TenantSecrets:
    """Key Vault secret names this tenant's pods read (and only these); generation-suffixed, so outputs."""

    db_password: pulumi.Input[str]
    redis_key: pulumi.Input[str]
    admin_password: pulumi.Input[str]


@dataclass(frozen=True)
class WorkingHours:
    """When a non-production environment runs; outside it scales to zero (KEDA cron trigger)."""

    timezone: str
    start: str  # HH:MM
    end: str  # HH:MM
    days: str  # cron days of week, e.g. 1-5

    def cron(self, time: str) -> str:
        hour, minute = time.split(":")
        return f"{int(minute)} {int(hour)} * * {self.days}"


@dataclass(frozen=True)
class OdooTenantArgs:
    tier: Tier
    provider: k8s.Provider
    names: TenantNames
    base_domain: str
    # Initialises the database once (the init Job); releases bring their own digest of `image_repository`.
    image: pulumi.Input[str]
    image_repository: pulumi.Input[str]
    sizing: OdooSizing
    identity_client_id: pulumi.Input[str]
    data: DataServices
    secrets: TenantSecrets
    # Non-production cost control: scale to zero outside these hours (None: always on, with a CPU HPA).
    working_hours: Optional[WorkingHours] = None
    # What the init Job waits for besides the namespace: the database role bootstrap, secrets and their grants.
    depends_on: Sequence[pulumi.Resource] = ()
    # Room in the namespace's quota for the platform's jobs (backups, drills): (pods, cpu millicores, memory MiB).
    job_allowance: tuple[int, int, int] = (0, 0, 0)
    labels: Mapping[str, str] = field(default_factory=dict)


def odoo_conf(names: TenantNames, sizing: OdooSizing, db_host: str) -> str:
    """odoo.conf without secrets: the entrypoint appends db_password and admin_passwd from Key Vault."""
    config = configparser.ConfigParser(interpolation=None)
    config["options"] = {
        "proxy_mode": "True",
        "list_db": "False",
        "dbfilter": f"^{names.database}$",
        "db_name": names.database,
        "db_host": db_host,
        "db_port": "5432",
        "db_user": names.role,
        "db_sslmode": "require",
        # Each process needs few connections; the server's max_connections is sized for this.
        "db_maxconn": "8",
        "workers": str(sizing.http_workers),
        "max_cron_threads": "0",
        "gevent_port": str(LONGPOLL_PORT),
        "limit_memory_soft": str(int(sizing.web_memory_mib * 1024 * 1024 * 0.8 / max(sizing.http_workers, 1))),
        "limit_memory_hard": str(int(sizing.web_memory_mib * 1024 * 1024 * 0.95 / max(sizing.http_workers, 1))),
        "limit_time_cpu": "600",
        "limit_time_real": "1200",
        "limit_request": "8192",
        "data_dir": "/var/lib/odoo",
        "server_wide_modules": "base,web,session_redis,attachment_azure",
        # The database is initialised by the init Job (components/db_bootstrap.py ODOO_INIT_SH), never by a web pod.
        "without_demo": "all",
        "log_handler": ":INFO",
        "logfile": "",
    }
    out = io.StringIO()
    config.write(out)
    return out.getvalue()


# Always-on environments keep their minimum replicas; KEDA's cron window then changes nothing.
ALWAYS = WorkingHours(timezone="UTC", start="00:00", end="23:59", days="*")


def odoo_environment(names: TenantNames, data: DataServices) -> dict[str, pulumi.Input[str]]:
    """The environment variables of every Odoo process: sessions in Redis, attachments in the tenant's container."""
    return {
        "RUNNING_ENV": names.environment,
        "ODOO_SESSION_REDIS": "1",
        "ODOO_SESSION_REDIS_HOST": data.redis_host,
        "ODOO_SESSION_REDIS_PORT": str(data.redis_port),
        "ODOO_SESSION_REDIS_PREFIX": names.redis_prefix,
        "ODOO_SESSION_REDIS_EXPIRATION": "604800",
        "AZURE_STORAGE_USE_AAD": "1",
        "AZURE_STORAGE_ACCOUNT_URL": data.blob_endpoint,
        "AZURE_STORAGE_NAME": names.container,
    }


def release_values(args: OdooTenantArgs, host: str) -> dict[str, pulumi.Input[str]]:
    """What a release needs, in one ConfigMap: Odoo's environment (the release's pods read it with envFrom) and the
    variables Flux substitutes into release/base (`${NAME}`). Flux substitutes into plain YAML, where a value that looks
    like a number becomes one: numbers go only into numeric fields, or come quoted (`*_TEXT`)."""
    names, sizing, data = args.names, args.sizing, args.data
    hours = args.working_hours or ALWAYS
    scales_to_zero = args.working_hours is not None
    return {
        **odoo_environment(names, data),
        "NAMESPACE": names.namespace,
        "UNIT": names.unit,
        "ENVIRONMENT": names.environment,
        "TIER": args.tier.value,
        "HOST": host,
        "ODOO_IMAGE_REPOSITORY": args.image_repository,
        "ODOO_UID": str(ODOO_UID),
        "IDENTITY_CLIENT_ID": args.identity_client_id,
        "DB_HOST": data.postgres_fqdn,
        "DB_NAME": names.database,
        "DB_USER": names.role,
        "WEB_MIN_REPLICAS": str(sizing.web_min_replicas),
        "WEB_MIN_REPLICAS_TEXT": f"'{sizing.web_min_replicas}'",
        "WEB_MAX_REPLICAS": str(sizing.web_max_replicas),
        "WEB_IDLE_REPLICAS": "0" if scales_to_zero else str(sizing.web_min_replicas),
        "CRON_IDLE_REPLICAS": "0" if scales_to_zero else "1",
        "CRON_THREADS": str(sizing.cron_threads),
        **{f"{kind}_{key}": value for kind, cpu_m, memory_mib in (("WEB", sizing.web_cpu_m, sizing.web_memory_mib), ("CRON", sizing.cron_cpu_m, sizing.cron_memory_mib)) for key, value in container_resources(cpu_m, memory_mib).items()},
        "WORKING_TIMEZONE": hours.timezone,
        "WORKING_START": hours.cron(hours.start),
        "WORKING_END": hours.cron(hours.end),
        # Production spreads web pods over zones strictly; elsewhere as far as the nodes allow.
        "ZONE_SPREAD": "DoNotSchedule" if args.tier.is_production else "ScheduleAnyway",
    }


def container_resources(cpu_m: int, memory_mib: int) -> dict[str, str]:
    return {"CPU_REQUEST": f"{cpu_m}m", "MEMORY_REQUEST": f"{memory_mib}Mi", "CPU_LIMIT": f"{cpu_m * 2}m", "MEMORY_LIMIT": f"{int(memory_mib * 1.25)}Mi"}


class OdooTenant(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    host: str

    def __init__(self, name: str, args: OdooTenantArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:odoo:OdooTenant", name, None, opts)
        names, sizing, data = args.names, args.sizing, args.data
        production = args.tier.is_production
        ns = names.namespace
        self.host = names.host(args.base_domain)
        labels = {
            "app.kubernetes.io/part-of": "odoo-platform",
            "app.kubernetes.io/managed-by": "pulumi",
            LABEL_TENANT: names.unit,
            LABEL_ENVIRONMENT: names.environment,
            LABEL_TIER: args.tier.value,
            **({"odoo-platform/ephemeral": "true"} if names.ephemeral else {}),
            **args.labels,
        }
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=api({
                "name": ns,
                "labels": {**labels, "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"},
                # What this environment owns: read by the tenant-isolation policy.
                "annotations": {"odoo-platform/database": names.database, "odoo-platform/container": names.container, "odoo-platform/host": self.host},
            }),
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        opts_ns = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[self.namespace])

        def meta(object_name: str, component: Optional[str] = None) -> Any:
            extra = {"app.kubernetes.io/name": "odoo", "app.kubernetes.io/component": component} if component else {}
            return {"name": object_name, "namespace": ns, "labels": {**labels, **extra}}

        web_pods = sizing.web_max_replicas + 1  # +1 for a rolling update's surge
        job_pods, job_cpu_m, job_memory_mib = args.job_allowance
        # The release's upgrade Job (release/base/upgrade.yaml: cron CPU, web memory) runs beside the old release.
        cpu = web_pods * sizing.web_cpu_m + sizing.cron_cpu_m + sizing.cron_cpu_m + job_cpu_m
        memory = web_pods * sizing.web_memory_mib + sizing.cron_memory_mib + sizing.web_memory_mib + job_memory_mib
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=meta("tenant-quota"),
            spec=api({
                "hard": {
                    "requests.cpu": f"{cpu}m",
                    "requests.memory": f"{memory}Mi",
                    "limits.cpu": f"{cpu * 2}m",
                    "limits.memory": f"{int(memory * 1.5)}Mi",
                    "pods": str(web_pods + 3 + job_pods),  # + cron, the init Job, the upgrade Job
                    "services.loadbalancers": "0",
                    "services.nodeports": "0",
                }
            }),
            opts=opts_ns,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("tenant-limits"),
            spec=api({
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": {"cpu": f"{sizing.web_cpu_m}m", "memory": f"{sizing.web_memory_mib}Mi"},
                        "default": {"cpu": f"{sizing.web_cpu_m * 2}m", "memory": f"{int(sizing.web_memory_mib * 1.5)}Mi"},
                        "max": {"cpu": f"{max(sizing.web_cpu_m, sizing.cron_cpu_m) * 4}m", "memory": f"{max(sizing.web_memory_mib, sizing.cron_memory_mib) * 2}Mi"},
                    }
                ]
            }),
            opts=opts_ns,
        )
        for policy_name, spec in self._network_policies(data).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{policy_name}", metadata=meta(policy_name), spec=api(spec), opts=opts_ns)
        k8s.apiextensions.CustomResource(
            f"{name}-allow-entra-id",
            api_version="cilium.io/v2",
            kind="CiliumNetworkPolicy",
            metadata=meta("allow-entra-id"),
            spec=api({
                # Workload identity exchanges its token with Entra ID: that one public host, on 443, by name.
                "endpointSelector": {"matchLabels": {"app.kubernetes.io/name": "odoo"}},
                "egress": [
                    {
                        "toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}}],
                        "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}], "rules": {"dns": [{"matchPattern": "*"}]}}],
                    },
                    {"toFQDNs": [{"matchName": ENTRA_ID_HOST}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]},
                ],
            }),
            opts=opts_ns,
        )

        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=api({**meta(SERVICE_ACCOUNT), "annotations": {"azure.workload.identity/client-id": args.identity_client_id}}),
            automount_service_account_token=False,
            opts=opts_ns,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-secrets",
            api_version="secrets-store.csi.x-k8s.io/v1",
            kind="SecretProviderClass",
            metadata=meta("odoo-secrets"),
            spec=secret_provider_spec(
                args.identity_client_id,
                data.key_vault_name,
                data.tenant_id,
                [(args.secrets.db_password, "db-password"), (args.secrets.redis_key, "redis-key"), (args.secrets.admin_password, "admin-password")],
            ),
            opts=opts_ns,
        )
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=meta("odoo-config"),
            data={
                "odoo.conf": pulumi.Output.from_input(data.postgres_fqdn).apply(lambda fqdn: odoo_conf(names, sizing, fqdn)),
                "entrypoint.sh": ENTRYPOINT,
                "odoo-init.sh": ODOO_INIT_SH,
            },
            opts=opts_ns,
        )

        env = [{"name": key, "value": value} for key, value in odoo_environment(names, data).items()]
        # Creates the Odoo database schema with the modules the platform relies on and points attachments at Azure
        # Blob storage, once; Odoo's pods start only after it (with list_db off nothing else would ever do it).
        init_spec = self._pod(args, "jobs", env, sizing.cron_cpu_m, sizing.web_memory_mib, ["init"], production, component="init")
        init_spec["restartPolicy"] = "OnFailure"
        init_spec["containers"][0].pop("readinessProbe")
        init_spec["containers"][0].pop("livenessProbe")
        init_spec["containers"][0].pop("ports")
        init_spec["containers"][0]["env"] = [
            *env,
            {"name": "PGHOST", "value": data.postgres_fqdn},
            {"name": "PGDATABASE", "value": names.database},
            {"name": "PGUSER", "value": names.role},
            {"name": "DB_PASSWORD_FILE", "value": f"{SECRETS_DIR}/db-password"},
            {"name": "ODOO_REQUIRED_MODULES", "value": ODOO_REQUIRED_MODULES},
        ]
        self.init_job = k8s.batch.v1.Job(
            f"{name}-init",
            metadata=meta("odoo-init", "init"),
            spec=api({
                "backoffLimit": 3,
                "activeDeadlineSeconds": 3600,
                "template": {"metadata": {"labels": {**labels, "app.kubernetes.io/name": "odoo", "app.kubernetes.io/component": "init", "azure.workload.identity/use": "true"}}, "spec": init_spec},
            }),
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[self.namespace, config, *args.depends_on]),
        )
        self.release_values = k8s.core.v1.ConfigMap(
            f"{name}-release-values",
            metadata=meta(RELEASE_VALUES),
            data=release_values(args, self.host),
            opts=opts_ns,
        )
        if production:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-web-pdb",
                metadata=meta("odoo-web", "web"),
                spec=api({"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "odoo", "app.kubernetes.io/component": "web"}}}),
                opts=opts_ns,
            )
        for service, port in (("odoo-http", HTTP_PORT), ("odoo-longpolling", LONGPOLL_PORT)):
            k8s.core.v1.Service(
                f"{name}-{service}",
                metadata=meta(service, "web"),
                spec=api({
                    "type": "ClusterIP",
                    "selector": {"app.kubernetes.io/name": "odoo", "app.kubernetes.io/component": "web"},
                    "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
                }),
                opts=opts_ns,
            )
        k8s.apiextensions.CustomResource(
            f"{name}-route",
            api_version="traefik.io/v1alpha1",
            kind="IngressRoute",
            metadata=meta("odoo", "web"),
            spec=ingress_route_spec(self.host),
            opts=opts_ns,
        )
        self.register_outputs({"namespace": ns, "url": f"https://{self.host}/"})

    @staticmethod
    def _network_policies(data: DataServices) -> dict[str, Any]:
        web = {"matchLabels": {"app.kubernetes.io/name": "odoo", "app.kubernetes.io/component": "web"}}
        odoo = {"matchLabels": {"app.kubernetes.io/name": "odoo"}}
        return {
            "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            "allow-from-traefik": {
                "podSelector": web,
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": TRAEFIK_NAMESPACE}},
                                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
                            }
                        ],
                        "ports": [{"protocol": "TCP", "port": HTTP_PORT}, {"protocol": "TCP", "port": LONGPOLL_PORT}],
                    }
                ],
            },
            "allow-dns": {
                "podSelector": odoo,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
            "allow-data-services": {
                "podSelector": odoo,
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"ipBlock": {"cidr": data.postgres_cidr}}], "ports": [{"protocol": "TCP", "port": 5432}]},
                    {
                        # Redis and blob storage through their private endpoints.
                        "to": [{"ipBlock": {"cidr": data.private_endpoint_cidr}}],
                        "ports": [{"protocol": "TCP", "port": data.redis_port}, {"protocol": "TCP", "port": 443}],
                    },
                ],
            },
        }

    @staticmethod
    def _pod(
        args: OdooTenantArgs, workload_class: str, env: list, cpu_m: int, memory_mib: int, extra_args: list, production: bool, component: str = ""
    ) -> dict[str, Any]:
        component = component or ("web" if workload_class == "web" else "cron")
        probe = {"httpGet": {"path": "/web/health", "port": HTTP_PORT}, "periodSeconds": 10, "timeoutSeconds": 5}
        spec: dict[str, Any] = {
            "serviceAccountName": SERVICE_ACCOUNT,
            "automountServiceAccountToken": False,
            "nodeSelector": {"workload-class": workload_class},
            "tolerations": [{"key": "workload-class", "operator": "Equal", "value": workload_class, "effect": "NoSchedule"}],
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": ODOO_UID,
                "runAsGroup": ODOO_UID,
                "fsGroup": ODOO_UID,
                # Azure Policy's restricted initiative (components/admission.py) wants every group set, in 1-65535.
                "supplementalGroups": [ODOO_UID],
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "odoo",
                    "image": args.image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["/bin/sh", "/etc/odoo/entrypoint.sh"],
                    "args": extra_args,
                    "env": env,
                    "ports": [{"name": "http", "containerPort": HTTP_PORT}, {"name": "longpolling", "containerPort": LONGPOLL_PORT}],
                    "readinessProbe": {**probe, "initialDelaySeconds": 10},
                    "livenessProbe": {**probe, "initialDelaySeconds": 60, "failureThreshold": 6},
                    "resources": {
                        "requests": {"cpu": f"{cpu_m}m", "memory": f"{memory_mib}Mi"},
                        "limits": {"cpu": f"{cpu_m * 2}m", "memory": f"{int(memory_mib * 1.25)}Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "runAsNonRoot": True,
                        "runAsUser": ODOO_UID,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "volumeMounts": [
                        {"name": "config", "mountPath": "/etc/odoo", "readOnly": True},
                        {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True},
                        {"name": "run", "mountPath": "/run/odoo"},
                        {"name": "data", "mountPath": "/var/lib/odoo"},
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                }
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": "odoo-config", "defaultMode": 0o555}},
                {"name": "secrets", "csi": {"driver": "secrets-store.csi.k8s.io", "readOnly": True, "volumeAttributes": {"secretProviderClass": "odoo-secrets"}}},
                # The rendered config holds secrets: keep it in memory only.
                {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                {"name": "data", "emptyDir": {"sizeLimit": "2Gi"}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
            ],
        }
        if production:
            spec["topologySpreadConstraints"] = [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "odoo", "app.kubernetes.io/component": component}},
                }
            ]
        return spec


def ingress_route_spec(host: str) -> dict[str, Any]:
    """Odoo behind Traefik: database management for admins only, /websocket to the gevent port, the rest to HTTP."""
    shared = [middleware_ref(m) for m in MIDDLEWARES]
    manager = " || ".join(f"PathPrefix(`{p}`)" for p in DATABASE_MANAGER_PATHS)
    return {
        "entryPoints": ["websecure"],
        "routes": [
            {
                "kind": "Rule",
                "match": f"Host(`{host}`) && ({manager})",
                "priority": 100,
                "middlewares": [middleware_ref(ADMIN_ONLY), *shared],
                "services": [{"name": "odoo-http", "port": HTTP_PORT}],
            },
            {
                "kind": "Rule",
                "match": f"Host(`{host}`) && PathPrefix(`/websocket`)",
                "priority": 50,
                "middlewares": shared,
                "services": [{"name": "odoo-longpolling", "port": LONGPOLL_PORT}],
            },
            {"kind": "Rule", "match": f"Host(`{host}`)", "priority": 10, "middlewares": shared, "services": [{"name": "odoo-http", "port": HTTP_PORT}]},
        ],
        "tls": {"secretName": TLS_SECRET, "options": {"name": "default", "namespace": TRAEFIK_NAMESPACE}},
    }
