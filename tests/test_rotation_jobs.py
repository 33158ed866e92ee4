"""Scheduled tenant database password rotation (components/rotation_jobs.py) on both stacks: one CronJob per tenant
environment in the bootstrap namespace whose environment the real ops/rotate CLI parses, an identity per environment
that may write only its own password (and read the admin password), egress to exactly what the program talks to, and
the rolling restart's Kubernetes access when it is switched on."""
import os
import re
from unittest import mock

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.db_bootstrap import NAMESPACE as BOOTSTRAP_NAMESPACE
from components.interfaces import ROLES
from components.naming import TenantNames
from components.rotation import SecretLifetime
from components.rotation_jobs import ADMIN_PASSWORD_FILE, RotationJobs, RotationJobsArgs, schedule
from ops.rotate import cli
from tools.mocks import arm_id, stable_uuid
from tools.recording import run_program

CRON = "kubernetes:batch/v1:CronJob"
ROLE = "azure-native:authorization:RoleAssignment"
SPC = "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
FEDERATED = "azure-native:managedidentity:FederatedIdentityCredential"


def tenants(recording) -> list[str]:
    from tools.preview import stack_settings

    return [f"{u['name']}-{e if isinstance(e, str) else e['name']}" for u in stack_settings(recording.stack)["units"] for e in u["environments"]]


def in_namespace(recording, type_: str, namespace: str, name: str) -> dict:
    [found] = [r.inputs for r in recording.of_type(type_) if r.inputs["metadata"]["namespace"] == namespace and r.inputs["metadata"]["name"] == name]
    return found


