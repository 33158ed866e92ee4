"""Kubernetes rules of the pack, over the Analyzer gRPC protocol: every kind that carries a pod template (and its Patch
form), every container list, and the variants written to slip past a shallow rule (an init container that unconfines
seccomp, a lowercase capability, a namespace of "", a service account named through its group, ...)."""
import copy

import pytest
from test_policies import DIGEST, K, assert_stack_variants, assert_variants, by_resource, declared_level, entry, only, pack  # noqa: F401

NS = "odoo-gc-dev"


def container(name: str) -> dict:
    return {
        "name": name, "image": DIGEST,
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
        "env": [{"name": "DB_PASSWORD_FILE", "value": "/mnt/secrets/db-password"},
                {"name": "ODOO_ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "odoo", "key": "admin"}}},
                {"name": "PGHOST", "value": "psql-acme-dev-weu.postgres.database.azure.com"},
                {"name": "KEY_VAULT_NAME", "value": "kv-acme-dev-weu"},
                {"name": "AZURE_STORAGE_ACCOUNT_URL", "value": "https://stacme.blob.core.windows.net/"}],
        "ports": [{"containerPort": 8069}],
    }


POD = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10101, "seccompProfile": {"type": "RuntimeDefault"}},
    "automountServiceAccountToken": False, "serviceAccountName": "odoo",
    "initContainers": [container("init")], "containers": [container("odoo")],
    "volumes": [{"name": "secrets", "csi": {"driver": "secrets-store.csi.k8s.io", "readOnly": True}},
                {"name": "azure-identity-token", "projected": {"sources": [{"serviceAccountToken": {"audience": "api://AzureADTokenExchange", "path": "t"}}]}}],
}

# kind -> where its pod spec sits
KINDS = {
    "apps/v1:Deployment": "spec.template.spec", "apps/v1:StatefulSet": "spec.template.spec", "apps/v1:DaemonSet": "spec.template.spec",
    "apps/v1:ReplicaSet": "spec.template.spec", "batch/v1:Job": "spec.template.spec", "batch/v1:CronJob": "spec.jobTemplate.spec.template.spec",
    "core/v1:Pod": "spec", "core/v1:ReplicationController": "spec.template.spec", "core/v1:PodTemplate": "template.spec",
}
ALL_KINDS = [k + suffix for k in KINDS for suffix in ("", "Patch")]


def workload(kind: str, pod: dict, namespace=NS) -> dict:
    """The object of `kind` (Patch or not) with `pod` as its pod spec; namespace None leaves metadata.namespace out."""
    obj: dict = {"metadata": {"name": "w"} | ({} if namespace is None else {"namespace": namespace})}
    node = obj
    *parents, last = KINDS[kind.removesuffix("Patch")].split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = copy.deepcopy(pod)
    return obj


def pod_with(**changes):
    """POD changed by dotted paths relative to the pod spec (`initContainers.0.securityContext.privileged=True`)."""
    def apply(pod):
        for path, value in changes.items():
            *parents, last = path.split("__")
            node = pod
            for key in parents:
                node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
            if value is DROP:
                node.pop(last, None)
            else:
                node[last] = value
        return pod
    return apply


DROP = object()
POD_POLICIES = ["k8s-no-privileged", "k8s-no-privilege-escalation", "k8s-run-as-non-root", "k8s-no-host-namespaces", "k8s-resource-limits",
                "k8s-image-pinned", "k8s-image-from-platform-registry", "k8s-capabilities-dropped", "k8s-seccomp-runtime-default", "k8s-no-host-path",
                "k8s-no-host-ports", "k8s-no-default-namespace", "k8s-no-literal-credentials", "k8s-service-account-token-not-mounted"]

