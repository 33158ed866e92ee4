"""`verify`: a set's manifest against each target's objects: presence, size, SHA-256 of the bytes the target serves."""
from __future__ import annotations

import hashlib
import time
from typing import Any, Optional

from . import manifest
from .errors import EXIT_FAILED, OpsError
from .log import MB, Log
from .stream import Hashed
from .targets import Store


def latest_complete(store: Store, tenant: str) -> tuple[str, list[str]]:
    """The newest set that has a manifest on `store`, and the newer sets that have none (interrupted or running)."""
    sets = manifest.list_sets(store, tenant)
    incomplete: list[str] = []
    for set_id in sorted(sets, reverse=True):
        if manifest.MANIFEST in sets[set_id]:
            return set_id, incomplete
        incomplete.append(set_id)
    raise OpsError("select-set", f"no backup set with a manifest for tenant {tenant!r}"
                   + (f" ({len(incomplete)} incomplete)" if incomplete else ""), obj=f"{tenant}/", target=store.label, exit_code=EXIT_FAILED)


def read_manifest(store: Store, tenant: str, set_id: str, listing: dict[str, int]) -> tuple[Optional[dict[str, Any]], Optional[dict[str, Any]], str]:
    """(manifest, problem, sha256 of the manifest's bytes)."""
    key = manifest.prefix(tenant, set_id) + manifest.MANIFEST
    if manifest.MANIFEST not in listing:
        return None, {"object": key, "problem": "missing", "detail": "no manifest: the set is incomplete (an interrupted or running backup) and does not count"}, ""
    data = store.get(key, step="read-manifest")
    try:
        return manifest.decode(data, tenant, set_id), None, hashlib.sha256(data).hexdigest()
    except ValueError as error:
        return None, {"object": key, "problem": "invalid", "detail": f"manifest {error}"}, ""


def check_set(store: Store, tenant: str, set_id: str, log: Log, deep: bool = True) -> dict[str, Any]:
    """Problems of one set on one target; `deep` reads every object and checks its SHA-256."""
    started = time.monotonic()
    prefix = manifest.prefix(tenant, set_id)
    listing = {k[len(prefix):]: v for k, v in store.list(prefix).items()}
    result: dict[str, Any] = {"target": store.label, "location": store.describe(), "set_id": set_id, "problems": [], "bytes_read": 0}
    if not listing:
        result["problems"].append({"object": prefix, "problem": "missing", "detail": "no such set on this target"})
    else:
        found, problem, digest = read_manifest(store, tenant, set_id, listing)
        result["manifest_sha256"] = digest or None
        if problem:
            result["problems"].append(problem)
        if found:
            result["snapshot_time"] = found["snapshot"]["time"]
            bad = manifest.listing_problems(found, listing)
            for item in bad:
                item["object"] = prefix + item["object"]
            result["problems"] += bad
            named = {p["object"] for p in bad}
            if deep:
                for name, record in sorted(found["objects"].items()):
                    key = prefix + name
                    if key in named:
                        continue
                    hashed = Hashed(store.read(key, record["size"], step="verify"), log.progress("verify", key, record["size"]))
                    for _ in hashed:
                        pass
                    hashed.progress.done()  # type: ignore[union-attr]
                    result["bytes_read"] += hashed.size
                    if hashed.size != record["size"]:
                        result["problems"].append({"object": key, "problem": "size", "expected_size": record["size"], "size": hashed.size})
                    elif hashed.hexdigest() != record["sha256"]:
                        result["problems"].append({"object": key, "problem": "checksum", "expected_sha256": record["sha256"],
                                                   "sha256": hashed.hexdigest(), "detail": "corrupted: content differs from the manifest"})
    elapsed = time.monotonic() - started
    result["ok"] = not result["problems"]
    result["elapsed_s"] = round(elapsed, 3)
    result["mb_s"] = round(result["bytes_read"] / MB / max(elapsed, 1e-9), 2)
    for problem in result["problems"]:
        log.error("object-bad", target=store.label, **problem)
    return result


def run_verify(stores: list[Store], tenant: str, set_id: Optional[str], log: Log) -> tuple[dict[str, Any], Optional[OpsError]]:
    """The verify record, and the first fault (a target that could not be read) if any."""
    incomplete: list[str] = []
    if set_id is None:
        set_id, incomplete = latest_complete(stores[0], tenant)
    elif not manifest.SET_ID.match(set_id):
        raise OpsError("configure", f"set id {set_id!r}: expected YYYYMMDDTHHMMSSZ", exit_code=2)
    results: list[dict[str, Any]] = []
    fault: Optional[OpsError] = None
    for store in stores:
        try:
            results.append(check_set(store, tenant, set_id, log))
        except OpsError as error:
            fault = fault or error
            results.append({"target": store.label, "set_id": set_id, "ok": False,
                            "problems": [{"object": error.obj, "problem": "error", "detail": error.line()}]})
    digests = {r.get("manifest_sha256") for r in results if r.get("manifest_sha256")}
    if len(digests) > 1:
        for result in results[1:]:
            if result.get("manifest_sha256") and result["manifest_sha256"] != results[0].get("manifest_sha256"):
                result["problems"].append({"object": manifest.prefix(tenant, set_id) + manifest.MANIFEST, "problem": "differs",
                                           "detail": f"not the manifest of {results[0]['target']}"})
                result["ok"] = False
    record = {"event": "verify", "tenant": tenant, "set_id": set_id, "ok": all(r["ok"] for r in results),
              "incomplete_newer_sets": incomplete, "targets": results}
    return record, fault
