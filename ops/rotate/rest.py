"""The three REST APIs rotation talks to, with urllib and a bearer token: Key Vault secrets, Azure Resource Manager
(Azure Managed Redis keys, the PostgreSQL server admin password) and Kubernetes (rolling restart).

Key Vault, API 7.4 (learn.microsoft.com/rest/api/keyvault/secrets): GET {vault}/secrets/{name} returns the current
version `{"value", "id": ".../secrets/{name}/{version}", "attributes": {"exp", ...}}`; PUT {vault}/secrets/{name}
with `{"value", "contentType", "attributes": {"exp"}, "tags"}` adds a version and makes it current; PATCH
{vault}/secrets/{name}/{version} with `{"tags"}` changes that version's tags.
"""
from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ops.backup.errors import OpsError

KEY_VAULT_API = "7.4"
TokenProvider = Callable[[str], str]  # scope -> bearer token


@dataclass(frozen=True)
class SecretVersion:
    value: str
    version: str
    expires: Optional[int]
    tags: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"SecretVersion(version={self.version!r}, expires={self.expires!r}, value=[secret])"


class Rest:
    def __init__(self, token: Callable[[], str], target: str, timeout: float = 30.0, context: Optional[ssl.SSLContext] = None):
        self.token, self.target, self.timeout, self.context = token, target, timeout, context

    def call(self, step: str, method: str, url: str, body: Optional[Any] = None, content_type: str = "application/json") -> tuple[int, dict, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"Bearer {self.token()}", "Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
                raw = response.read()
                return response.status, dict(response.headers), json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:200]
            # the path only: a query string could carry a signature
            raise OpsError(step, f"{method} {url.split('?')[0]}: HTTP {error.code} {detail}", target=self.target) from None
        except (urllib.error.URLError, OSError) as error:
            raise OpsError(step, f"{method} {url.split('?')[0]}: {getattr(error, 'reason', error)}", target=self.target) from None


class KeyVault:
    SCOPE = "https://vault.azure.net/.default"

    def __init__(self, vault_url: str, token: TokenProvider, timeout: float = 30.0):
        self.url = vault_url.rstrip("/")
        self.rest = Rest(lambda: token(self.SCOPE), "keyvault", timeout)

    def get(self, name: str, step: str = "read-secret") -> SecretVersion:
        _, _, body = self.rest.call(step, "GET", f"{self.url}/secrets/{name}?api-version={KEY_VAULT_API}")
        return self._version(body["value"], body)

    def set(self, name: str, value: str, expires: int, tags: Optional[dict] = None, step: str = "write-secret") -> SecretVersion:
        body = {"value": value, "contentType": "password", "attributes": {"enabled": True, "exp": int(expires)}, "tags": tags or {}}
        _, _, answer = self.rest.call(step, "PUT", f"{self.url}/secrets/{name}?api-version={KEY_VAULT_API}", body)
        return self._version(value, answer)

    def tag(self, name: str, version: str, tags: dict, step: str = "tag-secret") -> None:
        self.rest.call(step, "PATCH", f"{self.url}/secrets/{name}/{version}?api-version={KEY_VAULT_API}", {"tags": tags})

    @staticmethod
    def _version(value: str, body: dict) -> SecretVersion:
        return SecretVersion(value, body["id"].rsplit("/", 1)[-1], (body.get("attributes") or {}).get("exp"), dict(body.get("tags") or {}))


class Arm:
    """Azure Resource Manager: POST actions, following a long-running operation (202 + Azure-AsyncOperation or
    Location) until it ends (learn.microsoft.com/azure/azure-resource-manager/management/async-operations)."""

    SCOPE = "https://management.azure.com/.default"

    def __init__(self, endpoint: str, token: TokenProvider, timeout: float = 30.0, poll_seconds: float = 5.0, max_wait: float = 900.0):
        self.endpoint = endpoint.rstrip("/")
        self.rest = Rest(lambda: token(self.SCOPE), "arm", timeout)
        self.poll_seconds, self.max_wait = poll_seconds, max_wait

    def action(self, step: str, resource_id: str, action: str, api_version: str, body: Optional[Any] = None, method: str = "POST") -> Any:
        path = f"{resource_id}/{action}" if action else resource_id
        status, headers, answer = self.rest.call(step, method, f"{self.endpoint}{path}?api-version={api_version}", body)
        if status not in (201, 202):
            return answer
        monitor = headers.get("Azure-AsyncOperation") or headers.get("Location")
        deadline = time.monotonic() + self.max_wait
        while monitor and time.monotonic() < deadline:
            time.sleep(float(headers.get("Retry-After", self.poll_seconds)))
            status, headers, answer = self.rest.call(step, "GET", monitor)
            state = (answer or {}).get("status") if isinstance(answer, dict) else None
            if state in ("Succeeded", None) and status == 200:
                return answer
            if state in ("Failed", "Canceled"):
                raise OpsError(step, f"{action or method} on {resource_id}: {state} {json.dumps((answer or {}).get('error'))[:200]}", target="arm")
        raise OpsError(step, f"{action or method} on {resource_id}: still running after {self.max_wait:.0f}s", target="arm")
