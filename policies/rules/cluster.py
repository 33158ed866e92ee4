"""Kubernetes admission and authorisation: Pod Security Admission labels, RBAC bindings and roles, service-account
tokens in pods, and NetworkPolicies that would void a tenant namespace's default deny."""
import fnmatch

from .common import CIS_K8S, Rule, StackRule, get, known, per_resource
from .network import anywhere
from .pods import WORKLOADS, kind_of, pod_spec, resource_namespace

PSA = "https://kubernetes.io/docs/concepts/security/pod-security-admission/"
RBAC = "https://kubernetes.io/docs/concepts/security/rbac-good-practices/"
NAMESPACES = ["kubernetes:core/v1:Namespace", "kubernetes:core/v1:NamespacePatch"]
RBAC_GROUPS = ("rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1beta1", "rbac.authorization.k8s.io/v1alpha1")
BINDINGS = [f"kubernetes:{g}:{k}{s}" for g in RBAC_GROUPS for k in ("ClusterRoleBinding", "RoleBinding") for s in ("", "Patch")]
CLUSTER_ROLES = [f"kubernetes:{g}:ClusterRole{s}" for g in RBAC_GROUPS for s in ("", "Patch")]
TENANT_LABEL = "odoo-platform/tenant"
ENFORCE = "pod-security.kubernetes.io/enforce"
# The profile's version: `latest` (the default) or v1.Y; an old one enforces an older, weaker restricted profile
# (https://kubernetes.io/docs/concepts/security/pod-security-admission/#pod-security-admission-labels-for-namespaces).
ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version"


# Pod Security Admission ---------------------------------------------------------------------------------------------

def _pod_security(p, c):
    """Tenant namespaces enforce `restricted`; every other namespace the stack creates at least `baseline`. A missing
    label means the cluster default (privileged on AKS); a patch that leaves the label alone is judged by the namespace."""
    labels = get(p, "metadata.labels") or {}
    name = get(p, "metadata.name")
    if name in c.config.get("exemptNamespaces", []) or (c.patch and ENFORCE not in labels and ENFORCE_VERSION not in labels):
        return []
    level, version = labels.get(ENFORCE), str(labels.get(ENFORCE_VERSION) or "latest")
    allowed = ["restricted"] if TENANT_LABEL in labels else ["restricted", "baseline"]
    problems = [] if level in allowed or (c.patch and level is None) else [
        f"namespace {name!r} " + (f"enforces pod security {level!r}" if level else f"has no {ENFORCE} label") + f"; {' or '.join(allowed)} required"]
    minimum = str(c.config.get("minEnforceVersion", "v1.25"))
    if version != "latest" and _minor(version) < _minor(minimum):
        problems.append(f"namespace {name!r} pins {ENFORCE_VERSION} {version!r}, older than {minimum} (use latest)")
    return problems


def _minor(version: str) -> int:
    """`v1.25` -> 25; anything else -> -1 (older than every minimum)."""
    major, _, minor = version.strip().lower().removeprefix("v").partition(".")
    return int(minor) if major == "1" and minor.isdigit() else -1


# RBAC -----------------------------------------------------------------------------------------------------------------

def _workload_subject(subject) -> bool:
    """A service account, named directly or through the groups and user names the API server gives every one
    (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#service-account-tokens), or everyone."""
    kind, name = subject.get("kind"), str(subject.get("name", ""))
    return (kind == "ServiceAccount"
            or kind == "Group" and (name.startswith("system:serviceaccounts") or name in ("system:authenticated", "system:unauthenticated"))
            or kind == "User" and (name.startswith("system:serviceaccount:") or name == "system:anonymous"))


def _admin_bindings(p, c):
    role = p.get("roleRef") or {}
    cluster_wide = kind_of(c.type) == "ClusterRoleBinding"
    powerful = role.get("kind") == "ClusterRole" and (role.get("name") == "cluster-admin" or cluster_wide and role.get("name") in ("admin", "edit"))
    if not powerful:
        return []
    return [f"binds {role.get('name')!r} to {s.get('kind')} {s.get('name')!r}" + (f" in {s.get('namespace')!r}" if s.get("namespace") else "")
            for s in p.get("subjects") or [] if _workload_subject(s)]


