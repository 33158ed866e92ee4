"""BackupJobs: a tenant environment's backups, verification, restore drills and pruning, as CronJobs of ops/backup.

Each CronJob runs `python -m ops.backup <command>` (ops/README.md documents every flag and environment variable) in
the tenant's namespace, on the `jobs` pool, under the environment's backup identity: it can read the tenant's
attachments container, write only its own prefix (`<tenant>/`) of the backup container, use its scratch container,
and read the tenant's database password; nothing of another tenant. Drills restore into the environment's drill
database (owned by the tenant role, components/db_bootstrap.py) and scratch container, so no job needs CREATEDB.
A failed job is a failed Kubernetes Job: the Prometheus rule OdooDataJobFailed alerts (components/prometheus_rules.py
matches Jobs named `backup*`), and the drill's JSON record reaches Log Analytics (the executive workbook).
"""
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence
from urllib.parse import urlparse

import pulumi
import pulumi_kubernetes as k8s

from .kube import api, secret_provider_spec
from .naming import TenantNames
from .tier import Tier

SERVICE_ACCOUNT = "backup"
SECRETS_DIR = "/mnt/secrets"
OPS_UID = 10080
ENTRA_ID_HOST = "login.microsoftonline.com"
# Every backup pod asks this much (requests = limits for memory: the quota counts it exactly).
CPU_M, MEMORY_MIB = 500, 1024
COMMANDS = ("backup", "verify", "drill", "prune")
# The quota room a tenant namespace keeps for these jobs: each CronJob forbids overlapping runs of itself.
QUOTA_ALLOWANCE = (len(COMMANDS), len(COMMANDS) * CPU_M, len(COMMANDS) * MEMORY_MIB)


def scratch_container(names: TenantNames) -> str:
    """The files account's container a drill restores attachments into, emptied after each drill."""
    return f"{names.container}-drill"


def ops_job_pod(service_account: str) -> dict[str, Any]:
    """What every ops-image job's pod spec shares: run once as `service_account` with no automounted API token, on the
    jobs pool, with a securityContext that sets fsGroup and supplementalGroups too, as Azure Policy's restricted
    initiative wants every group set (components/admission.py)."""
    return {
        "restartPolicy": "Never",
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "nodeSelector": {"workload-class": "jobs"},
        "tolerations": [{"key": "workload-class", "operator": "Equal", "value": "jobs", "effect": "NoSchedule"}],
        "securityContext": {"runAsNonRoot": True, "runAsUser": OPS_UID, "runAsGroup": OPS_UID, "fsGroup": OPS_UID, "supplementalGroups": [OPS_UID],
                            "seccompProfile": {"type": "RuntimeDefault"}},
    }


def ops_container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True, "runAsUser": OPS_UID,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


@dataclass(frozen=True)
class BackupPlan:
    """When each job runs (cron, UTC), what is kept, and the targets a drill is held to."""

    schedules: Mapping[str, str]  # command -> cron
    keep: Mapping[str, int]  # daily, weekly, monthly, yearly
    rpo_hours: float
    rto_hours: float
    immutability_days: int


def backup_plan(tier: Tier, overrides: Mapping[str, Any], keep: Mapping[str, int], immutability_days: int) -> BackupPlan:
    """The tier's defaults, each replaced by a configured value. Production: a set every 6 hours (PITR covers the
    minutes in between), a daily verification and a daily drill; RPO 7 h (interval and the backup's own duration),
    RTO 4 h. Non-production: daily sets, weekly drills, RPO 26 h, RTO 8 h. The jobs run apart, after the backup."""
    if tier.is_production:
        defaults = {"backup": "15 */6 * * *", "verify": "45 2 * * *", "drill": "30 3 * * *", "prune": "15 5 * * *", "rpo": 7.0, "rto": 4.0}
    else:
        defaults = {"backup": "15 1 * * *", "verify": "45 2 * * *", "drill": "30 3 * * 6", "prune": "15 5 * * *", "rpo": 26.0, "rto": 8.0}
    chosen = {k: overrides.get(k) or v for k, v in defaults.items()}
    return BackupPlan(
        schedules={c: str(chosen[c]) for c in COMMANDS},
        keep=dict(keep),
        rpo_hours=float(chosen["rpo"]),
        rto_hours=float(chosen["rto"]),
        immutability_days=immutability_days,
    )


@dataclass(frozen=True)
class OffsiteTarget:
    endpoint: str
    bucket: str
    region: str
    access_key_secret: str  # Key Vault secret names
    secret_key_secret: str
    object_lock_days: int