# (label, policy, change to the pod, namespace, explicit): `explicit` variants set a bad value, so a Patch of any kind is
# caught too; the others leave a setting out, which a Patch may (the live object keeps its value).
POD_VIOLATIONS = [
    ("privileged-init", "k8s-no-privileged", pod_with(initContainers__0__securityContext__privileged=True), NS, True),
    ("privileged-ephemeral", "k8s-no-privileged", pod_with(ephemeralContainers=[dict(container("debug"), securityContext={"privileged": True})]), NS, True),
    ("escalation-init", "k8s-no-privilege-escalation", pod_with(initContainers__0__securityContext__allowPrivilegeEscalation=True), NS, True),
    ("escalation-unset", "k8s-no-privilege-escalation", pod_with(containers__0__securityContext__allowPrivilegeEscalation=DROP), NS, False),
    ("root-user-overrides-pod", "k8s-run-as-non-root", pod_with(containers__0__securityContext__runAsUser=0), NS, True),
    ("pod-run-as-root", "k8s-run-as-non-root", pod_with(securityContext__runAsNonRoot=False), NS, True),
    ("init-runs-as-root", "k8s-run-as-non-root", pod_with(initContainers__0__securityContext__runAsNonRoot=False), NS, True),
    ("non-root-unset", "k8s-run-as-non-root", pod_with(securityContext__runAsNonRoot=DROP), NS, False),
    ("host-network", "k8s-no-host-namespaces", pod_with(hostNetwork=True), NS, True),
    ("host-pid", "k8s-no-host-namespaces", pod_with(hostPID=True), NS, True),
    ("init-without-limits", "k8s-resource-limits", pod_with(initContainers__0__resources={}), NS, True),
    ("init-mutable-tag", "k8s-image-pinned", pod_with(initContainers__0__image="cracmedevweu.azurecr.io/odoo:latest"), NS, True),
    ("ephemeral-docker-hub", "k8s-image-from-platform-registry", pod_with(ephemeralContainers=[dict(container("debug"), image="busybox@sha256:" + "b" * 64)]), NS, True),
    ("adds-sys-admin", "k8s-capabilities-dropped", pod_with(containers__0__securityContext__capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}), NS, True),
    ("adds-lowercase-cap", "k8s-capabilities-dropped", pod_with(initContainers__0__securityContext__capabilities={"drop": ["all"], "add": ["net_admin"]}), NS, True),
    ("adds-cap-prefixed", "k8s-capabilities-dropped", pod_with(containers__0__securityContext__capabilities={"drop": ["ALL"], "add": ["CAP_SYS_PTRACE"]}), NS, True),
    ("drops-only-net-raw", "k8s-capabilities-dropped", pod_with(initContainers__0__securityContext__capabilities={"drop": ["NET_RAW"]}), NS, True),
    ("drops-nothing", "k8s-capabilities-dropped", pod_with(containers__0__securityContext__capabilities=DROP), NS, False),
    ("init-unconfined", "k8s-seccomp-runtime-default", pod_with(initContainers__0__securityContext__seccompProfile={"type": "Unconfined"}), NS, True),
    ("pod-unconfined", "k8s-seccomp-runtime-default", pod_with(securityContext__seccompProfile={"type": "Unconfined"}), NS, True),
    ("no-seccomp", "k8s-seccomp-runtime-default", pod_with(securityContext__seccompProfile=DROP), NS, False),
    ("host-path", "k8s-no-host-path", pod_with(volumes=[{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]), NS, True),
    ("init-host-port", "k8s-no-host-ports", pod_with(initContainers__0__ports=[{"containerPort": 53, "hostPort": 53}]), NS, True),
    ("namespace-empty", "k8s-no-default-namespace", pod_with(), "", True),
    ("namespace-missing", "k8s-no-default-namespace", pod_with(), None, True),
    ("namespace-default", "k8s-no-default-namespace", pod_with(), "default", True),
    ("env-password", "k8s-no-literal-credentials", pod_with(containers__0__env=[{"name": "DB_PASSWORD", "value": "hunter2-hunter2"}]), NS, True),
    ("env-run-together-name", "k8s-no-literal-credentials", pod_with(containers__0__env=[{"name": "AZURE_STORAGE_ACCESSKEY", "value": "abc123abc123"}]), NS, True),
    ("env-name-ends-in-password", "k8s-no-literal-credentials", pod_with(initContainers__0__env=[{"name": "PGADMINPASSWORD", "value": "x7!x7!x7"}]), NS, True),
    ("env-camel-case-secret", "k8s-no-literal-credentials", pod_with(initContainers__0__env=[{"name": "clientSecret", "value": "x8Q~abcdef"}]), NS, True),
    ("env-url-with-password", "k8s-no-literal-credentials",
     pod_with(containers__0__env=[{"name": "DATABASE_URL", "value": "postgres://odoo:s3cret@psql:5432/odoo"}]), NS, True),
    ("env-storage-key", "k8s-no-literal-credentials", pod_with(
        containers__0__env=[{"name": "STORAGE", "value": "DefaultEndpointsProtocol=https;AccountName=st;AccountKey=QUJDREVGR0hJSktMTU5PUA=="}]), NS, True),
    ("env-jwt", "k8s-no-literal-credentials", pod_with(
        containers__0__env=[{"name": "HEADER", "value": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvZG9vIn0.c2lnbmF0dXJl"}]), NS, True),
    ("argument-password", "k8s-no-literal-credentials", pod_with(containers__0__args=["--db_password=s3cret", "--workers=2"]), NS, True),
    ("token-automounted", "k8s-service-account-token-not-mounted", pod_with(automountServiceAccountToken=True), NS, True),
    ("token-projected", "k8s-service-account-token-not-mounted",
     pod_with(volumes=[{"name": "kube-api", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]), NS, True),
    ("token-default", "k8s-service-account-token-not-mounted", pod_with(automountServiceAccountToken=DROP), NS, False),
]

# Variants that must stay clean for every pod rule: the settings as a careful author (and the platform) writes them.
POD_COMPLIANT = [
    ("as-built", pod_with()),
    ("lowercase-drop-all", pod_with(containers__0__securityContext__capabilities={"drop": ["all"], "add": ["NET_BIND_SERVICE"]})),
    ("localhost-seccomp-override", pod_with(initContainers__0__securityContext__seccompProfile={"type": "Localhost", "localhostProfile": "odoo.json"})),
    ("non-root-on-container", pod_with(securityContext__runAsNonRoot=DROP, containers__0__securityContext__runAsNonRoot=True,
                                       initContainers__0__securityContext__runAsNonRoot=True)),
    ("reads-mounted-files", pod_with(containers__0__command=["/bin/sh", "/etc/odoo/entrypoint.sh"],
                                     containers__0__env=[{"name": "PGPASSWORD", "value": "$(cat /mnt/secrets/db-password)"},
                                                         {"name": "REDIS_KEY_PATH", "value": "/mnt/secrets/redis-key"},
                                                         {"name": "SECRET_NAME", "value": "pg-gc-dev-password"},
                                                         {"name": "ODOO_SESSION_REDIS_URL", "value": "rediss://:$(REDIS_KEY)@redis:10000/0"}])),
]


@pytest.mark.parametrize("policy", POD_POLICIES)
def test_pod_rules_cover_every_kind_and_container_list(pack, policy):
    """In every workload kind (and its Patch form) each violating pod is reported by its policy (a Patch only for what
    it sets), and no compliant pod is."""
    entries, expected = [], {}
    for kind in ALL_KINDS:
        type_, patch = K + kind, kind.endswith("Patch")
        entries += [entry("dev", type_, workload(kind, make(copy.deepcopy(POD))), f"ok-{kind}-{label}") for label, make in POD_COMPLIANT]
        for label, _, make, namespace, explicit in (v for v in POD_VIOLATIONS if v[1] == policy):
            entries.append(entry("dev", type_, workload(kind, make(copy.deepcopy(POD)), namespace), f"bad-{kind}-{label}"))
            expected[f"bad-{kind}-{label}"] = explicit or not patch
    found = by_resource(pack, "dev", entries, only(pack, policy))
    assert {e["name"]: [v.message for v in found[e["name"]]] for e in entries if e["name"].startswith("ok-") and found[e["name"]]} == {}
    assert {name: bool(found[name]) for name in expected} == expected
    assert any(expected.values())


def test_a_patch_that_sets_no_pod_is_not_judged_on_it(pack):
    found = by_resource(pack, "dev", [entry("dev", K + "apps/v1:DeploymentPatch", {"metadata": {"name": "web", "namespace": NS}, "spec": {"replicas": 3}}, "scale")],
                        only(pack, *POD_POLICIES))
    assert [v.policy for v in found["scale"] if v.policy in POD_POLICIES] == []


def test_pod_violations_are_mandatory(pack):
    assert {declared_level(pack, p) for p in POD_POLICIES} == {"mandatory"}


ODOO_CONFIG = {  # as components/odoo_tenant.py writes it: the entrypoint reads the mounted secrets
    "entrypoint.sh": "#!/bin/sh\nset -eu\nprintf 'db_password = %s\\nadmin_passwd = %s\\n' \"$(cat /mnt/secrets/db-password)\" \"$(cat /mnt/secrets/admin-password)\" >> /run/odoo/odoo.conf\n"
                     "ODOO_SESSION_REDIS_URL=\"rediss://:$(python3 -c 'import sys' /mnt/secrets/redis-key)@${ODOO_SESSION_REDIS_HOST}:10000/0\"\n"
                     "PGPASSWORD=\"$(cat \"$DB_PASSWORD_FILE\")\"\nexport PGPASSWORD\n",
    "odoo.conf": "[options]\nproxy_mode = True\ndb_user = odoo_gc_dev\ndb_sslmode = require\nlogfile = \n",
    "DB_PASSWORD_FILE": "/mnt/secrets/db-password",
}
CONFIG_MAP = K + "core/v1:ConfigMap"


def config_map(data: dict, namespace=NS) -> dict:
    return {"metadata": {"name": "odoo-config", "namespace": namespace}, "data": data}


NAMESPACE = K + "core/v1:Namespace"
TENANT_LABELS = {"odoo-platform/tenant": "gc", "pod-security.kubernetes.io/enforce": "restricted"}


def namespace(name: str, labels: dict) -> dict:
    return {"metadata": {"name": name, "labels": labels}}


CRB, RB, CR = K + "rbac.authorization.k8s.io/v1:ClusterRoleBinding", K + "rbac.authorization.k8s.io/v1:RoleBinding", K + "rbac.authorization.k8s.io/v1:ClusterRole"


def binding(role: str, *subjects: dict, namespace_=None) -> dict:
    return {"metadata": {"name": "b"} | ({"namespace": namespace_} if namespace_ else {}), "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": list(subjects)}


SA = {"kind": "ServiceAccount", "name": "odoo", "namespace": NS}
ADMINS = {"kind": "Group", "name": "3f2b7c1e-8a4d-4f6e-9b1a-2c3d4e5f6a7b", "apiGroup": "rbac.authorization.k8s.io"}


def cluster_role(*rules: dict) -> dict:
    return {"metadata": {"name": "r"}, "rules": list(rules)}


READ_PODS = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}

# (policy, stack, compliant variants, violating variants); a variant is (label, type, inputs)
CASES = [
    ("k8s-no-host-path", "dev",
     [("pv-csi", K + "core/v1:PersistentVolume", {"spec": {"csi": {"driver": "disk.csi.azure.com", "volumeHandle": "x"}}})],
     [("pv-host-path", K + "core/v1:PersistentVolume", {"spec": {"hostPath": {"path": "/etc"}}}),
      ("pv-patch-host-path", K + "core/v1:PersistentVolumePatch", {"spec": {"hostPath": {"path": "/"}}})]),
    ("k8s-no-literal-credentials", "dev",
     [("platform-odoo-config", CONFIG_MAP, config_map(ODOO_CONFIG)),
      ("references", CONFIG_MAP, config_map({"password_file": "/mnt/secrets/pw", "token_audience": "api://AzureADTokenExchange", "secret": "", "odoo_admin_password": "False"}))],
     [("password-key", CONFIG_MAP, config_map({"password": "hunter2"})),
      ("odoo-conf-admin-passwd", CONFIG_MAP, config_map({"odoo.conf": "[options]\nadmin_passwd = s3cret-admin\ndb_user = odoo\n"})),
      ("after-an-empty-setting", CONFIG_MAP, config_map({"odoo.conf": "[options]\nlogfile = \nadmin_passwd = s3cret-admin\n"})),
      ("env-file-export", CONFIG_MAP, config_map({"app.env": "export REDIS_ACCESS_KEY='abc123abc123'\nLOG_LEVEL=info\n"})),
      ("url-with-password", CONFIG_MAP, config_map({"DATABASE_URL": "postgresql://odoo:pa55word@psql:5432/odoo?sslmode=require"})),
      ("pem-key", CONFIG_MAP, config_map({"tls.key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"})),
      ("sql-connection-string", CONFIG_MAP, config_map({"conn": "Server=tcp:sql;Database=odoo;User ID=odoo;Password=S3cret!;"})),
      ("sas-url", CONFIG_MAP, config_map({"backup_target": "https://st.blob.core.windows.net/b?sv=2022-11-02&sig=abcdefghijklmnopqrstuvwxyz012345%3D"})),
      ("patch", K + "core/v1:ConfigMapPatch", config_map({"DB_PASSWORD": "hunter2"}))]),
    ("k8s-load-balancer-only-for-ingress", "dev",
     [("ingress", K + "core/v1:Service", {"metadata": {"name": "traefik", "namespace": "traefik"}, "spec": {"type": "LoadBalancer"}}),
      ("cluster-ip", K + "core/v1:Service", {"metadata": {"name": "odoo", "namespace": NS}, "spec": {"type": "ClusterIP"}})],
     [("tenant", K + "core/v1:Service", {"metadata": {"name": "odoo", "namespace": NS}, "spec": {"type": "LoadBalancer"}}),
      ("no-namespace", K + "core/v1:Service", {"metadata": {"name": "odoo"}, "spec": {"type": "LoadBalancer"}}),
      ("patch", K + "core/v1:ServicePatch", {"metadata": {"name": "odoo", "namespace": NS}, "spec": {"type": "LoadBalancer"}})]),
    ("k8s-no-default-namespace", "dev",
     [("service", K + "core/v1:Service", {"metadata": {"name": "odoo", "namespace": NS}, "spec": {}}),
      ("cluster-role-is-cluster-scoped", CR, cluster_role(READ_PODS))],
     [("service-default", K + "core/v1:Service", {"metadata": {"name": "odoo"}, "spec": {}}),
      ("config-map-empty", CONFIG_MAP, config_map({}, namespace="")),
      ("secret-default", K + "core/v1:Secret", {"metadata": {"name": "s", "namespace": "default"}}),
      ("service-account-patch", K + "core/v1:ServiceAccountPatch", {"metadata": {"name": "default"}, "automountServiceAccountToken": True})]),
    ("k8s-pod-security-enforced", "dev",
     [("tenant-restricted", NAMESPACE, namespace(NS, TENANT_LABELS)),
      ("platform-baseline", NAMESPACE, namespace("traefik", {"pod-security.kubernetes.io/enforce": "baseline"})),
      ("patch-leaves-label", K + "core/v1:NamespacePatch", namespace(NS, {"team": "gc"})),
      ("version-latest", NAMESPACE, namespace(NS, TENANT_LABELS | {"pod-security.kubernetes.io/enforce-version": "latest"})),
      ("patch-sets-version-latest", K + "core/v1:NamespacePatch", namespace(NS, {"pod-security.kubernetes.io/enforce-version": "latest"})),
      ("version-recent", NAMESPACE, namespace(NS, TENANT_LABELS | {"pod-security.kubernetes.io/enforce-version": "v1.32"}))],
     [("privileged", NAMESPACE, namespace("tools", {"pod-security.kubernetes.io/enforce": "privileged"})),
      ("no-label", NAMESPACE, namespace("tools", {})),
      ("tenant-baseline", NAMESPACE, namespace(NS, TENANT_LABELS | {"pod-security.kubernetes.io/enforce": "baseline"})),
      ("tenant-audit-only", NAMESPACE, namespace(NS, {"odoo-platform/tenant": "gc", "pod-security.kubernetes.io/audit": "restricted"})),
      ("patch-privileged", K + "core/v1:NamespacePatch", namespace(NS, {"pod-security.kubernetes.io/enforce": "privileged"})),
      ("version-pinned-old", NAMESPACE, namespace(NS, TENANT_LABELS | {"pod-security.kubernetes.io/enforce-version": "v1.0"})),
      ("patch-pins-old-version", K + "core/v1:NamespacePatch", namespace(NS, {"pod-security.kubernetes.io/enforce-version": "v1.19"}))]),
    ("k8s-no-admin-for-service-accounts", "dev",
     [("admins-group", CRB, binding("cluster-admin", ADMINS)),
      ("namespace-admin", RB, binding("admin", SA, namespace_=NS)),
      ("view", CRB, binding("view", SA))],
     [("cluster-admin-sa", CRB, binding("cluster-admin", ADMINS, SA)),
      ("cluster-admin-in-namespace", RB, binding("cluster-admin", SA, namespace_=NS)),
      ("edit-cluster-wide", CRB, binding("edit", SA)),
      ("all-service-accounts-of-namespace", CRB, binding("cluster-admin", {"kind": "Group", "name": f"system:serviceaccounts:{NS}"})),
      ("service-account-as-user", CRB, binding("cluster-admin", {"kind": "User", "name": f"system:serviceaccount:{NS}:odoo"})),
      ("everyone", CRB, binding("admin", {"kind": "Group", "name": "system:authenticated"})),
      ("patch", K + "rbac.authorization.k8s.io/v1:ClusterRoleBindingPatch", binding("cluster-admin", SA))]),
    ("k8s-no-wildcard-cluster-roles", "dev",
     [("read-pods", CR, cluster_role(READ_PODS))],
     [("all-verbs", CR, cluster_role(READ_PODS, {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]})),
      ("all-resources", CR, cluster_role({"apiGroups": [""], "resources": ["*"], "verbs": ["get"]})),
      ("all-subresources", CR, cluster_role({"apiGroups": [""], "resources": ["*/scale"], "verbs": ["update"]})),
      ("all-groups", CR, cluster_role({"apiGroups": ["*"], "resources": ["secrets"], "verbs": ["get"]})),
      ("patch", K + "rbac.authorization.k8s.io/v1:ClusterRolePatch", cluster_role({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}))]),
]


@pytest.mark.parametrize("policy,stack,compliant,violating", CASES, ids=[c[0] for c in CASES])
def test_kubernetes_policy(pack, policy, stack, compliant, violating):
    assert_variants(pack, policy, stack, compliant, violating)


def test_a_missing_namespace_is_the_providers(pack):
    """The Kubernetes provider's `namespace` is where an object without one lands; without it, `default`."""
    def found(provider_inputs: dict) -> list[str]:
        provider = entry("dev", "pulumi:providers:kubernetes", provider_inputs, "k8s")
        workload_ = entry("dev", K + "apps/v1:Deployment", workload("apps/v1:Deployment", POD, namespace=None), "w") | {"provider": provider["urn"]}
        return [v.policy for v in pack.analyze([provider, workload_], "odoo-platform", "dev", only(pack, "k8s-no-default-namespace")).violations]

    assert found({"namespace": NS}) == []
    assert found({"namespace": "default"}) == found({}) == ["k8s-no-default-namespace"]


DEPLOYMENT = K + "apps/v1:Deployment"


def deployment(name: str, **pod_changes) -> dict:
    return entry("dev", DEPLOYMENT, workload("apps/v1:Deployment", pod_with(**pod_changes)(copy.deepcopy(POD))), name)


def service_account(automount) -> dict:
    inputs = {"metadata": {"name": "odoo", "namespace": NS}} | ({} if automount is None else {"automountServiceAccountToken": automount})
    return entry("dev", K + "core/v1:ServiceAccount", inputs, "sa")


TENANT = entry("dev", NAMESPACE, namespace(NS, TENANT_LABELS), "ns")


def network_policy(spec: dict, kind: str = "networking.k8s.io/v1:NetworkPolicy", namespace_=NS) -> list[dict]:
    return [TENANT, entry("dev", K + kind, {"metadata": {"name": "p", "namespace": namespace_}, "spec": spec}, "policy")]


def provider_scoped_policy(spec: dict) -> list[dict]:
    """A NetworkPolicy without a namespace, deployed through a provider whose default namespace is the tenant's."""
    provider = entry("dev", "pulumi:providers:kubernetes", {"namespace": NS}, "tenant-provider")
    policy = entry("dev", K + "networking.k8s.io/v1:NetworkPolicy", {"metadata": {"name": "p"}, "spec": spec}, "policy") | {"provider": provider["urn"]}
    return [TENANT, provider, policy]


FROM_TRAEFIK = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}}, "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}}
CILIUM = "cilium.io/v2:CiliumNetworkPolicy"
WEB = {"matchLabels": {"app.kubernetes.io/name": "odoo"}}

# (policy, stack, compliant variants, violating variants); a variant is (label, resource entries)
STACK_CASES = [
    ("k8s-service-account-token-not-mounted", "dev",
     [("pod-opts-out", [deployment("w"), service_account(None)]),
      ("account-opts-out", [deployment("w", automountServiceAccountToken=DROP), service_account(False)]),
      ("workload-identity-token", [deployment("w")]),
      ("deprecated-field-names-the-account", [deployment("w", automountServiceAccountToken=DROP, serviceAccountName=DROP, serviceAccount="odoo"), service_account(False)])],
     [("nobody-opts-out", [deployment("w", automountServiceAccountToken=DROP), service_account(None)]),
      ("pod-overrides-account", [deployment("w", automountServiceAccountToken=True), service_account(False)]),
      ("default-account", [deployment("w", automountServiceAccountToken=DROP, serviceAccountName=DROP)]),
      ("patch-turns-it-on", [entry("dev", DEPLOYMENT + "Patch", workload("apps/v1:Deployment", {"automountServiceAccountToken": True}), "w")])]),
    ("tenant-network-policy-no-allow-all", "dev",
     [("default-deny", network_policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})),
      ("from-traefik", network_policy({"podSelector": WEB, "ingress": [{"from": [FROM_TRAEFIK], "ports": [{"port": 8069}]}]})),
      ("to-postgres-subnet", network_policy({"podSelector": WEB, "egress": [{"to": [{"ipBlock": {"cidr": "10.20.2.0/28"}}], "ports": [{"port": 5432}]}]})),
      ("cilium-fqdn", network_policy({"endpointSelector": WEB, "egress": [{"toFQDNs": [{"matchName": "login.microsoftonline.com"}]}]}, CILIUM)),
      ("open-outside-tenants", network_policy({"podSelector": {}, "ingress": [{}]}, namespace_="traefik"))],
     [("empty-rule", network_policy({"podSelector": {}, "ingress": [{}]})),
      ("empty-from", network_policy({"podSelector": WEB, "ingress": [{"from": []}]})),
      ("ports-from-anyone", network_policy({"podSelector": WEB, "ingress": [{"ports": [{"port": 8069}]}]})),
      ("all-namespaces", network_policy({"podSelector": WEB, "ingress": [{"from": [{"namespaceSelector": {}}]}]})),
      ("all-pods-all-namespaces", network_policy({"podSelector": WEB, "ingress": [{"from": [FROM_TRAEFIK, {"namespaceSelector": {}, "podSelector": {}}]}]})),
      ("egress-internet", network_policy({"podSelector": WEB, "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]})),
      ("egress-internet-in-halves", network_policy({"podSelector": WEB, "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/1"}}, {"ipBlock": {"cidr": "128.0.0.0/1"}}]}]})),
      ("egress-internet-v6", network_policy({"podSelector": WEB, "egress": [{"to": [{"ipBlock": {"cidr": "::/0", "except": ["fd00::/8"]}}]}]})),
      ("patch", network_policy({"podSelector": {}, "egress": [{}]}, "networking.k8s.io/v1:NetworkPolicyPatch")),
      ("namespace-from-the-provider", provider_scoped_policy({"podSelector": {}, "ingress": [{}]})),
      ("cilium-world", network_policy({"endpointSelector": WEB, "ingress": [{"fromEntities": ["world"]}]}, CILIUM)),
      ("cilium-all", network_policy({"endpointSelector": WEB, "egress": [{"toEntities": ["all"]}]}, CILIUM)),
      ("cilium-cidr", network_policy({"endpointSelector": WEB, "egress": [{"toCIDR": ["0.0.0.0/0"]}]}, CILIUM)),
      ("cilium-any-fqdn", network_policy({"endpointSelector": WEB, "egress": [{"toFQDNs": [{"matchPattern": "*"}]}]}, CILIUM))]),
]


@pytest.mark.parametrize("policy,stack,compliant,violating", STACK_CASES, ids=[c[0] for c in STACK_CASES])
def test_kubernetes_stack_policy(pack, policy, stack, compliant, violating):
    assert_stack_variants(pack, policy, stack, compliant, violating)


def test_declared_api_clients_may_mount_tokens(pack):
    policy = "k8s-service-account-token-not-mounted"
    assert [v.policy for v in pack.analyze([deployment("w", automountServiceAccountToken=True)], "odoo-platform", "dev", only(pack, policy)).violations] == [policy]
    found = pack.analyze([deployment("w", automountServiceAccountToken=True)], "odoo-platform", "dev",
                         only(pack, policy, config={policy: {"apiClients": [f"{NS}/odoo"]}})).violations
    assert [v for v in found if v.policy == "k8s-service-account-token-not-mounted"] == []
