"""`prune`: the retention policy over each target's sets.

Policy (as restic's --keep-daily/weekly/monthly/yearly): going from the newest good set backwards, keep the newest
set of each of the last N days, N ISO weeks, N months and N years that have a set (defaults 7/4/12/7). Besides:
- the newest good set is always kept, whatever the policy says;
- a set younger than the immutability period (`--immutability-days`, from its set id) is never deleted;
- a set without a manifest (incomplete) is deleted only once older than the grace period (it may be running);
- a set whose manifest is unreadable or whose objects are missing or of the wrong size is damaged: it counts for
  nothing and is deleted like an expired one.
A deletion removes the manifest first (the set stops counting at once), then the other objects; a store that
refuses for immutability (Azure's immutability policy, S3 object lock) is reported, and the set is left as it is.
Deterministic for a given `now`.
"""
from __future__ import annotations

import dataclasses
import datetime
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

from . import manifest
from .errors import ImmutableRefusal, OpsError
from .log import Log, iso
from .targets import Store


@dataclasses.dataclass(frozen=True)
class Policy:
    daily: int = 7
    weekly: int = 4
    monthly: int = 12
    yearly: int = 7
    immutability_days: int = 0
    incomplete_grace_hours: float = 24.0


PERIODS = (
    ("daily", lambda t: t.strftime("%Y-%m-%d")),
    ("weekly", lambda t: "%04d-W%02d" % t.isocalendar()[:2]),
    ("monthly", lambda t: t.strftime("%Y-%m")),
    ("yearly", lambda t: t.strftime("%Y")),
)


def plan(sets: dict[str, str], now: datetime.datetime, policy: Policy) -> dict[str, dict[str, Any]]:
    """sets: set id -> status ('good', 'incomplete', 'damaged'). Returns set id -> {"keep": bool, "reasons": [...]}."""
    decisions: dict[str, dict[str, Any]] = {s: {"keep": False, "reasons": [], "status": status} for s, status in sets.items()}
    times = {s: manifest.set_time(s) for s in sets}
    good = sorted((s for s, status in sets.items() if status == "good" and times[s] <= now), reverse=True)
    for name, period_of in PERIODS:
        wanted = getattr(policy, name)
        seen: list[str] = []
        for set_id in good:
            period = period_of(times[set_id])
            if period in seen:
                continue
            if len(seen) >= wanted:
                break
            seen.append(period)
            decisions[set_id]["reasons"].append(f"{name} {period}")
    if good:
        decisions[good[0]]["reasons"].insert(0, "last good set")
    for set_id, decision in decisions.items():
        moment = times[set_id]
        if moment > now:
            decision["reasons"].append("newer than now")
        if policy.immutability_days > 0 and moment + datetime.timedelta(days=policy.immutability_days) > now:
            decision["reasons"].append(f"immutable until {iso(moment + datetime.timedelta(days=policy.immutability_days))}")
        if decision["status"] == "incomplete" and moment + datetime.timedelta(hours=policy.incomplete_grace_hours) > now:
            decision["reasons"].append("incomplete, within the grace period (a backup may be running)")
        decision["keep"] = bool(decision["reasons"])
        if not decision["keep"]:
            decision["reasons"].append({"good": "outside the retention policy", "incomplete": "incomplete (no manifest)",
                                        "damaged": "damaged (manifest unreadable or objects missing)"}[decision["status"]])
    return decisions


def classify(store: Store, tenant: str) -> tuple[dict[str, str], dict[str, dict[str, int]], dict[str, str]]:
    """Status of each set on `store` (listing and manifest only: sizes, no checksums), its listing, and why damaged."""
    sets = manifest.list_sets(store, tenant)
    status: dict[str, str] = {}
    why: dict[str, str] = {}

    def judge(set_id: str) -> tuple[str, Optional[str]]:
        listing = sets[set_id]
        if manifest.MANIFEST not in listing:
            return "incomplete", None
        try:
            found = manifest.decode(store.get(manifest.prefix(tenant, set_id) + manifest.MANIFEST, step="read-manifest"), tenant, set_id)
        except ValueError as error:
            return "damaged", f"manifest {error}"
        problems = manifest.listing_problems(found, listing)
        if problems:
            return "damaged", "; ".join(f"{p['object']} {p['problem']}" for p in problems)
        return "good", None

    with ThreadPoolExecutor(max_workers=store.transfer.concurrency * 2) as pool:
        for set_id, (state, reason) in zip(sets, pool.map(judge, sets)):
            status[set_id] = state
            if reason:
                why[set_id] = reason
    return status, sets, why


def prune_store(store: Store, tenant: str, now: datetime.datetime, policy: Policy, log: Log, dry_run: bool = False) -> dict[str, Any]:
    status, sets, why = classify(store, tenant)
    decisions = plan(status, now, policy)
    kept, deleted, refused, failed = [], [], [], []

    def remove(set_id: str) -> tuple[str, dict[str, Any]]:
        """Delete one set, the manifest first: the set stops counting before anything else goes."""
        entry = {"set_id": set_id, "status": decisions[set_id]["status"], "reasons": decisions[set_id]["reasons"]}
        if set_id in why:
            entry["damage"] = why[set_id]
        prefix = manifest.prefix(tenant, set_id)
        for name in sorted(sets[set_id], key=lambda n: (n != manifest.MANIFEST, n)):
            try:
                store.delete(prefix + name)
            except ImmutableRefusal as refusal:
                log.warning("prune-refused", target=store.label, set_id=set_id, object=prefix + name, reason=str(refusal))
                return "refused", {**entry, "object": prefix + name, "error": str(refusal)}
            except OpsError as error:
                log.error("prune-failed", **error.fields())
                return "failed", {**entry, "object": error.obj, "error": error.line()}
        log.info("pruned", target=store.label, set_id=set_id, reasons=entry["reasons"])
        return "deleted", entry

    doomed = [s for s in sorted(decisions, reverse=True) if not decisions[s]["keep"]]
    for set_id in sorted(decisions, reverse=True):
        if decisions[set_id]["keep"]:
            entry = {"set_id": set_id, "status": decisions[set_id]["status"], "reasons": decisions[set_id]["reasons"]}
            kept.append(entry)
    if dry_run:
        deleted = [{"set_id": s, "status": decisions[s]["status"], "reasons": decisions[s]["reasons"], "dry_run": True} for s in doomed]
    else:
        with ThreadPoolExecutor(max_workers=store.transfer.concurrency * 2) as pool:
            for outcome, entry in pool.map(remove, doomed):
                {"deleted": deleted, "refused": refused, "failed": failed}[outcome].append(entry)
    return {"target": store.label, "location": store.describe(), "sets": len(decisions), "kept": kept, "deleted": deleted,
            "refused": refused, "failed": failed}


def run_prune(stores: list[Store], tenant: str, now: datetime.datetime, policy: Policy, log: Log, dry_run: bool = False) -> dict[str, Any]:
    results = []
    for store in stores:
        store.check("check-target", prefix=f"{tenant}/")
        results.append(prune_store(store, tenant, now, policy, log, dry_run))
    return {"event": "prune", "tenant": tenant, "now": iso(now), "dry_run": dry_run, "policy": dataclasses.asdict(policy),
            "targets": results, "ok": not any(r["failed"] for r in results)}


def parse_now(text: Optional[str]) -> Optional[datetime.datetime]:
    if not text:
        return None
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)
