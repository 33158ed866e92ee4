"""RefreshJobs: the Kubernetes side of a non-production refresh (ops/refresh, README.md "Refreshing non-production").

- `export` (in the PRODUCTION stack, the production tenant's namespace): a CronJob that restores the newest backup set
  into the environment's refresh database on the production server, neutralises, masks, verifies and writes the masked
  export to `exports/<unit>/<environment>/`. Its identity reads the tenant's backup prefix, writes that exports prefix,
  reads the tenant's database password and the stack's masking key; nothing else.
- `import` (in the NON-PRODUCTION stack, the target environment's namespace): a CronJob that waits for that export and
  swaps it into the environment's database in one transaction (Odoo paused around it with `pause_odoo`). Its identity reads only
  `exports/<unit>/<environment>/` in production (granted by the production stack: policies/rules/refresh.py refuses
  anything wider) and its own database and admin password here.

Both run `python -m ops.refresh` from the backup image on the `jobs` pool, as the backup jobs do.
"""
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, cast

import pulumi
import pulumi_kubernetes as k8s

from .backup import CPU_M, MEMORY_MIB, SECRETS_DIR, fqdn_policy, network_policies, ops_container_security, ops_job_pod
from .kube import api, api_token_volume, secret_provider_spec
from .naming import TenantNames

SERVICE_ACCOUNT = "refresh"
EXPORT, IMPORT = "export", "import"
# Odoo's release objects (release/base, components/flux.py) the import pauses: KEDA ScaledObjects and their Deployments.
ODOO_SCALED = ("odoo-web", "odoo-cron")
# An import waits this long for the export of the same schedule (production restores, masks and dumps meanwhile).
IMPORT_WAIT_HOURS = 6
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# The quota room a namespace keeps for its refresh job (one run at a time).
QUOTA_ALLOWANCE = (1, CPU_M, MEMORY_MIB)


def exports_prefix(unit: str, environment: str) -> str:
    """Where the masked exports for one environment live in production's exports container."""
    return f"{unit}/{environment}/"


def with_refresh_allowance(allowance: tuple[int, int, int], jobs: int) -> tuple[int, int, int]:
    """A namespace's job allowance (pods, CPU m, memory MiB) with room for its `jobs` refresh CronJobs."""
    pods, cpu_m, memory_mib = allowance
    return pods + jobs * QUOTA_ALLOWANCE[0], cpu_m + jobs * QUOTA_ALLOWANCE[1], memory_mib + jobs * QUOTA_ALLOWANCE[2]


@dataclass(frozen=True)
class RefreshJob:
    target: TenantNames  # the refreshed environment
    schedule: str  # cron, UTC
    environment: Mapping[str, pulumi.Input[str]]  # export_environment() / import_environment()


@dataclass(frozen=True)
class RefreshJobsArgs:
    provider: k8s.Provider
    names: TenantNames  # the namespace the jobs run in (production tenant for export, target for import)
    command: str  # EXPORT or IMPORT
    jobs: Sequence[RefreshJob]
    image: pulumi.Input[str]
    identity_client_id: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    key_vault_name: pulumi.Input[str]
    secrets: Sequence[tuple[pulumi.Input[str], str]]  # (Key Vault secret name, file name)
    postgres_cidr: str
    private_endpoint_cidr: str
    # Import: pause Odoo's ScaledObjects through the API server during the swap (the stacks do). The pod then holds an
    # API token, which the pack accepts for `odoo-*/refresh` (its default apiClients). Without it, Odoo keeps running:
    # requests wait on the swap's locks and Odoo reloads its registry and caches after it (the swap advances its
    # signaling sequences, ops/refresh/importer.py).
    pause_odoo: bool = False
    # Export: the Odoo image, whose addons' own data/neutralize.sql an init container copies for the export to run
    # (ops/refresh/neutralize.py), as `odoo-bin neutralize` runs them for every installed module.
    odoo_image: Optional[pulumi.Input[str]] = None
    depends_on: Sequence[pulumi.Resource] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


NEUTRALIZE_DIR = "/neutralize"
# Run by the Odoo image's python3 with the target directory as argv[1]: every addon's data/neutralize.sql, found where
# Odoo itself looks for addons (odoo.addons.__path__), copied to <target>/<module>/data/neutralize.sql.
COPY_NEUTRALIZE_SCRIPTS = """import os, shutil, sys
import odoo.addons
copied = 0
for root in odoo.addons.__path__:
    for module in sorted(os.listdir(root)):
        source = os.path.join(root, module, "data", "neutralize.sql")
        if os.path.isfile(source):
            os.makedirs(os.path.join(sys.argv[1], module, "data"), exist_ok=True)
            shutil.copyfile(source, os.path.join(sys.argv[1], module, "data", "neutralize.sql"))
            copied += 1
print(f"{copied} neutralize.sql files")
sys.exit(0 if copied else 1)
"""


