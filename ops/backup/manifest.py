"""Backup sets and their manifest.

A set is every object under `<tenant>/<set-id>/` (set id: the UTC time the backup started, `YYYYMMDDTHHMMSSZ`):
`db.dump` (pg_dump -Fc), `filestore.tar` (the tenant's attachment blobs) and `manifest.json`, written LAST on
each target. A set without a manifest is incomplete (a backup was interrupted or is still running) and never counts.
"""
from __future__ import annotations

import datetime
import json
import re
from typing import Any, Optional

from .targets import Store

FORMAT = "odoo-platform-backup/1"
MANIFEST = "manifest.json"
DUMP = "db.dump"
FILESTORE = "filestore.tar"
SET_ID = re.compile(r"^\d{8}T\d{6}Z$")
TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def set_id_for(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def set_time(set_id: str) -> datetime.datetime:
    return datetime.datetime.strptime(set_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)


def prefix(tenant: str, set_id: str) -> str:
    return f"{tenant}/{set_id}/"


def list_sets(store: Store, tenant: str) -> dict[str, dict[str, int]]:
    """set id -> {object name inside the set: size}, oldest first."""
    sets: dict[str, dict[str, int]] = {}
    for key, size in store.list(f"{tenant}/").items():
        parts = key[len(tenant) + 1:].split("/", 1)
        if len(parts) == 2 and SET_ID.match(parts[0]):
            sets.setdefault(parts[0], {})[parts[1]] = size
    return dict(sorted(sets.items()))


def encode(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=1, sort_keys=True, default=str) + "\n").encode()


def decode(data: bytes, tenant: Optional[str] = None, set_id: Optional[str] = None) -> dict[str, Any]:
    """The manifest, or ValueError saying what is wrong with it."""
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} manifest")
    if tenant is not None and manifest.get("tenant") != tenant:
        raise ValueError(f"written for tenant {manifest.get('tenant')!r}, not {tenant!r}")
    if set_id is not None and manifest.get("set_id") != set_id:
        raise ValueError(f"written for set {manifest.get('set_id')!r}, not {set_id!r}")
    objects = manifest.get("objects")
    if not isinstance(objects, dict) or not objects:
        raise ValueError("lists no objects")
    for name, record in objects.items():
        if not (isinstance(record, dict) and isinstance(record.get("size"), int) and re.fullmatch(r"[0-9a-f]{64}", str(record.get("sha256")))):
            raise ValueError(f"object {name}: no size or SHA-256")
    return manifest


def listing_problems(manifest: dict[str, Any], listing: dict[str, int]) -> list[dict[str, Any]]:
    """Presence and size of each object, from a listing (no download)."""
    problems = []
    for name, record in sorted(manifest["objects"].items()):
        if name not in listing:
            problems.append({"object": name, "problem": "missing", "expected_size": record["size"]})
        elif listing[name] != record["size"]:
            problems.append({"object": name, "problem": "size", "expected_size": record["size"], "size": listing[name],
                             "detail": "truncated" if listing[name] < record["size"] else "larger than recorded"})
    return problems
