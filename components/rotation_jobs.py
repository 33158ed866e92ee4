"""RotationJobs: the scheduled runs of ops/rotate for each tenant environment's database password.

Where they run: the bootstrap namespace (`odoo-bootstrap`, components/db_bootstrap.py), not a namespace of their own.
A tenant password rotation must log in as the server admin; the bootstrap namespace is already the only one that holds
the admin password, and it stays so. Each tenant environment still gets its own service account and workload identity
(`rotate-<unit>-<env>`), so one identity may write exactly one tenant's secret: Key Vault Secrets Officer on that
secret, Secrets User on the admin password, nothing else. The bootstrap identity stays read-only.

When: daily (`SCHEDULE_HOUR`, a minute of that hour derived from the environment's name so environments do not all
start at once). The program rotates only a version within its grace period of expiry (`ops/rotate`, `is_due`), so a
daily run rotates once per `secretRotation.tenantDbPasswordDays` and has `graceDays` (more than 30) chances before
Key Vault's SecretNearExpiry event (components/rotation.py); the other runs read the secret and exit 0.

The rolling restart of Odoo (its web and cron Deployments read the credential only at start) needs a Kubernetes API
token in the pod; the policy pack refuses one unless the service account is one of its `apiClients`, which by default
declares `odoo-bootstrap/rotate-*` (k8s-service-account-token-not-mounted). The stacks switch it on (`restart_odoo`): a
Role in the tenant namespace allows get/patch on those two Deployments only (a `restartedAt` annotation on the pod
template, which Flux's server-side apply does not own; ops/rotate/kube.py), bound to this environment's service account.
Without it, the old login keeps working until pods restart for another reason, and each run exits 1 (`drain`) until then.

Two more CronJobs rotate what the whole stack shares (`platform()`): the Redis access key, whose run restarts Odoo in
every tenant namespace (its service account is a subject of each environment's restart RoleBinding), and the
PostgreSQL server admin password, which only the bootstrap and rotation Jobs read, each at its start, so nothing
restarts. Both call Azure Resource Manager (management.azure.com, by name) with a custom role on exactly their
resource (stacks/shared.py `platform_rotations`).
"""
import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, cast

import pulumi
import pulumi_kubernetes as k8s

from .backup import SECRETS_DIR, fqdn_policy, network_policies, ops_container_security, ops_job_pod
from .kube import api, api_token_volume, secret_provider_spec
from .naming import TenantNames
from .refresh import ODOO_SCALED, TOKEN_DIR
from .rotation import POSTGRES_ADMIN_PASSWORD, REDIS_ACCESS_KEY, TENANT_DB_PASSWORD, SecretLifetime

SCHEDULE_HOUR = 4  # UTC: after the nightly backup (01:15) and verification (02:45), before business hours
DRAIN_SECONDS = 900
# A run may finish an earlier rotation (restart, drain, retire) and then make its own: two restarts (ops/rotate/kube.py
# waits up to 900 s for each) and two drains.
RESTART_TIMEOUT_SECONDS = 900
DEADLINE_SECONDS = 2 * (DRAIN_SECONDS + RESTART_TIMEOUT_SECONDS) + 600
# Python with psycopg and azure-identity; small enough that every environment of a stack fits the bootstrap namespace's
# quota (2 GiB of requests) should all rotations of a stack fall due the same night.
CPU_M, MEMORY_MIB = 100, 192
ADMIN_PASSWORD_FILE = f"{SECRETS_DIR}/admin-password"
RESTART_ROLE = "rotation-restart-odoo"
ARM_HOST = "management.azure.com"
SECRET_KIND_LABEL = "odoo-platform/secret-kind"
PLATFORM_KINDS = (REDIS_ACCESS_KEY, POSTGRES_ADMIN_PASSWORD)  # the stack-wide rotations (`platform()`)


def service_account(tenant: TenantNames) -> str:
    return f"rotate-{tenant.key}"


def platform_service_account(kind: str) -> str:
    """The service account of a stack-wide rotation (`rotate-redis-access-key`, `rotate-postgres-admin-password`)."""
    return f"rotate-{kind}"


