"""Rolling restart of the Deployments that read a rotated secret only at start (Odoo reads odoo.conf once).

What `kubectl rollout restart` does: a strategic merge patch of the pod template's `kubectl.kubernetes.io/restartedAt`
annotation (kubectl, pkg/polymorphichelpers/objectrestarter.go), then what `kubectl rollout status` waits for:
observedGeneration caught up, every replica updated and available, none left of the old ReplicaSet
(kubectl, pkg/polymorphichelpers/rollout_status.go). New pods mount the secret's current version: the CSI driver
reads Key Vault when it mounts a volume; its rotation poll only refreshes volumes already mounted.
Flux leaves the annotation alone: server-side apply only reconciles the fields its manifests set.
The Kubernetes API client is the refresh job's (ops/refresh/kube.py).
"""
from __future__ import annotations

import datetime
import time
from typing import Sequence

from ops.backup.errors import OpsError
from ops.refresh.kube import KubeApi


class RollingRestart:
    def __init__(self, api: KubeApi, poll_seconds: float = 5.0, timeout: float = 900.0):
        self.api, self.poll_seconds, self.timeout = api, poll_seconds, timeout

    @staticmethod
    def _path(namespace: str, name: str) -> str:
        return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"

    def restart(self, namespace: str, deployments: Sequence[str]) -> None:
        moment = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": moment}}}}}
        for name in deployments:
            self.api.request("PATCH", self._path(namespace, name), patch, "application/strategic-merge-patch+json")
        deadline = time.monotonic() + self.timeout
        pending = list(deployments)
        while pending:
            pending = [name for name in pending if not self._rolled_out(namespace, name)]
            if pending and time.monotonic() > deadline:
                raise OpsError("restart", f"not rolled out after {self.timeout:.0f}s: {', '.join(pending)}", obj=namespace, target="kubernetes")
            if pending:
                time.sleep(self.poll_seconds)

    def _rolled_out(self, namespace: str, name: str) -> bool:
        d = self.api.request("GET", self._path(namespace, name)) or {}
        spec, status, meta = d.get("spec") or {}, d.get("status") or {}, d.get("metadata") or {}
        wanted = spec.get("replicas", 1)
        return (
            status.get("observedGeneration", 0) >= meta.get("generation", 0)
            and status.get("updatedReplicas", 0) >= wanted
            and status.get("replicas", 0) <= status.get("updatedReplicas", 0)
            and status.get("availableReplicas", 0) >= wanted
        )