def pod(job: dict) -> dict:
    return job["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def environment(job: dict) -> dict[str, str]:
    return {e["name"]: str(e["value"]) for e in pod(job)["containers"][0]["env"]}


def mounted_secrets(recording, namespace: str, provider_class: str) -> dict[str, str]:
    """alias -> Key Vault secret name of a SecretProviderClass."""
    objects = in_namespace(recording, SPC, namespace, provider_class)["spec"]["parameters"]["objects"]
    return {alias: name for name, alias in re.findall(r"objectName: (\S+)\n\s+objectType: secret\n\s+objectAlias: (\S+)", objects)}


def parsed(job: dict):
    """What ops/rotate makes of the CronJob's environment, with no flag given (as the container runs it)."""
    with mock.patch.dict(os.environ, environment(job), clear=True):
        return cli.parser().parse_args(pod(job)["containers"][0]["command"][3:])


def test_every_environment_has_its_daily_rotation_in_the_bootstrap_namespace(stack):
    backup_image = None
    for tenant in tenants(stack):
        job = in_namespace(stack, CRON, BOOTSTRAP_NAMESPACE, f"rotate-db-{tenant}")
        spec, p = job["spec"], pod(job)
        assert spec["concurrencyPolicy"] == "Forbid" and spec["timeZone"] == "Etc/UTC"
        assert re.fullmatch(r"([0-9]|[1-5][0-9]) 4 \* \* \*", spec["schedule"]), spec["schedule"]
        assert p["containers"][0]["command"][:4] == ["python", "-m", "ops.rotate", "tenant-db-password"]
        assert p["serviceAccountName"] == f"rotate-{tenant}" and p["automountServiceAccountToken"] is False
        assert p["nodeSelector"] == {"workload-class": "jobs"}
        # the ops image the backup jobs run (ops/Dockerfile)
        backup_image = next(pod(r.inputs)["containers"][0]["image"] for r in stack.of_type(CRON) if r.inputs["metadata"]["namespace"] == f"odoo-{tenant}"
                            and r.inputs["metadata"]["name"] == "backup")
        assert p["containers"][0]["image"] == backup_image
        # what Azure Policy's restricted initiative and Pod Security "restricted" want (components/admission.py)
        security = p["securityContext"]
        assert security["runAsNonRoot"] and all(isinstance(security[k], int) and security[k] > 0 for k in ("runAsUser", "runAsGroup", "fsGroup"))
        assert security["supplementalGroups"] == [security["runAsGroup"]] and security["seccompProfile"] == {"type": "RuntimeDefault"}
        container = p["containers"][0]["securityContext"]
        assert container["allowPrivilegeEscalation"] is False and container["readOnlyRootFilesystem"] and container["capabilities"] == {"drop": ["ALL"]}
        sa = in_namespace(stack, "kubernetes:core/v1:ServiceAccount", BOOTSTRAP_NAMESPACE, f"rotate-{tenant}")
        assert sa["automountServiceAccountToken"] is False


def test_the_real_cli_parses_each_jobs_environment(stack):
    """Every variable is one ops/rotate reads; with only those, every required flag is met and each names the
    tenant's own role, database, password secret, vault and the stack's lifetime of tenant passwords."""
    from tools.preview import stack_settings

    rotation = stack_settings(stack.stack).get("secretRotation", {})
    for tenant in tenants(stack):
        job = in_namespace(stack, CRON, BOOTSTRAP_NAMESPACE, f"rotate-db-{tenant}")
        args = parsed(job)
        assert args.command == "tenant-db-password"
        assert all(getattr(args, k) for k in cli.REQUIRED[args.command]), args
        bootstrap_job = in_namespace(stack, "kubernetes:batch/v1:Job", BOOTSTRAP_NAMESPACE, f"bootstrap-{tenant}")
        bootstrap = {e["name"]: e["value"] for e in bootstrap_job["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert (args.role, args.database, args.pg_host, args.pg_admin) == (bootstrap["TENANT_ROLE"], bootstrap["TENANT_DATABASE"], bootstrap["PGHOST"], bootstrap["PGADMIN"])
        assert args.secret == mounted_secrets(stack, f"odoo-{tenant}", "backup-secrets")["db-password"]
        own = mounted_secrets(stack, BOOTSTRAP_NAMESPACE, f"rotate-{tenant}")
        assert own == {"admin-password": mounted_secrets(stack, BOOTSTRAP_NAMESPACE, f"bootstrap-{tenant}")["admin-password"]}
        assert args.admin_password_file == ADMIN_PASSWORD_FILE
        vault = in_namespace(stack, SPC, BOOTSTRAP_NAMESPACE, f"rotate-{tenant}")["spec"]["parameters"]["keyvaultName"]
        assert args.vault_url == f"https://{vault}.vault.azure.net/"
        assert (args.rotation_days, args.grace_days) == (rotation.get("tenantDbPasswordDays", 90), rotation.get("graceDays", 35))
        assert args.sslmode == "require" and args.restart == f"odoo-{tenant}/odoo-web,odoo-{tenant}/odoo-cron" and not args.force


def test_each_rotation_identity_writes_only_its_own_password(stack):
    vault = next(r.inputs["vaultName"] for r in stack.of_type("azure-native:keyvault:Vault"))
    for tenant in tenants(stack):
        [federated] = [r.inputs for r in stack.of_type(FEDERATED) if r.inputs["subject"] == f"system:serviceaccount:{BOOTSTRAP_NAMESPACE}:rotate-{tenant}"]
        identity = next(r.inputs for r in stack.of_type(IDENTITY) if r.inputs.get("resourceName") == federated["resourceName"])
        principal = stable_uuid("principal", identity["resourceName"])
        grants = {(r.inputs["scope"].split(f"/vaults/{vault}/", 1)[-1], r.inputs["roleDefinitionId"].rsplit("/", 1)[1])
                  for r in stack.of_type(ROLE) if r.inputs["principalId"] == principal}
        job = in_namespace(stack, CRON, BOOTSTRAP_NAMESPACE, f"rotate-db-{tenant}")
        admin = mounted_secrets(stack, BOOTSTRAP_NAMESPACE, f"rotate-{tenant}")["admin-password"]
        assert grants == {(f"secrets/{parsed(job).secret}", ROLES["Key Vault Secrets Officer"]), (f"secrets/{admin}", ROLES["Key Vault Secrets User"])}
        annotations = in_namespace(stack, "kubernetes:core/v1:ServiceAccount", BOOTSTRAP_NAMESPACE, f"rotate-{tenant}")["metadata"]["annotations"]
        assert annotations["azure.workload.identity/client-id"] == stable_uuid("client", identity["resourceName"])
    # no other identity may write a single secret than these and the two stack-wide rotations (the deployer's
    # vault-wide grant is the landing zone's)
    officers = [r for r in stack.of_type(ROLE) if r.inputs["roleDefinitionId"].endswith(ROLES["Key Vault Secrets Officer"]) and "/secrets/" in r.inputs["scope"]]
    assert len(officers) == len(tenants(stack)) + 2


def test_rotation_pods_reach_only_dns_postgres_key_vault_and_entra(stack):
    job = in_namespace(stack, CRON, BOOTSTRAP_NAMESPACE, f"rotate-db-{tenants(stack)[0]}")
    labels = job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    data = in_namespace(stack, "kubernetes:networking.k8s.io/v1:NetworkPolicy", BOOTSTRAP_NAMESPACE, "rotation-allow-data-services")["spec"]
    selector = data["podSelector"]["matchLabels"]
    assert selector.items() <= labels.items()
    allowed = {(rule["to"][0]["ipBlock"]["cidr"], rule["ports"][0]["port"]) for rule in data["egress"]}
    # the database server's subnet on 5432 and the private endpoints' (Key Vault's) on 443, as for the backup pods
    backup = in_namespace(stack, "kubernetes:networking.k8s.io/v1:NetworkPolicy", f"odoo-{tenants(stack)[0]}", "backup-allow-data-services")["spec"]
    assert allowed == {(rule["to"][0]["ipBlock"]["cidr"], rule["ports"][0]["port"]) for rule in backup["egress"]} and {p for _, p in allowed} == {5432, 443}
    dns = in_namespace(stack, "kubernetes:networking.k8s.io/v1:NetworkPolicy", BOOTSTRAP_NAMESPACE, "rotation-allow-dns")["spec"]
    assert dns["podSelector"]["matchLabels"] == selector and {p["port"] for p in dns["egress"][0]["ports"]} == {53}
    by_name = in_namespace(stack, "kubernetes:cilium.io/v2:CiliumNetworkPolicy", BOOTSTRAP_NAMESPACE, "rotation-allow-egress-by-name")["spec"]
    assert by_name["endpointSelector"]["matchLabels"] == selector
    assert [h["matchName"] for rule in by_name["egress"] for h in rule.get("toFQDNs", [])] == ["login.microsoftonline.com"]
    assert [rule["toEntities"] for rule in by_name["egress"] if "toEntities" in rule] == [["kube-apiserver"]], "the API server, for the restart only"
    # the namespace's default deny stays (components/db_bootstrap.py)
    assert in_namespace(stack, "kubernetes:networking.k8s.io/v1:NetworkPolicy", BOOTSTRAP_NAMESPACE, "default-deny")["spec"]["podSelector"] == {}


def test_environments_start_apart_and_always_at_the_same_minute():
    environments = [TenantNames(u, e) for u in ("gc", "civil", "roads") for e in ("dev", "qa", "uat", "training")]
    minutes = [int(schedule(t).split()[0]) for t in environments]
    assert minutes == [int(schedule(TenantNames(t.unit, t.environment)).split()[0]) for t in environments]  # no clock, no order
    assert len(set(minutes)) >= len(environments) // 2, minutes


@pytest.fixture(scope="module")
def with_restart():
    """The component alone, restart on: what a stack that lists the rotation service accounts in apiClients gets."""

    def program():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        jobs = RotationJobs("rotation", RotationJobsArgs(
            provider=provider, namespace=BOOTSTRAP_NAMESPACE, image="acr.example/odoo-platform-ops:0.1@sha256:" + "a" * 64,
            tenant_id="tenant", key_vault_name="kv-x", key_vault_url="https://kv-x.vault.azure.net/", admin_secret_name="pg-admin-password",
            admin_login="odooplatformadmin", postgres_fqdn="psql-x.postgres.database.azure.com", postgres_cidr="10.0.4.0/24",
            private_endpoint_cidr="10.0.3.0/24", restart_odoo=True,
        ))
        jobs.tenant(TenantNames("gc", "dev"), "client-id", "pg-gc-dev-password", SecretLifetime("tenant-db-password", 60, 40))
        pulumi.export("schedules", jobs.schedules)

    return run_program(program, "dev", {})


def test_with_the_restart_the_job_may_patch_only_odoos_deployments(with_restart):
    [role] = [r.inputs for r in with_restart.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")]
    assert role["metadata"]["namespace"] == "odoo-gc-dev"
    assert role["rules"] == [{"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["odoo-web", "odoo-cron"], "verbs": ["get", "patch"]}]
    [binding] = [r.inputs for r in with_restart.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")]
    assert binding["metadata"]["namespace"] == "odoo-gc-dev" and binding["roleRef"]["name"] == role["metadata"]["name"]
    # the environment's password rotation and the stack's Redis key rotation
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": n, "namespace": BOOTSTRAP_NAMESPACE} for n in ("rotate-gc-dev", "rotate-redis-access-key")]
    job = with_restart.one(CRON).inputs
    args = parsed(job)
    assert args.restart == "odoo-gc-dev/odoo-web,odoo-gc-dev/odoo-cron" and (args.rotation_days, args.grace_days) == (60, 40)
    # the token the restart uses: projected where ops/refresh/kube.py's KubeApi.in_cluster() reads it
    from ops.refresh.kube import TOKEN

    mounts = {m["name"]: m["mountPath"] for m in pod(job)["containers"][0]["volumeMounts"]}
    assert mounts["kube-api"] == os.path.dirname(TOKEN)
    [by_name] = [r.inputs["spec"] for r in with_restart.of_type("kubernetes:cilium.io/v2:CiliumNetworkPolicy") if r.inputs["metadata"]["name"] == "rotation-allow-egress-by-name"]
    assert {"toEntities": ["kube-apiserver"], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]} in by_name["egress"]


def _millicores(quantity: str) -> float:
    return float(quantity[:-1]) if quantity.endswith("m") else 1000 * float(quantity)


def _mib(quantity: str) -> float:
    return float(quantity[:-2]) * {"Mi": 1, "Gi": 1024}[quantity[-2:]]


def test_every_rotation_of_a_stack_fits_the_bootstrap_quota_at_once(stack):
    """All first versions are written by the same `pulumi up`, so all environments fall due the same night; and a
    `pulumi up` may run every bootstrap Job meanwhile."""
    quota = in_namespace(stack, "kubernetes:core/v1:ResourceQuota", BOOTSTRAP_NAMESPACE, "bootstrap-quota")["spec"]["hard"]
    [defaults] = in_namespace(stack, "kubernetes:core/v1:LimitRange", BOOTSTRAP_NAMESPACE, "bootstrap-limits")["spec"]["limits"]
    pods = [pod(r.inputs) for r in stack.of_type(CRON) if r.inputs["metadata"]["namespace"] == BOOTSTRAP_NAMESPACE]
    assert len(pods) == len(tenants(stack)) + 2  # the stack-wide rotations fall due the same night too
    pods += [in_namespace(stack, "kubernetes:batch/v1:Job", BOOTSTRAP_NAMESPACE, f"bootstrap-{t}")["spec"]["template"]["spec"] for t in tenants(stack)]
    resources = [c.get("resources", {}) for p in pods for c in p["containers"]]
    for kind, default in (("requests", defaults["defaultRequest"]), ("limits", defaults["default"])):
        wanted = [{**default, **r.get(kind, {})} for r in resources]
        assert sum(_mib(r["memory"]) for r in wanted) <= _mib(quota[f"{kind}.memory"]), kind
        assert sum(_millicores(r["cpu"]) for r in wanted) <= _millicores(quota[f"{kind}.cpu"]), kind
    assert len(pods) <= int(quota["pods"])


def test_with_the_restart_the_pack_wants_the_service_account_declared_as_an_api_client(with_restart):
    from test_policies import only

    from tools.plan import build_plan
    from tools.policy_runner import PolicyPack
    from tools.preview import POLICY_DIR

    policy = "k8s-service-account-token-not-mounted"
    resources = build_plan(with_restart)["resources"]
    with PolicyPack(POLICY_DIR) as pack:
        refused = pack.analyze(resources, "odoo-platform", "dev", only(pack, policy, config={policy: {"apiClients": []}})).violations
        declared = only(pack, policy, config={policy: {"apiClients": [f"{BOOTSTRAP_NAMESPACE}/rotate-gc-dev"]}})
        allowed = pack.analyze(resources, "odoo-platform", "dev", declared).violations
        # the pack's default declares the platform's rotation accounts
        assert pack.analyze(resources, "odoo-platform", "dev", only(pack, policy)).violations == []
    assert [v.policy for v in refused] == [policy] and "rotate-gc-dev" in refused[0].message
    assert allowed == []


ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"
PLATFORM_KINDS = ("redis-access-key", "postgres-admin-password")


def identity_of(recording, account: str) -> dict:
    [federated] = [r.inputs for r in recording.of_type(FEDERATED) if r.inputs["subject"] == f"system:serviceaccount:{BOOTSTRAP_NAMESPACE}:{account}"]
    return next(r.inputs for r in recording.of_type(IDENTITY) if r.inputs.get("resourceName") == federated["resourceName"])


def test_the_redis_key_and_the_admin_password_rotate_daily_as_the_cli_expects(stack):
    """Each stack-wide secret has its CronJob whose environment the real ops/rotate parses into the stack's secret,
    resource and lifetime; the Redis run restarts Odoo in every environment, the admin password's nothing."""
    from tools.preview import stack_settings

    rotation = stack_settings(stack.stack).get("secretRotation", {})
    [redis_db] = [arm_id(r.type, r.name, r.inputs) for r in stack.of_type("azure-native:redisenterprise:Database")]
    [server] = [arm_id(r.type, r.name, r.inputs) for r in stack.of_type("azure-native:dbforpostgresql:Server") if r.inputs.get("createMode") != "Replica"]
    [redis_secret] = {alias_names["redis-key"] for r in stack.of_type(SPC) if r.inputs["metadata"]["namespace"].startswith("odoo-")
                      and "redis-key" in (alias_names := mounted_secrets(stack, r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]))}
    admin_secret = mounted_secrets(stack, BOOTSTRAP_NAMESPACE, f"bootstrap-{tenants(stack)[0]}")["admin-password"]
    for kind, days_key, resource, secret in (("redis-access-key", "redisAccessKeyDays", redis_db, redis_secret),
                                            ("postgres-admin-password", "postgresAdminPasswordDays", server, admin_secret)):
        job = in_namespace(stack, CRON, BOOTSTRAP_NAMESPACE, f"rotate-{kind}")
        assert job["spec"]["concurrencyPolicy"] == "Forbid" and re.fullmatch(r"\d+ 4 \* \* \*", job["spec"]["schedule"])
        args = parsed(job)
        assert args.command == kind and all(getattr(args, k) for k in cli.REQUIRED[kind]), args
        assert args.secret == secret and (args.rotation_days, args.grace_days) == (rotation.get(days_key, 90), rotation.get("graceDays", 35))
        assert (args.database_id if kind == "redis-access-key" else args.server_id) == resource
        restarts = set(filter(None, args.restart.split(",")))
        expected = {f"odoo-{t}/{d}" for t in tenants(stack) for d in ("odoo-web", "odoo-cron")} if kind == "redis-access-key" else set()
        assert restarts == expected
        # a pod that restarts every environment in turn gets the time to
        assert pod(job)["containers"][0]["command"][:4] == ["python", "-m", "ops.rotate", kind]
        assert job["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] >= 900 * len(restarts) / 2
    # only the admin password's run logs in to the server, so only it mounts the admin password
    assert mounted_secrets(stack, BOOTSTRAP_NAMESPACE, "rotate-postgres-admin-password") == {"admin-password": admin_secret}
    assert not any("csi" in v for v in pod(in_namespace(stack, CRON, BOOTSTRAP_NAMESPACE, "rotate-redis-access-key"))["volumes"])


def test_stack_wide_rotations_hold_a_custom_role_on_their_resource_only(stack):
    """Key Vault Secrets Officer on its own secret, a custom role with exactly the ARM actions it calls on exactly its
    resource, and reading operation status (only reads) at subscription scope; no built-in contributor role."""
    definitions = {arm_id(r.type, r.name, r.inputs): r.inputs for r in stack.of_type(ROLE_DEFINITION)}
    subscription = "/subscriptions/" + next(iter(definitions)).split("/")[2]
    for kind in PLATFORM_KINDS:
        job = in_namespace(stack, CRON, BOOTSTRAP_NAMESPACE, f"rotate-{kind}")
        args = parsed(job)
        resource = args.database_id if kind == "redis-access-key" else args.server_id
        principal = stable_uuid("principal", identity_of(stack, f"rotate-{kind}")["resourceName"])
        grants = {(r.inputs["scope"], r.inputs["roleDefinitionId"]) for r in stack.of_type(ROLE) if r.inputs["principalId"] == principal}
        by_scope = dict(grants)
        assert len(by_scope) == len(grants) == 3
        [secret_scope] = [s for s in by_scope if s.endswith(f"/secrets/{args.secret}")]
        assert by_scope[secret_scope].endswith(ROLES["Key Vault Secrets Officer"])
        own = definitions[by_scope[resource]]
        assert own["assignableScopes"] == [subscription] and own["roleType"] == "CustomRole"
        # every action is on the resource's own type: what ops/rotate/rotate.py calls there, nothing else
        segments = resource.split("/providers/", 1)[1].split("/")
        resource_type = "/".join([segments[0], *segments[1::2]])
        called = {"redis-access-key": {"listKeys/action", "regenerateKey/action", "operationResults/read"}, "postgres-admin-password": {"read", "write"}}[kind]
        assert {a.removeprefix(resource_type + "/") for a in own["permissions"][0]["actions"]} == called
        status = definitions[by_scope[subscription]]["permissions"][0]["actions"]
        assert status and all(a.endswith("/read") and "/locations/" in a for a in status)
    # ARM wants the role's GUID chosen by the caller: the same on every run, different per stack
    assert all(d["roleDefinitionId"] == i.rsplit("/", 1)[1] for i, d in definitions.items())


def test_only_stack_wide_rotations_reach_azure_resource_manager(stack):
    [arm] = [r.inputs["spec"] for r in stack.of_type("kubernetes:cilium.io/v2:CiliumNetworkPolicy") if r.inputs["metadata"]["name"] == "rotation-allow-arm"]
    assert [h["matchName"] for rule in arm["egress"] for h in rule["toFQDNs"]] == ["management.azure.com"]

    def selected(labels: dict) -> bool:
        selector = arm["endpointSelector"]
        return selector["matchLabels"].items() <= labels.items() and all(
            labels.get(e["key"]) in e["values"] for e in selector["matchExpressions"] if e["operator"] == "In")

    jobs = [r.inputs for r in stack.of_type(CRON) if r.inputs["metadata"]["namespace"] == BOOTSTRAP_NAMESPACE]
    reach = {j["metadata"]["name"]: selected(j["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]) for j in jobs}
    assert reach == {**{f"rotate-db-{t}": False for t in tenants(stack)}, **{f"rotate-{k}": True for k in PLATFORM_KINDS}}


def test_the_deployers_rbac_condition_allows_every_role_the_stack_assigns(stack):
    """docs/running-for-real.md limits the pipeline identity's role assignments to `python -m tools.role_ids`: every
    assignment the stack declares, built-in or custom, must be among them, or the first `pulumi up` is refused."""
    from tools.role_ids import role_ids

    allowed = set(role_ids([stack.stack]))
    assigned = {r.inputs["roleDefinitionId"].rsplit("/", 1)[-1] for r in stack.of_type(ROLE)}
    defined = {r.inputs["roleDefinitionId"] for r in stack.of_type(ROLE_DEFINITION)}
    assert defined and defined <= assigned <= allowed, sorted(assigned - allowed)