@dataclass(frozen=True)
class BackupJobsArgs:
    provider: k8s.Provider
    names: TenantNames
    image: pulumi.Input[str]
    identity_client_id: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    key_vault_name: pulumi.Input[str]
    db_password_secret: pulumi.Input[str]  # Key Vault secret name
    postgres_fqdn: pulumi.Input[str]
    postgres_cidr: str
    private_endpoint_cidr: str
    drill_database: str
    backup_account_url: pulumi.Input[str]
    backup_container: str
    files_account_url: pulumi.Input[str]
    scratch_container: str
    plan: BackupPlan
    offsite: Optional[OffsiteTarget] = None
    depends_on: Sequence[pulumi.Resource] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


class BackupJobs(pulumi.ComponentResource):
    def __init__(self, name: str, args: BackupJobsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:backup:BackupJobs", name, None, opts)
        self._args = args
        names = args.names
        self._opts = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.depends_on))
        self._labels = {**args.labels, "app.kubernetes.io/name": "odoo-backup", "app.kubernetes.io/part-of": "odoo-platform"}

        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=api({**self._meta(SERVICE_ACCOUNT), "annotations": {"azure.workload.identity/client-id": args.identity_client_id}}),
            automount_service_account_token=False,
            opts=self._opts,
        )
        secrets = [(args.db_password_secret, "db-password")]
        if args.offsite:
            secrets += [(args.offsite.access_key_secret, "offsite-access-key-id"), (args.offsite.secret_key_secret, "offsite-secret-access-key")]
        k8s.apiextensions.CustomResource(
            f"{name}-secrets",
            api_version="secrets-store.csi.x-k8s.io/v1",
            kind="SecretProviderClass",
            metadata=api(self._meta("backup-secrets")),
            spec=secret_provider_spec(args.identity_client_id, args.key_vault_name, args.tenant_id, secrets),
            opts=self._opts,
        )
        for policy_name, spec in network_policies(self._labels, args).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{policy_name}", metadata=api(self._meta(policy_name)), spec=api(spec), opts=self._opts)
        k8s.apiextensions.CustomResource(
            f"{name}-allow-egress-by-name",
            api_version="cilium.io/v2",
            kind="CiliumNetworkPolicy",
            metadata=api(self._meta("backup-allow-egress-by-name")),
            spec=api(fqdn_policy(self._labels, args.offsite)),
            opts=self._opts,
        )
        self.plan = args.plan
        self.cron_jobs = {command: self._cron_job(name, command) for command in COMMANDS}
        self.register_outputs({"schedules": dict(args.plan.schedules)})

    def _meta(self, object_name: str) -> dict[str, Any]:
        return {"name": object_name, "namespace": self._args.names.namespace, "labels": self._labels}

    def _cron_job(self, name: str, command: str) -> k8s.batch.v1.CronJob:
        args = self._args
        job_name = "backup" if command == "backup" else f"backup-{command}"
        labels = {**self._labels, "app.kubernetes.io/component": command}
        deadline = int(args.plan.rto_hours * 3600) if command == "drill" else 6 * 3600
        return k8s.batch.v1.CronJob(
            f"{name}-{command}",
            metadata=api({**self._meta(job_name), "labels": labels}),
            spec=api({
                "schedule": args.plan.schedules[command],
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": labels},
                    "spec": {
                        # A drill that fails is a finding, not something to retry into success.
                        "backoffLimit": 0 if command == "drill" else 2,
                        "activeDeadlineSeconds": deadline,
                        "template": {
                            "metadata": {"labels": {**labels, "azure.workload.identity/use": "true"}},
                            "spec": self._pod(command),
                        },
                    },
                },
            }),
            opts=self._opts,
        )

    def _pod(self, command: str) -> dict[str, Any]:
        return {
            **ops_job_pod(SERVICE_ACCOUNT),
            "containers": [
                {
                    # The drill's JSON record is read from this container's name (components/workbooks.py).
                    "name": command,
                    "image": self._args.image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-m", "ops.backup", command],
                    "env": [{"name": k, "value": v} for k, v in job_environment(self._args, command).items()],
                    "resources": {"requests": {"cpu": f"{CPU_M}m", "memory": f"{MEMORY_MIB}Mi"}, "limits": {"cpu": f"{2 * CPU_M}m", "memory": f"{MEMORY_MIB}Mi"}},
                    "securityContext": ops_container_security(),
                    "volumeMounts": [{"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}],
                }
            ],
            "volumes": [
                {"name": "secrets", "csi": {"driver": "secrets-store.csi.k8s.io", "readOnly": True, "volumeAttributes": {"secretProviderClass": "backup-secrets"}}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
            ],
        }


def job_environment(args: BackupJobsArgs, command: str) -> dict[str, Any]:
    """The environment of one ops/backup command, by the names ops/backup/cli.py reads."""
    names, plan = args.names, args.plan
    env: dict[str, Any] = {
        "HOME": "/tmp",
        "BACKUP_TENANT": names.key,
        "BACKUP_AZURE_ACCOUNT_URL": args.backup_account_url,
        "BACKUP_AZURE_CONTAINER": args.backup_container,
    }
    if args.offsite:
        env.update({
            "OFFSITE_S3_BUCKET": args.offsite.bucket,
            "OFFSITE_S3_ENDPOINT_URL": args.offsite.endpoint,
            "OFFSITE_S3_REGION": args.offsite.region,
            "OFFSITE_S3_ACCESS_KEY_ID_FILE": f"{SECRETS_DIR}/offsite-access-key-id",
            "OFFSITE_S3_SECRET_ACCESS_KEY_FILE": f"{SECRETS_DIR}/offsite-secret-access-key",
        })
    if command == "backup":
        env.update({
            "PGHOST": args.postgres_fqdn,
            "PGUSER": names.role,
            "PGDATABASE": names.database,
            "PGSSLMODE": "require",
            "DB_PASSWORD_FILE": f"{SECRETS_DIR}/db-password",
            "FILESTORE_AZURE_ACCOUNT_URL": args.files_account_url,
            "FILESTORE_CONTAINER": names.container,
            "BACKUP_IMMUTABILITY_DAYS": str(plan.immutability_days),
        })
        if args.offsite:
            env["OFFSITE_S3_RETAIN_DAYS"] = str(args.offsite.object_lock_days)
    elif command == "drill":
        env.update({
            "DRILL_PGHOST": args.postgres_fqdn,
            "DRILL_PGUSER": names.role,
            "DRILL_PGSSLMODE": "require",
            "DRILL_PASSWORD_FILE": f"{SECRETS_DIR}/db-password",
            "DRILL_SCRATCH_DATABASE": args.drill_database,
            "DRILL_SCRATCH_CONTAINER": args.scratch_container,
            "FILESTORE_AZURE_ACCOUNT_URL": args.files_account_url,
            "DRILL_RPO_TARGET": f"{plan.rpo_hours:g}h",
            "DRILL_RTO_TARGET": f"{plan.rto_hours:g}h",
        })
    elif command == "prune":
        env.update({f"BACKUP_KEEP_{period.upper()}": str(n) for period, n in plan.keep.items()})
        env["BACKUP_IMMUTABILITY_DAYS"] = str(plan.immutability_days)
    return env


def network_policies(labels: Mapping[str, str], args: BackupJobsArgs) -> dict[str, Any]:
    """The tenant namespace denies everything by default (components/odoo_tenant.py); backup pods reach DNS, their
    database server and the storage private endpoints."""
    pods = {"matchLabels": {"app.kubernetes.io/name": labels["app.kubernetes.io/name"]}}
    return {
        "backup-allow-dns": {
            "podSelector": pods,
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
        "backup-allow-data-services": {
            "podSelector": pods,
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": args.postgres_cidr}}], "ports": [{"protocol": "TCP", "port": 5432}]},
                {"to": [{"ipBlock": {"cidr": args.private_endpoint_cidr}}], "ports": [{"protocol": "TCP", "port": 443}]},
            ],
        },
    }


def fqdn_policy(labels: Mapping[str, str], offsite: Optional[OffsiteTarget]) -> dict[str, Any]:
    """Entra ID (workload identity) and, when configured, the offsite S3 endpoint: by name, on 443, nothing else public."""
    hosts = [ENTRA_ID_HOST] + ([urlparse(offsite.endpoint).hostname or ""] if offsite else [])
    return {
        "endpointSelector": {"matchLabels": {"app.kubernetes.io/name": labels["app.kubernetes.io/name"]}},
        "egress": [
            {
                "toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}}],
                "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}], "rules": {"dns": [{"matchPattern": "*"}]}}],
            },
            {"toFQDNs": [{"matchName": h} for h in hosts], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]},
        ],
    }