def _wildcards(p, c):
    return [f"rule {i} grants '*' in {', '.join(fields)}"
            for i, rule in enumerate(p.get("rules") or [])
            for fields in [[f for f in ("verbs", "resources", "apiGroups") if any(str(v) == "*" or str(v).startswith("*/") for v in rule.get(f) or [])]]
            if fields]


# Service-account tokens (stack: the pod's setting falls back to its service account's) ------------------------------

def _token_volumes(spec) -> list[str]:
    """Projected service-account tokens for the API server (no audience): an automount by another name. Tokens with
    an audience (Azure workload identity's api://AzureADTokenExchange) are not accepted by the API server."""
    return [v.get("name") for v in spec.get("volumes") or []
            for source in (v.get("projected") or {}).get("sources") or []
            if source.get("serviceAccountToken") is not None and not (source.get("serviceAccountToken") or {}).get("audience")]


def _service_account_tokens(resources, c):
    accounts = {}
    for r in resources:
        if r.resource_type in ("kubernetes:core/v1:ServiceAccount", "kubernetes:core/v1:ServiceAccountPatch"):
            key = known(lambda r=r: (resource_namespace(r), get(r.props, "metadata.name")), None)
            if key:
                accounts[key] = known(lambda r=r: r.props.get("automountServiceAccountToken"), False)  # unknown: judged at `up`
    clients = set(c.config.get("apiClients", []))

    def judge(r):
        if r.resource_type not in WORKLOADS:
            return
        spec, patch = pod_spec(r.props), r.resource_type.endswith("Patch")
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        namespace = resource_namespace(r)
        if any(fnmatch.fnmatchcase(f"{namespace}/{account}", client) for client in clients):
            return
        mounted = spec.get("automountServiceAccountToken")
        if mounted is None and not patch:
            mounted = accounts.get((namespace, account))
        if mounted is None and not patch or mounted is True:
            yield f"{kind_of(r.resource_type)} {r.name!r} mounts the API token of service account {namespace}/{account}", r.urn
        for volume in _token_volumes(spec):
            yield f"{kind_of(r.resource_type)} {r.name!r} projects an API server token in volume {volume!r}", r.urn

    yield from per_resource(resources, judge)


# NetworkPolicies in tenant namespaces -----------------------------------------------------------------------------

def _everywhere(cidr) -> bool:
    """0.0.0.0/0, ::/0, or a public range as wide as the NSG rules' "anywhere" (two /1 blocks are the Internet too)."""
    return bool(cidr) and anywhere(cidr)


def _empty(selector) -> bool:
    return selector is not None and not (selector or {}).get("matchLabels") and not (selector or {}).get("matchExpressions")


def _open_peer(peer) -> bool:
    """A peer that matches every pod of every namespace, or every address."""
    if _everywhere((peer.get("ipBlock") or {}).get("cidr", "")):
        return True
    return _empty(peer.get("namespaceSelector")) and (peer.get("podSelector") is None or _empty(peer.get("podSelector")))


def _allow_all_rules(spec) -> list[str]:
    """NetworkPolicy (https://kubernetes.io/docs/concepts/services-networking/network-policies/): a rule with no
    `from`/`to` (or an empty one) admits everything; so does a peer that selects all namespaces or 0.0.0.0/0, ::/0."""
    found = []
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            peers = rule.get(peers_key)
            if not peers or any(_open_peer(p) for p in peers):
                found.append(f"{direction}[{i}]")
    return found


CILIUM_OPEN_ENTITIES = {"all", "world", "world-ipv4", "world-ipv6"}


