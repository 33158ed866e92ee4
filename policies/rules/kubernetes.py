"""Kubernetes workloads and services the platform (or a user) deploys onto the clusters.

Pod-level rules follow the Pod Security Standards' restricted profile (URL below), applied to every kind that carries
a pod template and to every container list (pods.py). A `*Patch` object is judged only on what it sets.
"""
import re

from .common import CIS_K8S, Rule
from .pods import WORKLOADS, containers, context, each_container, effective, kind_of, namespace_of, pod_spec

SERVICE = "kubernetes:core/v1:Service"
PERSISTENT_VOLUME = "kubernetes:core/v1:PersistentVolume"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
URL = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# The only capability the restricted profile lets a container add.
ALLOWED_CAPABILITIES = ["NET_BIND_SERVICE"]
# Namespaced kinds besides the workloads that must not land in `default`.
NAMESPACED = ["kubernetes:core/v1:Service", CONFIG_MAP, "kubernetes:core/v1:Secret", "kubernetes:core/v1:ServiceAccount",
              "kubernetes:core/v1:PersistentVolumeClaim", "kubernetes:rbac.authorization.k8s.io/v1:Role",
              "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "kubernetes:networking.k8s.io/v1:Ingress"]


def _with_patches(types: list[str]) -> list[str]:
    return [t + suffix for t in types for suffix in ("", "Patch")]


def _privileged(c, pod, patch):
    return ["runs privileged"] if context(c).get("privileged") is True else []


def _escalation(c, pod, patch):
    value = context(c).get("allowPrivilegeEscalation")
    return [] if value is False or (patch and value is None) else ["allowPrivilegeEscalation is not false"]


def _non_root(c, pod, patch):
    run_as_non_root, user = effective(c, pod, "runAsNonRoot"), effective(c, pod, "runAsUser")
    if user == 0:
        return ["runs as user 0 (root)"]
    if run_as_non_root is False or (run_as_non_root is None and not patch):
        return ["may run as root (set runAsNonRoot: true)"]
    return []


def _limits(c, pod, patch):
    if "resources" not in c and patch:
        return []
    limits = (c.get("resources") or {}).get("limits") or {}
    return [] if "cpu" in limits and "memory" in limits else ["has no CPU and memory limits"]


def _pinned(c, pod, patch):
    image = c.get("image")
    if image is None and patch or DIGEST.search(image or ""):
        return []
    image = image or ""
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    return [f"image {image!r} is not pinned by digest" + (" (mutable tag)" if tag in ("", "latest") else "")]


def _registry(image: str) -> str:
    first, _, rest = image.partition("/")
    return first if rest and ("." in first or ":" in first or first == "localhost") else "docker.io"


def _from_allowed_registry(p, c):
    allowed = c.config.get("allowedRegistries", [r"[a-z0-9]+\.azurecr\.io"])
    return [
        f"{label}: image {k.get('image')!r} comes from {_registry(str(k.get('image', '')))}, not the platform's registry"
        for label, k in containers(p)
        if not (c.patch and k.get("image") is None) and not any(re.fullmatch(pattern, _registry(str(k.get("image", "")))) for pattern in allowed)
    ]


def _host_namespaces(p, c):
    spec = pod_spec(p)
    shared = [k for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    return [f"pod shares the node's {', '.join(shared)}"] if shared else []


def _capability(name) -> str:
    """Runtimes read `all`, `ALL`, `CAP_SYS_ADMIN` and `sys_admin` alike (containerd upper-cases and adds CAP_)."""
    return str(name).upper().removeprefix("CAP_")


def _capabilities(c, pod, patch, allowed):
    caps = context(c).get("capabilities") or {}
    problems = []
    added = sorted({_capability(a) for a in caps.get("add") or []} - {_capability(a) for a in allowed})
    if added:
        problems.append(f"adds capabilities {', '.join(added)}")
    if "ALL" not in {_capability(d) for d in caps.get("drop") or []} and not (patch and caps.get("drop") is None):
        problems.append("does not drop ALL capabilities")
    return problems


def _seccomp(c, pod, patch):
    profile = effective(c, pod, "seccompProfile")
    kind = (profile or {}).get("type")
    if kind in ("RuntimeDefault", "Localhost") or (patch and profile is None):
        return []
    return [f"seccompProfile is {kind!r}; RuntimeDefault or Localhost required" if kind else "has no seccompProfile (RuntimeDefault)"]


def _host_paths(p, c):
    if kind_of(c.type) == "PersistentVolume":
        path = (p.get("spec") or {}).get("hostPath")
        return [f"PersistentVolume mounts the node's {path.get('path')!r}"] if path else []
    return [f"volume {v.get('name')!r} mounts the node's {(v.get('hostPath') or {}).get('path')!r}"
            for v in pod_spec(p).get("volumes") or [] if v.get("hostPath") is not None]


def _host_ports(c, pod, patch):
    return [f"binds host port {port.get('hostPort')}" for port in c.get("ports") or [] if port.get("hostPort")]


def _not_default_namespace(p, c):
    """A missing namespace is the provider's `namespace` when it sets one, else `default`
    (https://www.pulumi.com/registry/packages/kubernetes/api-docs/provider/#namespace_nodejs)."""
    namespace = namespace_of(p, c.provider)
    return [f"{kind_of(c.type)} is in the {namespace!r} namespace; deploy into the workload's own namespace"] if namespace == "default" else []


def _load_balancer(p, c):
    if (p.get("spec") or {}).get("type") != "LoadBalancer":
        return []
    namespace = namespace_of(p, c.provider)
    allowed = c.config.get("ingressNamespaces", ["traefik"])
    return [] if namespace in allowed else [f"LoadBalancer Service in namespace {namespace!r}; only {allowed} may expose a load balancer"]


# Secrets in clear ---------------------------------------------------------------------------------------------------

# Names that hold a credential: a word of the name (split at _ - . and camelCase) is one of these, or ends in one of
# CREDENTIAL_SUFFIXES (`dbpassword`, `authtoken`), or is a run-together key name (`APIKEY`, `ACCESSKEY`).
CREDENTIAL_WORDS = {"password", "passwd", "pwd", "pass", "passphrase", "secret", "token", "key", "credential", "credentials",
                    "connectionstring", "connstr", "sas", "apikey", "accesskey", "accountkey", "privatekey", "secretkey", "sharedkey", "masterkey", "signingkey"}
CREDENTIAL_SUFFIXES = ("password", "passwd", "secret", "token")
# A name ending in one of these words holds a reference to a credential, not the credential.
REFERENCE_WORDS = {"file", "path", "dir", "name", "id", "url", "uri", "endpoint", "host", "audience", "ref", "vault", "prefix", "length", "ttl", "expiry"}
# Values that are credentials whatever the name: URL with a literal password, storage keys and SAS, JWTs, PEM keys,
# `Password=` in a connection string.
CREDENTIAL_VALUES = [
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]*:[^\s@$`/]+@", re.I), "a URL with a password"),
    (re.compile(r"\b(AccountKey|SharedAccessKey|SharedAccessSignature)=[^;\s$]{8,}", re.I), "a storage or Service Bus key"),
    (re.compile(r"[?&]sig=[A-Za-z0-9%+/=]{16,}"), "a SAS signature"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), "a JWT"),
    (re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"), "a private key"),
    (re.compile(r"(?:^|;)\s*(?:password|pwd)\s*=\s*[^;\s$]+", re.I), "a connection string password"),
]
# `key = value` / `KEY=value` / `key: value` lines inside a file held in a ConfigMap.
ASSIGNMENT = re.compile(r"^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*[=:][ \t]*(.*?)[ \t]*$", re.M)  # within one line
NOT_A_CREDENTIAL = {"", "false", "none", "null", "true", "~", "''", '""'}


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[_\-.\s]+", spaced.lower()) if w]


def credential_name(name: str) -> bool:
    words = _words(name)
    credential = bool(set(words) & CREDENTIAL_WORDS) or any(w.endswith(CREDENTIAL_SUFFIXES) for w in words) or "connection" in words and "string" in words
    return bool(words) and words[-1] not in REFERENCE_WORDS and credential


def _literal(value: str) -> bool:
    """A value typed in, not a reference: no `$VAR`/`%s`/template, not a file path, not empty or a boolean."""
    v = value.strip().strip("'\"")
    return v.lower() not in NOT_A_CREDENTIAL and not re.search(r"\$|%s|\{\{", v) and not v.startswith(("/", "./", "~/"))


def credential_problems(name: str, value) -> list[str]:
    """Why `name: value` holds a credential in clear (empty when it does not)."""
    if not isinstance(value, str):
        return []
    found = [what for pattern, what in CREDENTIAL_VALUES if pattern.search(value)]
    if "\n" not in value.strip() and credential_name(name) and _literal(value):
        found.append("a literal credential")
    elif "\n" in value.strip():  # a file: judge each `key = value` line
        found += [f"a literal credential in {key!r}" for key, v in ASSIGNMENT.findall(value) if credential_name(key) and _literal(v)]
    return [f"{name!r} holds {what}" for what in dict.fromkeys(found)]


def _argument_problems(args) -> list[str]:
    found = []
    for arg in args or []:
        name, eq, value = str(arg).lstrip("-").partition("=")
        found += credential_problems(name if eq else "argument", value if eq else str(arg))
    return found


def _clear_credentials(p, c):
    if kind_of(c.type) == "ConfigMap":
        return [f"ConfigMap key {m}" for key, value in (p.get("data") or {}).items() for m in credential_problems(key, value)]
    problems = []
    for label, k in containers(p):
        for env in k.get("env") or []:
            if "value" in env:  # valueFrom (secretKeyRef, ...) is a reference
                problems += [f"{label}: env {m}" for m in credential_problems(str(env.get("name", "")), env.get("value"))]
        problems += [f"{label}: {m}" for m in _argument_problems(list(k.get("command") or []) + list(k.get("args") or []))]
    return problems


RULES = [
    Rule("k8s-no-privileged", "No container (init, regular or ephemeral) runs privileged.", WORKLOADS,
         lambda p, c: each_container(p, lambda k, pod: _privileged(k, pod, c.patch)),
         framework=CIS_K8S, control="5.2.2", checkov="CKV_K8S_16", remediation="Remove securityContext.privileged.", url=URL),
    Rule("k8s-no-privilege-escalation", "Containers set allowPrivilegeEscalation: false.", WORKLOADS,
         lambda p, c: each_container(p, lambda k, pod: _escalation(k, pod, c.patch)),
         framework=CIS_K8S, control="5.2.6", checkov="CKV_K8S_20", remediation="Set allowPrivilegeEscalation: false.", url=URL),
    Rule("k8s-run-as-non-root", "Containers run as a non-root user (the pod's setting unless the container overrides it).", WORKLOADS,
         lambda p, c: each_container(p, lambda k, pod: _non_root(k, pod, c.patch)),
         framework=CIS_K8S, control="5.2.7", checkov="CKV_K8S_23", remediation="Set runAsNonRoot: true and a non-zero runAsUser.", url=URL),
    Rule("k8s-no-host-namespaces", "Pods share no host network, PID or IPC namespace.", WORKLOADS, _host_namespaces,
         framework=CIS_K8S, control="5.2.3-5.2.5", checkov="CKV_K8S_17, CKV_K8S_18, CKV_K8S_19", remediation="Remove hostNetwork, hostPID, hostIPC.", url=URL),
    Rule("k8s-resource-limits", "Containers declare CPU and memory limits.", WORKLOADS,
         # ephemeral containers may not set resources (the API rejects them)
         lambda p, c: [m for m in each_container(p, lambda k, pod: _limits(k, pod, c.patch)) if not m.startswith("ephemeral")],
         framework=CIS_K8S, control="5.7", checkov="CKV_K8S_11, CKV_K8S_13", remediation="Set resources.limits.cpu and memory.", url=URL),
    Rule("k8s-image-pinned", "Container images are pinned by digest, never a mutable tag.", WORKLOADS,
         lambda p, c: each_container(p, lambda k, pod: _pinned(k, pod, c.patch)),
         framework=CIS_K8S, control="5.5.1", checkov="CKV_K8S_43, CKV_K8S_14", remediation="Reference images as repo@sha256:<digest>.", url=URL),
    Rule("k8s-image-from-platform-registry", "Workloads pull images only from the platform's registry (or one it was granted).", WORKLOADS,
         _from_allowed_registry, control="DS-6", remediation="Push the image to the platform's registry (or cache it there) and reference it by digest.",
         url="https://learn.microsoft.com/azure/aks/cluster-container-registry-integration",
         config={"allowedRegistries": {"type": "array", "items": {"type": "string"}, "default": [r"[a-z0-9]+\.azurecr\.io"]}}),
    Rule("k8s-capabilities-dropped", "Containers drop ALL Linux capabilities and add none beyond NET_BIND_SERVICE.", WORKLOADS,
         lambda p, c: each_container(p, lambda k, pod: _capabilities(k, pod, c.patch, c.config.get("allowedCapabilities", ALLOWED_CAPABILITIES))),
         framework=CIS_K8S, control="5.2.8-5.2.10", checkov="CKV_K8S_28, CKV_K8S_37", remediation="Set capabilities.drop: [ALL] and remove capabilities.add.", url=URL,
         config={"allowedCapabilities": {"type": "array", "items": {"type": "string"}, "default": ALLOWED_CAPABILITIES}}),
    Rule("k8s-seccomp-runtime-default", "Every container runs under the RuntimeDefault (or a Localhost) seccomp profile; none overrides it to Unconfined.", WORKLOADS,
         lambda p, c: each_container(p, lambda k, pod: _seccomp(k, pod, c.patch)),
         framework=CIS_K8S, control="5.7.2", checkov="CKV_K8S_31", remediation="Set securityContext.seccompProfile.type: RuntimeDefault on the pod; no container overrides it.", url=URL),
    Rule("k8s-no-host-path", "Pods and PersistentVolumes mount no hostPath volume.", [*WORKLOADS, *_with_patches([PERSISTENT_VOLUME])], _host_paths,
         framework=CIS_K8S, control="5.2.12", checkov="CKV_K8S_27", remediation="Use emptyDir, a ConfigMap, a CSI volume or a PersistentVolumeClaim.", url=URL),
    Rule("k8s-no-host-ports", "No container (init, regular or ephemeral) binds a host port.", WORKLOADS,
         lambda p, c: each_container(p, lambda k, pod: _host_ports(k, pod, c.patch)),
         framework=CIS_K8S, control="5.2.13", checkov="CKV_K8S_26", remediation="Remove hostPort; expose the pod through a Service.", url=URL),
    Rule("k8s-no-default-namespace", "Workloads and their namespaced objects are never in the default namespace (a missing namespace is default).",
         [*WORKLOADS, *_with_patches(NAMESPACED)], _not_default_namespace,
         framework=CIS_K8S, control="5.7.4", checkov="CKV_K8S_21", remediation="Set metadata.namespace to the workload's own namespace.", url=URL),
    Rule("k8s-no-literal-credentials",
         "No credential in clear in container env values, arguments or ConfigMaps (secret references, file paths and ..._FILE variables are fine).",
         [*WORKLOADS, *_with_patches([CONFIG_MAP])], _clear_credentials,
         framework=CIS_K8S, control="5.4.1", checkov="CKV_K8S_35", remediation="Keep the value in Key Vault and mount it through the Secrets Store CSI driver; pass its path.",
         url="https://kubernetes.io/docs/concepts/security/secrets-good-practices/"),
    Rule("k8s-load-balancer-only-for-ingress", "Only the ingress namespace exposes a LoadBalancer Service.", _with_patches([SERVICE]), _load_balancer,
         control="NS-1", remediation="Expose workloads through the ingress controller.", url=URL,
         config={"ingressNamespaces": {"type": "array", "items": {"type": "string"}, "default": ["traefik"]}}),
]
