"""Kubernetes objects are written in the API's own camelCase form (as in any manifest).

pulumi-kubernetes' TypedDicts use snake_case keys, so pyright cannot check that form; every object
the platform creates is instead validated against the Kubernetes OpenAPI schema (and the Traefik
CRDs) in tests. `api()` marks such a literal for the type checker.
"""
from typing import Any


def api(value: dict[str, Any]) -> Any:
    return value
