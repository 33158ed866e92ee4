"""The Kubernetes objects of a recorded stack, as the manifests the cluster would receive."""
import os
from typing import Any, Iterable

import yaml

from .recording import RecordedResource, Recording

# Not Kubernetes objects: Pulumi's own Helm release resource (its chart renders in the cluster).
NOT_MANIFESTS = ("kubernetes:helm.sh/",)


def kubernetes_objects(recording: Recording) -> list[RecordedResource]:
    return [r for r in recording.resources if r.type.startswith("kubernetes:") and r.custom and not r.type.startswith(NOT_MANIFESTS)]


def manifest(resource: RecordedResource) -> dict[str, Any]:
    return {k: v for k, v in resource.inputs.items() if v is not None}


def write_manifests(objects: Iterable[RecordedResource], directory: str) -> list[str]:
    """One YAML file per object (checkov reports per file); returns the paths."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for i, obj in enumerate(objects):
        doc = manifest(obj)
        meta = doc.get("metadata", {})
        path = os.path.join(directory, f"{i:04d}-{doc['kind'].lower()}-{meta.get('namespace', 'cluster')}-{meta.get('name', obj.name)}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        paths.append(path)
    return paths
