"""Kubernetes workloads and services the platform (or a user) deploys onto the clusters."""
import re

from .common import CIS_K8S, Rule

WORKLOADS = [
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:core/v1:Pod",
]
SERVICE = "kubernetes:core/v1:Service"
URL = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def pod_spec(p) -> dict:
    """The pod spec inside any workload kind."""
    spec = p.get("spec") or {}
    if "jobTemplate" in spec:
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    if "template" in spec:
        spec = (spec.get("template") or {}).get("spec") or {}
    return spec


def containers(p) -> list[dict]:
    spec = pod_spec(p)
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def _each(p, problem):
    return [f"container {c.get('name')!r}: {msg}" for c in containers(p) for msg in problem(c, pod_spec(p))]


def _privileged(c, pod):
    return ["runs privileged"] if (c.get("securityContext") or {}).get("privileged") is True else []


def _escalation(c, pod):
    return [] if (c.get("securityContext") or {}).get("allowPrivilegeEscalation") is False else ["allowPrivilegeEscalation is not false"]


def _non_root(c, pod):
    sc, psc = c.get("securityContext") or {}, pod.get("securityContext") or {}
    run_as_non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    user = sc.get("runAsUser", psc.get("runAsUser"))
    return [] if run_as_non_root is True and user != 0 else ["may run as root (set runAsNonRoot: true)"]


def _limits(c, pod):
    limits = (c.get("resources") or {}).get("limits") or {}
    return [] if "cpu" in limits and "memory" in limits else ["has no CPU and memory limits"]


def _pinned(c, pod):
    image = c.get("image") or ""
    if DIGEST.search(image):
        return []
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    return [f"image {image!r} is not pinned by digest" + (" (mutable tag)" if tag in ("", "latest") else "")]


def _registry(image: str) -> str:
    first, _, rest = image.partition("/")
    return first if rest and ("." in first or ":" in first or first == "localhost") else "docker.io"


def _from_allowed_registry(p, c):
    allowed = c.config.get("allowedRegistries", [r"[a-z0-9]+\.azurecr\.io"])
    return [
        f"container {k.get('name')!r}: image {k.get('image')!r} comes from {_registry(str(k.get('image', '')))}, not the platform's registry"
        for k in containers(p)
        if not any(re.fullmatch(pattern, _registry(str(k.get("image", "")))) for pattern in allowed)
    ]


def _host_namespaces(p, c):
    spec = pod_spec(p)
    shared = [k for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    return [f"pod shares the node's {', '.join(shared)}"] if shared else []


def _load_balancer(p, c):
    if (p.get("spec") or {}).get("type") != "LoadBalancer":
        return []
    namespace = (p.get("metadata") or {}).get("namespace") or "default"
    allowed = c.config.get("ingressNamespaces", ["traefik"])
    return [] if namespace in allowed else [f"LoadBalancer Service in namespace {namespace!r}; only {allowed} may expose a load balancer"]


RULES = [
    Rule("k8s-no-privileged", "No container runs privileged.", WORKLOADS, lambda p, c: _each(p, _privileged),
         framework=CIS_K8S, control="5.2.2", checkov="CKV_K8S_16", remediation="Remove securityContext.privileged.", url=URL),
    Rule("k8s-no-privilege-escalation", "Containers set allowPrivilegeEscalation: false.", WORKLOADS, lambda p, c: _each(p, _escalation),
         framework=CIS_K8S, control="5.2.6", checkov="CKV_K8S_20", remediation="Set allowPrivilegeEscalation: false.", url=URL),
    Rule("k8s-run-as-non-root", "Containers run as a non-root user.", WORKLOADS, lambda p, c: _each(p, _non_root),
         framework=CIS_K8S, control="5.2.7", checkov="CKV_K8S_23", remediation="Set runAsNonRoot: true and a non-zero runAsUser.", url=URL),
    Rule("k8s-no-host-namespaces", "Pods share no host network, PID or IPC namespace.", WORKLOADS, _host_namespaces,
         framework=CIS_K8S, control="5.2.3-5.2.5", checkov="CKV_K8S_17, CKV_K8S_18, CKV_K8S_19", remediation="Remove hostNetwork, hostPID, hostIPC.", url=URL),
    Rule("k8s-resource-limits", "Containers declare CPU and memory limits.", WORKLOADS, lambda p, c: _each(p, _limits),
         framework=CIS_K8S, control="5.7", checkov="CKV_K8S_11, CKV_K8S_13", remediation="Set resources.limits.cpu and memory.", url=URL),
    Rule("k8s-image-pinned", "Container images are pinned by digest, never a mutable tag.", WORKLOADS, lambda p, c: _each(p, _pinned),
         framework=CIS_K8S, control="5.5.1", checkov="CKV_K8S_43, CKV_K8S_14", remediation="Reference images as repo@sha256:<digest>.", url=URL),
    Rule("k8s-image-from-platform-registry", "Workloads pull images only from the platform's registry (or one it was granted).", WORKLOADS,
         _from_allowed_registry, control="DS-6", remediation="Push the image to the platform's registry (or cache it there) and reference it by digest.",
         url="https://learn.microsoft.com/azure/aks/cluster-container-registry-integration",
         config={"allowedRegistries": {"type": "array", "items": {"type": "string"}, "default": [r"[a-z0-9]+\.azurecr\.io"]}}),
    Rule("k8s-load-balancer-only-for-ingress", "Only the ingress namespace exposes a LoadBalancer Service.", [SERVICE], _load_balancer,
         control="NS-1", remediation="Expose workloads through the ingress controller.", url=URL,
         config={"ingressNamespaces": {"type": "array", "items": {"type": "string"}, "default": ["traefik"]}}),
]
