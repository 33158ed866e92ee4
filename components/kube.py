"""Kubernetes objects are written in the API's own camelCase form (as in any manifest).

pulumi-kubernetes' TypedDicts use snake_case keys, so pyright cannot check that form; every object
the platform creates is instead validated against the Kubernetes OpenAPI schema (and the Traefik
CRDs) in tests. `api()` marks such a literal for the type checker.
"""
from typing import Any, Optional

import pulumi


def api(value: dict[str, Any]) -> Any:
    return value


def api_token_volume(mount_path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(volumeMount, volume) of the pod's own service-account token and the cluster CA, as automounting would give
    them (short-lived, projected), for the few jobs that call the API server."""
    return ({"name": "kube-api", "mountPath": mount_path, "readOnly": True},
            {"name": "kube-api", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            ]}})


def secret_provider_spec(
    client_id: Any, key_vault_name: Any, tenant_id: Any, objects: list[tuple[Any, str]], secret_objects: Optional[list[dict[str, Any]]] = None
) -> dict[str, Any]:
    """A SecretProviderClass spec: Key Vault secrets (name, file alias) mounted as files through the CSI driver,
    read with the pod's workload identity (never a pod-managed identity). Names may be outputs (generation-suffixed)."""

    def render(names: list[str]) -> str:
        lines = ["array:"]
        for object_name, (_, alias) in zip(names, objects):
            lines += ["  - |", f"    objectName: {object_name}", "    objectType: secret", f"    objectAlias: {alias}"]
        return "\n".join(lines) + "\n"

    spec: dict[str, Any] = {
        "provider": "azure",
        "parameters": {
            "usePodIdentity": "false",
            "clientID": client_id,
            "keyvaultName": key_vault_name,
            "tenantId": tenant_id,
            "objects": pulumi.Output.all(*[name for name, _ in objects]).apply(render),
        },
    }
    if secret_objects:
        spec["secretObjects"] = secret_objects
    return spec