def schedule(tenant: TenantNames) -> str:
    """Daily at SCHEDULE_HOUR, at a minute fixed by the environment's name (the same on every preview)."""
    return _daily(tenant.key)


def _daily(name: str) -> str:
    minute = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 60
    return f"{minute} {SCHEDULE_HOUR} * * *"


@dataclass(frozen=True)
class RotationJobsArgs:
    provider: k8s.Provider
    namespace: str  # the bootstrap namespace
    image: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    key_vault_name: pulumi.Input[str]
    key_vault_url: pulumi.Input[str]
    admin_secret_name: pulumi.Input[str]
    admin_login: str
    postgres_fqdn: pulumi.Input[str]
    postgres_cidr: str
    private_endpoint_cidr: str
    restart_odoo: bool = False
    depends_on: Sequence[pulumi.Resource] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


class RotationJobs(pulumi.ComponentResource):
    """The namespace-wide egress of rotation pods; `tenant()` adds one environment's CronJob and its access."""

    def __init__(self, name: str, args: RotationJobsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:rotation:RotationJobs", name, None, opts)
        self._args = args
        self._opts = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.depends_on))
        self._labels = {**args.labels, "app.kubernetes.io/name": "odoo-rotation", "app.kubernetes.io/part-of": "odoo-platform",
                        "app.kubernetes.io/component": "secret-rotation"}
        # The backup jobs' egress (DNS, the database server, the private endpoints: Key Vault's) for these pods; the
        # namespace denies everything else (components/db_bootstrap.py).
        for policy_name, spec in network_policies(self._labels, cast(Any, args)).items():
            object_name = policy_name.replace("backup", "rotation")
            k8s.networking.v1.NetworkPolicy(f"{name}-{object_name}", metadata=api(self._meta(object_name)), spec=api(spec), opts=self._opts)
        egress = fqdn_policy(self._labels, None)  # Entra ID by name, for the workload identity's tokens
        if args.restart_odoo:
            # the rolling restart: the cluster's API server (Cilium's kube-apiserver entity), nothing else
            egress["egress"].append({"toEntities": ["kube-apiserver"], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]})
        k8s.apiextensions.CustomResource(
            f"{name}-allow-egress-by-name",
            api_version="cilium.io/v2",
            kind="CiliumNetworkPolicy",
            metadata=api(self._meta("rotation-allow-egress-by-name")),
            spec=api(egress),
            opts=self._opts,
        )
        # Azure Resource Manager for the stack-wide rotations only (their pods carry the secret-kind label matched here).
        k8s.apiextensions.CustomResource(
            f"{name}-allow-arm",
            api_version="cilium.io/v2",
            kind="CiliumNetworkPolicy",
            metadata=api(self._meta("rotation-allow-arm")),
            spec=api({
                "endpointSelector": {"matchLabels": {"app.kubernetes.io/name": self._labels["app.kubernetes.io/name"]},
                                     "matchExpressions": [{"key": SECRET_KIND_LABEL, "operator": "In", "values": list(PLATFORM_KINDS)}]},
                "egress": [{"toFQDNs": [{"matchName": ARM_HOST}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}],
            }),
            opts=self._opts,
        )
        self.schedules: dict[str, str] = {}
        self.register_outputs({})

    def _meta(self, object_name: str, namespace: Optional[str] = None) -> dict[str, Any]:
        return {"name": object_name, "namespace": namespace or self._args.namespace, "labels": self._labels}

    def tenant(self, tenant: TenantNames, identity_client_id: pulumi.Input[str], secret_name: pulumi.Input[str], lifetime: SecretLifetime,
               depends_on: Sequence[pulumi.Resource] = ()) -> k8s.batch.v1.CronJob:
        """`tenant`'s password rotation. `depends_on`: the tenant's namespace (the Role's), the secrets and the grants
        the pod needs (pod-inputs-ready)."""
        args = self._args
        account = service_account(tenant)
        opts = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[*args.depends_on, *depends_on])
        if args.restart_odoo:
            self._restart_access(tenant, account, opts)
        self.schedules[tenant.key] = schedule(tenant)
        return self._cron(f"rotate-{tenant.key}", f"rotate-db-{tenant.key}", account, {"odoo-platform/tenant-environment": tenant.key},
                          self.schedules[tenant.key], TENANT_DB_PASSWORD, identity_client_id, secret_name,
                          job_environment(args, tenant, lifetime), DEADLINE_SECONDS, opts)

    def platform(self, kind: str, identity_client_id: pulumi.Input[str], secret_name: pulumi.Input[str], lifetime: SecretLifetime,
                 resource_id: pulumi.Input[str], tenants: Sequence[TenantNames] = (), depends_on: Sequence[pulumi.Resource] = ()) -> k8s.batch.v1.CronJob:
        """The rotation of a secret the whole stack shares: REDIS_ACCESS_KEY (restarting Odoo in each of `tenants`) or
        POSTGRES_ADMIN_PASSWORD; `resource_id` is the Redis database's or the server's ARM id."""
        args = self._args
        opts = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[*args.depends_on, *depends_on])
        env = {**_common_environment(args, lifetime), **({"REDIS_DATABASE_ID": resource_id} if kind == REDIS_ACCESS_KEY else
               {"POSTGRES_SERVER_ID": resource_id, "PGHOST": args.postgres_fqdn, "PGADMIN": args.admin_login, "ADMIN_PASSWORD_FILE": ADMIN_PASSWORD_FILE,
                "PGSSLMODE": "require"})}
        restarts = [f"{t.namespace}/{name}" for t in tenants for name in ODOO_SCALED] if kind == REDIS_ACCESS_KEY and args.restart_odoo else []
        if restarts:
            env["ROTATE_RESTART"] = ",".join(restarts)
        self.schedules[kind] = _daily(kind)
        # each namespace's rollout is awaited in turn (ops/rotate/cli.py)
        deadline = RESTART_TIMEOUT_SECONDS * len(tenants) + 600 if restarts else 1800
        account = platform_service_account(kind)
        return self._cron(account, account, account, {}, self.schedules[kind], kind, identity_client_id, secret_name, env, deadline, opts,
                          mount_admin_password=kind == POSTGRES_ADMIN_PASSWORD)

    def _cron(self, resource_name: str, cron_name: str, account: str, labels: Mapping[str, str], cron_schedule: str, kind: str,
              identity_client_id: pulumi.Input[str], secret_name: pulumi.Input[str], env: Mapping[str, Any], deadline_seconds: int,
              opts: pulumi.ResourceOptions, mount_admin_password: bool = True) -> k8s.batch.v1.CronJob:
        """A daily `python -m ops.rotate <kind> --secret <name>` as `account` (with its workload identity), mounting the
        admin password when it logs in to the server; the Kubernetes API token only when it restarts something."""
        args = self._args
        sa = k8s.core.v1.ServiceAccount(
            f"{resource_name}-sa",
            metadata=api({**self._meta(account), "annotations": {"azure.workload.identity/client-id": identity_client_id}}),
            automount_service_account_token=False,
            opts=opts,
        )
        inputs: list[pulumi.Resource] = [sa]
        if mount_admin_password:
            inputs.append(k8s.apiextensions.CustomResource(
                f"{resource_name}-secrets",
                api_version="secrets-store.csi.x-k8s.io/v1",
                kind="SecretProviderClass",
                metadata=api(self._meta(account)),
                spec=secret_provider_spec(identity_client_id, args.key_vault_name, args.tenant_id, [(args.admin_secret_name, "admin-password")]),
                opts=opts,
            ))
        labels = {**self._labels, **labels, SECRET_KIND_LABEL: kind}
        return k8s.batch.v1.CronJob(
            resource_name,
            metadata=api({**self._meta(cron_name), "labels": labels}),
            spec=api({
                "schedule": cron_schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": labels},
                    "spec": {
                        # Not retried at once: every step is safe to stop after, and tomorrow's run finishes the rotation.
                        "backoffLimit": 0,
                        "activeDeadlineSeconds": deadline_seconds,
                        "template": {
                            "metadata": {"labels": {**labels, "azure.workload.identity/use": "true"}},
                            "spec": self._pod(kind, account, secret_name, env, mount_admin_password, api_token="ROTATE_RESTART" in env),
                        },
                    },
                },
            }),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=inputs)),
        )

    def _restart_access(self, tenant: TenantNames, account: str, opts: pulumi.ResourceOptions) -> None:
        """get/patch on Odoo's web and cron Deployments, by name, in the tenant's namespace only: for the environment's
        password rotation and the stack's Redis key rotation."""
        k8s.rbac.v1.Role(
            f"rotate-{tenant.key}-role",
            metadata=api(self._meta(RESTART_ROLE, tenant.namespace)),
            rules=cast(Any, [{"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": list(ODOO_SCALED), "verbs": ["get", "patch"]}]),
            opts=opts,
        )
        k8s.rbac.v1.RoleBinding(
            f"rotate-{tenant.key}-binding",
            metadata=api(self._meta(RESTART_ROLE, tenant.namespace)),
            role_ref=api({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RESTART_ROLE}),
            subjects=cast(Any, [{"kind": "ServiceAccount", "name": name, "namespace": self._args.namespace}
                                for name in (account, platform_service_account(REDIS_ACCESS_KEY))]),
            opts=opts,
        )

    def _pod(self, kind: str, account: str, secret_name: pulumi.Input[str], env: Mapping[str, Any], mount_admin_password: bool,
             api_token: bool) -> dict[str, Any]:
        mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
        volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
        if mount_admin_password:
            mounts.append({"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True})
            volumes.append({"name": "secrets", "csi": {"driver": "secrets-store.csi.k8s.io", "readOnly": True,
                                                       "volumeAttributes": {"secretProviderClass": account}}})
        if api_token:
            mount, volume = api_token_volume(TOKEN_DIR)
            mounts.append(mount)
            volumes.append(volume)
        return {
            **ops_job_pod(account),
            "containers": [{
                "name": "rotate",
                "image": self._args.image,
                "imagePullPolicy": "IfNotPresent",
                # The secret's name as a flag: an environment variable named *SECRET reads as a credential in clear
                # to the pack (k8s-no-literal-credentials).
                "command": ["python", "-m", "ops.rotate", kind, "--secret", secret_name],
                "env": [{"name": k, "value": v} for k, v in env.items()],
                "resources": {"requests": {"cpu": f"{CPU_M}m", "memory": f"{MEMORY_MIB}Mi"}, "limits": {"cpu": f"{5 * CPU_M}m", "memory": f"{MEMORY_MIB}Mi"}},
                "securityContext": ops_container_security(),
                "volumeMounts": mounts,
            }],
            "volumes": volumes,
        }


def _common_environment(args: RotationJobsArgs, lifetime: SecretLifetime) -> dict[str, Any]:
    return {
        "HOME": "/tmp",
        "ROTATE_VAULT_URL": args.key_vault_url,
        "ROTATE_DAYS": str(lifetime.rotation_days),  # the same lifetime Pulumi gave the first version
        "ROTATE_GRACE_DAYS": str(lifetime.grace_days),
    }


def job_environment(args: RotationJobsArgs, tenant: TenantNames, lifetime: SecretLifetime) -> dict[str, Any]:
    """The environment of `python -m ops.rotate tenant-db-password --secret <name>`, by the names ops/rotate/cli.py reads."""
    env: dict[str, Any] = {
        **_common_environment(args, lifetime),
        "PGHOST": args.postgres_fqdn,
        "PGADMIN": args.admin_login,
        "ADMIN_PASSWORD_FILE": ADMIN_PASSWORD_FILE,
        "PGSSLMODE": "require",
        "TENANT_ROLE": tenant.role,
        "TENANT_DATABASE": tenant.database,
        "ROTATE_DRAIN_SECONDS": str(DRAIN_SECONDS),
    }
    if args.restart_odoo:
        env["ROTATE_RESTART"] = ",".join(f"{tenant.namespace}/{name}" for name in ODOO_SCALED)
    return env