class RefreshJobs(pulumi.ComponentResource):
    def __init__(self, name: str, args: RefreshJobsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:refresh:RefreshJobs", name, None, opts)
        self._args = args
        self._opts = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.depends_on))
        self._labels = {**args.labels, "app.kubernetes.io/name": "odoo-refresh", "app.kubernetes.io/part-of": "odoo-platform",
                        "app.kubernetes.io/component": args.command}
        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=api({**self._meta(SERVICE_ACCOUNT), "annotations": {"azure.workload.identity/client-id": args.identity_client_id}}),
            automount_service_account_token=False,
            opts=self._opts,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-secrets",
            api_version="secrets-store.csi.x-k8s.io/v1",
            kind="SecretProviderClass",
            metadata=api(self._meta("refresh-secrets")),
            spec=secret_provider_spec(args.identity_client_id, args.key_vault_name, args.tenant_id, list(args.secrets)),
            opts=self._opts,
        )
        # The backup jobs' egress (DNS, the database server, the private endpoints; Entra ID by name), for these pods.
        for policy_name, spec in network_policies(self._labels, cast(Any, args)).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{policy_name}", metadata=api(self._meta(policy_name.replace("backup", "refresh"))), spec=api(spec), opts=self._opts)
        egress = fqdn_policy(self._labels, None)
        if args.command == IMPORT and args.pause_odoo:
            # pausing Odoo: the cluster's API server (Cilium's kube-apiserver entity), nothing else
            egress["egress"].append({"toEntities": ["kube-apiserver"], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]})
            self._odoo_access(name)
        k8s.apiextensions.CustomResource(
            f"{name}-allow-egress-by-name",
            api_version="cilium.io/v2",
            kind="CiliumNetworkPolicy",
            metadata=api(self._meta("refresh-allow-egress-by-name")),
            spec=api(egress),
            opts=self._opts,
        )
        self.cron_jobs = {job.target.key: self._cron_job(name, job) for job in args.jobs}
        self.register_outputs({"schedules": {job.target.key: job.schedule for job in args.jobs}, "command": args.command})

    def _meta(self, object_name: str) -> dict[str, Any]:
        return {"name": object_name, "namespace": self._args.names.namespace, "labels": self._labels}

    def _odoo_access(self, name: str) -> None:
        """get/patch on Odoo's ScaledObjects (the pause annotation) and get on its Deployments, by name, in this namespace."""
        k8s.rbac.v1.Role(
            f"{name}-role",
            metadata=api(self._meta("refresh-pause-odoo")),
            rules=cast(Any, [
                {"apiGroups": ["keda.sh"], "resources": ["scaledobjects"], "resourceNames": list(ODOO_SCALED), "verbs": ["get", "patch"]},
                {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": list(ODOO_SCALED), "verbs": ["get"]},
            ]),
            opts=self._opts,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-binding",
            metadata=api(self._meta("refresh-pause-odoo")),
            role_ref=api({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "refresh-pause-odoo"}),
            subjects=cast(Any, [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": self._args.names.namespace}]),
            opts=self._opts,
        )

    def _cron_job(self, name: str, job: RefreshJob) -> k8s.batch.v1.CronJob:
        args = self._args
        deadline = (IMPORT_WAIT_HOURS + 2) * 3600 if args.command == IMPORT else 6 * 3600
        return k8s.batch.v1.CronJob(
            f"{name}-{job.target.key}",
            metadata=api({**self._meta(f"refresh-{args.command}-{job.target.key}")}),
            spec=api({
                "schedule": job.schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": self._labels},
                    "spec": {
                        # A failed refresh is reported (OdooDataJobFailed), never retried into a half-done state.
                        "backoffLimit": 0,
                        "activeDeadlineSeconds": deadline,
                        "template": {"metadata": {"labels": {**self._labels, "azure.workload.identity/use": "true"}}, "spec": self._pod(job)},
                    },
                },
            }),
            opts=self._opts,
        )

    def _pause_environment(self, job: RefreshJob) -> dict[str, str]:
        return {"REFRESH_NAMESPACE": job.target.namespace} if self._args.command == IMPORT and self._args.pause_odoo else {}

    def _pod(self, job: RefreshJob) -> dict[str, Any]:
        args = self._args
        mounts = [{"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}]
        volumes: list[dict[str, Any]] = [
            {"name": "secrets", "csi": {"driver": "secrets-store.csi.k8s.io", "readOnly": True, "volumeAttributes": {"secretProviderClass": "refresh-secrets"}}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        ]
        init: list[dict[str, Any]] = []
        env = {"HOME": "/tmp", **job.environment, **self._pause_environment(job)}
        if args.command == EXPORT and args.odoo_image is not None:
            volumes.append({"name": "neutralize", "emptyDir": {"sizeLimit": "16Mi"}})
            mounts.append({"name": "neutralize", "mountPath": NEUTRALIZE_DIR, "readOnly": True})
            env["ODOO_ADDONS_DIR"] = NEUTRALIZE_DIR
            init.append({
                "name": "neutralize-scripts",
                "image": args.odoo_image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["python3", "-c", COPY_NEUTRALIZE_SCRIPTS, NEUTRALIZE_DIR],
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
                "securityContext": ops_container_security(),
                "volumeMounts": [{"name": "neutralize", "mountPath": NEUTRALIZE_DIR}, {"name": "tmp", "mountPath": "/tmp"}],
            })
        if args.command == IMPORT and args.pause_odoo:
            mount, volume = api_token_volume(TOKEN_DIR)
            mounts.append(mount)
            volumes.append(volume)
        return {
            **ops_job_pod(SERVICE_ACCOUNT),
            **({"initContainers": init} if init else {}),
            "containers": [{
                "name": f"refresh-{args.command}",
                "image": args.image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["python", "-m", "ops.refresh", args.command],
                "env": [{"name": k, "value": v} for k, v in env.items()],
                "resources": {"requests": {"cpu": f"{CPU_M}m", "memory": f"{MEMORY_MIB}Mi"}, "limits": {"cpu": f"{2 * CPU_M}m", "memory": f"{MEMORY_MIB}Mi"}},
                "securityContext": ops_container_security(),
                "volumeMounts": mounts,
            }],
            "volumes": volumes,
        }


def export_environment(tenant: TenantNames, target: TenantNames, masking: str, backup_account_url: pulumi.Input[str], backup_container: str,
                       exports_account_url: pulumi.Input[str], exports_container: str, postgres_fqdn: pulumi.Input[str],
                       refresh_database: str) -> dict[str, pulumi.Input[str]]:
    """The export job's environment, by the names ops/refresh/cli.py reads."""
    return {
        "BACKUP_TENANT": tenant.key,
        "BACKUP_AZURE_ACCOUNT_URL": backup_account_url,
        "BACKUP_AZURE_CONTAINER": backup_container,
        "REFRESH_TARGET": exports_prefix(target.unit, target.environment).rstrip("/"),
        "REFRESH_EXPORTS_ACCOUNT_URL": exports_account_url,
        "REFRESH_EXPORTS_CONTAINER": exports_container,
        "REFRESH_PGHOST": postgres_fqdn,
        "REFRESH_PGUSER": tenant.role,
        "REFRESH_PGSSLMODE": "require",
        "REFRESH_PASSWORD_FILE": f"{SECRETS_DIR}/db-password",
        "REFRESH_SCRATCH_DATABASE": refresh_database,
        "REFRESH_PROFILE": masking,
        "REFRESH_KEY_FILE": f"{SECRETS_DIR}/masking-key",
    }


def import_environment(target: TenantNames, host: str, exports_account_url: str, exports_container: str,
                       postgres_fqdn: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """The import job's environment, by the names ops/refresh/cli.py reads."""
    return {
        "REFRESH_TARGET": exports_prefix(target.unit, target.environment).rstrip("/"),
        "REFRESH_EXPORTS_ACCOUNT_URL": exports_account_url,
        "REFRESH_EXPORTS_CONTAINER": exports_container,
        "PGHOST": postgres_fqdn,
        "PGUSER": target.role,
        "PGDATABASE": target.database,
        "PGSSLMODE": "require",
        "DB_PASSWORD_FILE": f"{SECRETS_DIR}/db-password",
        "REFRESH_BASE_URL": f"https://{host}",
        "REFRESH_USER_PASSWORD_FILE": f"{SECRETS_DIR}/user-password",
        "REFRESH_WAIT": f"{IMPORT_WAIT_HOURS}h",
    }