def _cilium_allow_all_rules(spec) -> list[str]:
    """CiliumNetworkPolicy (https://docs.cilium.io/en/stable/security/policy/language/): the `all`/`world` entities,
    a 0.0.0.0/0 or ::/0 CIDR, or a `*` FQDN pattern open the namespace."""
    found = []
    for direction, prefix in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            cidrs = list(rule.get(f"{prefix}CIDR") or []) + [s.get("cidr") for s in rule.get(f"{prefix}CIDRSet") or []]
            if ({str(e).lower() for e in rule.get(f"{prefix}Entities") or []} & CILIUM_OPEN_ENTITIES or any(_everywhere(x) for x in cidrs)
                    or any(f.get("matchPattern") == "*" for f in rule.get("toFQDNs") or [])):
                found.append(f"{direction}[{i}]")
    return found


def _open_network_policies(resources, c):
    tenants = {known(lambda r=r: get(r.props, "metadata.name")) for r in resources
               if r.resource_type == "kubernetes:core/v1:Namespace" and known(lambda r=r: TENANT_LABEL in (get(r.props, "metadata.labels") or {}), False)}

    def judge(r):
        kind = kind_of(r.resource_type)
        if kind not in ("NetworkPolicy", "CiliumNetworkPolicy") or resource_namespace(r) not in tenants:
            return
        spec = r.props.get("spec") or {}
        opened = _allow_all_rules(spec) if kind == "NetworkPolicy" else _cilium_allow_all_rules(spec)
        if opened:
            yield f"{kind} {r.name!r} in tenant namespace {resource_namespace(r)!r} allows all traffic ({', '.join(opened)}), voiding its default deny", r.urn

    yield from per_resource(resources, judge)


RULES = [
    Rule("k8s-pod-security-enforced", "Namespaces enforce Pod Security Admission: restricted for tenants, at least baseline elsewhere; never privileged.",
         NAMESPACES, _pod_security, framework=CIS_K8S, control="5.2.1", remediation="Label the namespace pod-security.kubernetes.io/enforce: restricted.", url=PSA,
         config={"exemptNamespaces": {"type": "array", "items": {"type": "string"}, "default": []},
                 "minEnforceVersion": {"type": "string", "default": "v1.25"}}),
    Rule("k8s-no-admin-for-service-accounts", "No service account (or the groups of all service accounts) is bound to cluster-admin, or to admin/edit cluster-wide.",
         BINDINGS, _admin_bindings, framework=CIS_K8S, control="5.1.1", remediation="Bind a Role with the verbs and resources the workload needs, in its namespace.", url=RBAC),
    Rule("k8s-no-wildcard-cluster-roles", "ClusterRoles grant no '*' verbs, resources or API groups.", CLUSTER_ROLES, _wildcards,
         framework=CIS_K8S, control="5.1.3", checkov="CKV_K8S_49", remediation="List the verbs, resources and API groups the role needs.", url=RBAC),
]

STACK_RULES = [
    StackRule("k8s-service-account-token-not-mounted",
              "Pods mount no Kubernetes API token unless their service account is a declared API client (pod setting, else its service account's).",
              _service_account_tokens, framework=CIS_K8S, control="5.1.6",
              remediation="Set automountServiceAccountToken: false on the pod or its service account; list real API clients in apiClients.",
              url="https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#opt-out-of-api-credential-automounting",
              # Default: the platform's jobs that restart or pause Odoo: the rotation jobs in odoo-bootstrap, the platform's
              # namespace (components/rotation_jobs.py), and the refresh import in a tenant namespace (components/refresh.py),
              # whose service account a release may not use (tools/release.py).
              config={"apiClients": {"type": "array", "items": {"type": "string"}, "default": ["odoo-bootstrap/rotate-*", "odoo-*/refresh"],
                                     "description": "<namespace>/<service account> patterns (fnmatch) of pods that call the API server"}}),
    StackRule("tenant-network-policy-no-allow-all", "No NetworkPolicy (or CiliumNetworkPolicy) in a tenant namespace admits all sources or destinations.",
              _open_network_policies, control="NS-1", remediation="Name the peers (namespace and pod labels, CIDRs, FQDNs) a rule admits.",
              url="https://kubernetes.io/docs/concepts/services-networking/network-policies/"),
]
