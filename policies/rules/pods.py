"""The one reader of pod templates: every kind that carries one, every container list, effective security settings.

Kinds (and their `*Patch` forms, which Server-Side Apply merges into the live object): Deployment, StatefulSet,
DaemonSet, ReplicaSet (apps), Job and CronJob (batch; the CronJob's pod is `spec.jobTemplate.spec.template`), Pod,
ReplicationController and PodTemplate (core). Objects rendered by `kubernetes:yaml/v2:ConfigGroup` or a client-side
`helm.sh/v4:Chart` register as these same types, so they are judged too; a `helm.sh/v3:Release` renders inside the
cluster and is out of the pack's sight (Azure Policy for Kubernetes covers it at admission time).
"""
from typing import Any, Iterator, Optional

WORKLOAD_KINDS = {
    "apps/v1": ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"),
    "apps/v1beta1": ("Deployment", "StatefulSet"),
    "apps/v1beta2": ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"),
    "extensions/v1beta1": ("Deployment", "DaemonSet", "ReplicaSet"),
    "batch/v1": ("Job", "CronJob"),
    "batch/v1beta1": ("CronJob",),
    "core/v1": ("Pod", "ReplicationController", "PodTemplate"),
}
WORKLOADS = [f"kubernetes:{gv}:{kind}{suffix}" for gv, kinds in WORKLOAD_KINDS.items() for kind in kinds for suffix in ("", "Patch")]

# Container lists of a pod spec, with the word a message uses for each.
CONTAINER_LISTS = (("initContainers", "init container"), ("containers", "container"), ("ephemeralContainers", "ephemeral container"))
# securityContext fields a container inherits from the pod's securityContext unless it sets its own
# (PodSecurityContext vs SecurityContext, https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#security-context).
POD_LEVEL = ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "seLinuxOptions", "appArmorProfile")


def kind_of(type_: str) -> str:
    """`kubernetes:apps/v1:DeploymentPatch` -> `Deployment`."""
    kind = type_.rsplit(":", 1)[-1]
    return kind[: -len("Patch")] if kind.endswith("Patch") else kind


def pod_spec(p: Any) -> dict:
    """The pod spec inside any workload kind ({} when the object carries none, e.g. a patch of replicas only)."""
    if "template" in p and "spec" not in p:  # PodTemplate: the template sits at the top level
        return (p.get("template") or {}).get("spec") or {}
    spec = p.get("spec") or {}
    if "jobTemplate" in spec:
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    if "template" in spec:
        spec = (spec.get("template") or {}).get("spec") or {}
    return spec


def containers(p: Any) -> Iterator[tuple[str, dict]]:
    """(label, container) for every container of every list: `init container 'x'`, `container 'y'`, ..."""
    spec = pod_spec(p)
    for key, word in CONTAINER_LISTS:
        for c in spec.get(key) or []:
            yield f"{word} {c.get('name')!r}", c


def context(c: dict) -> dict:
    return c.get("securityContext") or {}


def effective(c: dict, pod: dict, key: str) -> Optional[Any]:
    """A securityContext field as the container runs with it: its own value, else the pod's (for POD_LEVEL fields)."""
    own = context(c)
    if key in own and own[key] is not None:
        return own[key]
    return (pod.get("securityContext") or {}).get(key) if key in POD_LEVEL else None


def namespace_of(p: Any, provider: Optional[Any] = None) -> str:
    """The object's namespace; a missing or empty one is its Kubernetes provider's `namespace` when set, else `default`
    (https://www.pulumi.com/registry/packages/kubernetes/api-docs/provider/#namespace_nodejs)."""
    return (p.get("metadata") or {}).get("namespace") or (provider or {}).get("namespace") or "default"


def resource_namespace(r: Any) -> str:
    """namespace_of for a stack policy's resource (its provider's inputs travel with it)."""
    return namespace_of(r.props, r.provider.props if r.provider is not None else None)


def each_container(p: Any, problem) -> list[str]:
    """`problem(container, pod_spec)` -> messages, for every container, prefixed with the container's label."""
    pod = pod_spec(p)
    return [f"{label}: {message}" for label, c in containers(p) for message in problem(c, pod)]
