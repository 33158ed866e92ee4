"""Refresh isolation: in a production stack, a non-production identity gets nothing on production's data scopes
(server, backups, vault, storage) but Storage Blob Data Reader on the exports container, narrowed by an ABAC condition
to its own unit's prefix (README.md "Refreshing non-production"; stacks/refresh.py makes exactly that grant).

A grant is to a non-production identity when its description says so (the platform's one helper writes
"refresh reader for non-production <stack> <unit>/<environment>") or when its principal is listed in the pack config
`nonProductionPrincipals` ({principal id: unit}): the principal of another stack's identity is not a fact this stack
shows, so the list covers grants made by hand.
"""
import re

from .common import PRODUCTION, MCSB, StackRule, per_resource
from .rbac import ROLE_ASSIGNMENT, role_id

URL = "https://learn.microsoft.com/azure/storage/blobs/storage-auth-abac-examples"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"  # Storage Blob Data Reader (built-in roles reference)
MARKER = re.compile(r"refresh reader for non-production (?P<stack>\S+) (?P<unit>[a-z0-9]+)/(?P<environment>[a-z0-9]+)")
EXPORTS_SCOPE = re.compile(r"/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.storage/storageaccounts/[^/]+/blobservices/default/containers/exports")
PREFIXES = re.compile(r"@(Resource|Request)\[[^\]]*:(path|prefix)\]\s*StringStartsWith\s*'([^']*)'", re.I)


def _problems(props, unit: str) -> list[str]:
    found = []
    if role_id(props.get("roleDefinitionId")) != BLOB_READER:
        found.append("a role other than Storage Blob Data Reader")
    if not EXPORTS_SCOPE.fullmatch(str(props.get("scope") or "").strip().lower().rstrip("/")):
        found.append(f"scope {props.get('scope')!r} instead of the exports container")
    condition = str(props.get("condition") or "")
    prefixes = PREFIXES.findall(condition)
    kinds = {kind.lower() for kind, _, _ in prefixes}
    if str(props.get("conditionVersion") or "") != "2.0" or kinds != {"resource", "request"} or any(not p.startswith(f"{unit}/") for _, _, p in prefixes) \
            or re.search(r"\bOR\s+true\b|\(\s*true\s*\)", condition, re.I):
        found.append(f"no ABAC condition (version 2.0) limiting every read and listing to the prefix {unit}/")
    return found


def _non_production_grants(resources, c):
    listed = {str(k).lower(): str(v) for k, v in (c.config.get("nonProductionPrincipals") or {}).items()}

    def judge(r):
        if r.resource_type != ROLE_ASSIGNMENT:
            return
        props = r.props
        match = MARKER.search(str(props.get("description") or ""))
        unit = match.group("unit") if match else listed.get(str(props.get("principalId") or "").lower())
        if unit is None:
            return
        problems = _problems(props, unit)
        if problems:
            yield (f"RoleAssignment {r.name!r} gives non-production identity {props.get('principalId')!r} (unit {unit}) "
                   f"{'; '.join(problems)}: production grants it read on exports/{unit}/ only"), r.urn

    yield from per_resource(resources, judge)


RULES = [
    StackRule("refresh-non-production-reads-own-exports-only",
              "In a production stack, a non-production identity is granted only Storage Blob Data Reader on the exports container, "
              "with an ABAC condition limiting it to its own unit's prefix: nothing on the server, backups, vault or other data.",
              _non_production_grants, tiers=(PRODUCTION,), framework=MCSB, control="PA-7",
              remediation="Grant through stacks/refresh.py (storage.grant_read on EXPORTS with prefix <unit>/<environment>/); remove any other grant.",
              url=URL, config={"nonProductionPrincipals": {"type": "object", "additionalProperties": {"type": "string"}, "default": {}}}),
]
