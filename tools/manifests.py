"""The Kubernetes objects of a recorded stack, as the manifests the cluster would receive."""
import json
import os
import subprocess
from typing import Any, Iterable

import yaml

from .recording import RecordedResource, Recording

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKOV = os.environ.get("CHECKOV", os.path.join(ROOT, ".venv-checkov", "bin", "checkov"))
CHECKOV_SKIPS = os.path.join(ROOT, "tests", "checkov-skips.yaml")

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


def skipped_checks() -> list[dict]:
    """Checkov checks the platform skips, each with its reason (tests/checkov-skips.yaml)."""
    with open(CHECKOV_SKIPS, encoding="utf-8") as f:
        return yaml.safe_load(f)["skips"] or []


def checkov(directory: str) -> list[tuple[str, str, str]]:
    """Checkov's failed Kubernetes checks over the manifests in `directory`: (check id, resource, file)."""
    if not os.path.exists(CHECKOV):
        raise FileNotFoundError(f"checkov not found at {CHECKOV}: `make test` installs it into .venv-checkov")
    command = [CHECKOV, "--framework", "kubernetes", "-d", directory, "-o", "json", "--quiet", "--compact"]
    skips = [s["id"] for s in skipped_checks()]
    if skips:
        command += ["--skip-check", ",".join(skips)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    return [(f["check_id"], f["resource"], f["file_path"]) for r in reports for f in r["results"]["failed_checks"]]
