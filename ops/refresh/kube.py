"""Stopping and starting Odoo around an import, through the Kubernetes API from inside the cluster (no client
library: the service account's projected token and CA, JSON over HTTPS).

Flux owns the web and cron Deployments and their KEDA ScaledObjects (components/flux.py), so the job does not scale
the Deployments itself (KEDA would scale them back): it pauses each ScaledObject at zero replicas with KEDA's
annotation `autoscaling.keda.sh/paused-replicas: "0"` (keda.sh/docs/2.17/concepts/scaling-deployments/#pause-autoscaling),
waits until no Odoo pod is left, and removes the annotation afterwards. Flux's server-side apply keeps an annotation
it does not manage. The job's Role allows exactly get/patch on these ScaledObjects and get on the Deployments.
"""
from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.request
from typing import Any, Optional, Sequence

from ops.backup.errors import OpsError

PAUSE = "autoscaling.keda.sh/paused-replicas"
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"


class KubeApi:
    def __init__(self, server: str, token: Optional[str], ca_file: Optional[str] = None, timeout: float = 30):
        self.server = server.rstrip("/")
        self.token = token
        self.context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.timeout = timeout

    @classmethod
    def in_cluster(cls) -> "KubeApi":
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise OpsError("configure", "not in a cluster (KUBERNETES_SERVICE_HOST unset): give --kube-api", exit_code=2)
        with open(TOKEN, encoding="utf-8") as f:
            token = f.read().strip()
        return cls(f"https://{host}:{port}", token, CA)

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise OpsError("kubernetes", f"{method} {path}: {error.code} {error.reason}", obj=path, target="kubernetes") from None
        except (urllib.error.URLError, OSError) as error:
            raise OpsError("kubernetes", f"{method} {path}: {error}", obj=path, target="kubernetes") from None


class OdooScaler:
    """stop(): every named ScaledObject paused at 0, then wait until the Deployments have no replica; start(): unpaused."""

    def __init__(self, api: KubeApi, namespace: str, scaled_objects: Sequence[str], deployments: Sequence[str],
                 timeout_s: float = 600, poll_s: float = 5):
        self.api, self.namespace = api, namespace
        self.scaled_objects, self.deployments = list(scaled_objects), list(deployments)
        self.timeout_s, self.poll_s = timeout_s, poll_s

    def _annotate(self, value: Optional[str]) -> None:
        for name in self.scaled_objects:
            self.api.request("PATCH", f"/apis/keda.sh/v1alpha1/namespaces/{self.namespace}/scaledobjects/{name}",
                             {"metadata": {"annotations": {PAUSE: value}}}, "application/merge-patch+json")

    def stop(self) -> None:
        self._annotate("0")
        deadline = time.monotonic() + self.timeout_s
        while True:
            running = {}
            for name in self.deployments:
                status = (self.api.request("GET", f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{name}") or {}).get("status") or {}
                if status.get("replicas"):
                    running[name] = status["replicas"]
            if not running:
                return
            if time.monotonic() >= deadline:
                raise OpsError("stop-odoo", f"still running after {self.timeout_s:g} s: {running}", target="kubernetes")
            time.sleep(self.poll_s)

    def start(self) -> None:
        self._annotate(None)  # merge patch: null removes the annotation
