"""The one place that decides how loud an alert is: Azure Monitor severity 0 (critical) to 4 (verbose).

severity = f(tier, criticality of the business unit, kind of alert, business calendar). Production pages
on severity 0-1 and notifies otherwise; non-production never pages (`pages`).
"""
from enum import Enum
from typing import Literal, NamedTuple

from .tier import Tier

Criticality = Literal["core-finance", "project-operations", "standard"]
CRITICALITIES: tuple[Criticality, ...] = ("core-finance", "project-operations", "standard")


class Kind(str, Enum):
    """What an alert says about the business, not which metric it reads."""

    AVAILABILITY = "availability"  # users cannot work: service down, SLO burning fast
    DATA_RISK = "data-risk"  # data may be lost: backup or drill failed, storage full, wraparound, replica behind
    SECURITY = "security"  # deletions of locked resources, bursts of denied access
    BUSINESS_PROCESS = "business-process"  # a process users rely on stopped: crons, scheduled jobs
    DEGRADATION = "degradation"  # users work slowly: latency, errors below the outage level, slow SLO burn
    SATURATION = "saturation"  # a resource runs hot: CPU, memory, IOPS, connections
    CAPACITY = "capacity"  # headroom shrinks: quotas, storage trending, autoscaler at its maximum
    INFORMATIONAL = "informational"  # worth a look during working hours


class BusinessWindow(NamedTuple):
    """Days of the month (UTC) when a unit's finance runs: month-end close, payroll."""

    name: str
    days_of_month: tuple[int, ...]


# Production, a `standard` unit, outside a business window.
_BASE = {
    Kind.AVAILABILITY: 1,
    Kind.DATA_RISK: 1,
    Kind.SECURITY: 1,
    Kind.BUSINESS_PROCESS: 2,
    Kind.DEGRADATION: 2,
    Kind.SATURATION: 2,
    Kind.CAPACITY: 3,
    Kind.INFORMATIONAL: 4,
}
# Kinds whose cost grows with the unit's criticality and inside its close and payroll windows.
_BUSINESS_KINDS = frozenset({Kind.AVAILABILITY, Kind.BUSINESS_PROCESS, Kind.DEGRADATION, Kind.DATA_RISK})
# How many steps louder a unit's criticality makes a business kind.
_RAISE = {"core-finance": 1, "project-operations": 0, "standard": 0}
# Non-production is never louder than this: it notifies, it does not page.
NON_PRODUCTION_LOUDEST = 3
PAGING_SEVERITIES = (0, 1)


def severity(tier: Tier, criticality: Criticality, kind: Kind, in_business_window: bool = False) -> int:
    """Azure Monitor severity of an alert of `kind` for a unit of `criticality` on a `tier` stack.

    Inside a configured business window (month-end close, payroll) a business kind of a core-finance or
    project-operations unit in production is one step louder: a failed cron queue in core-finance production during the
    close is severity 0, a CPU spike in dev is 4.
    """
    if criticality not in _RAISE:
        raise ValueError(f"unknown criticality {criticality!r}; use one of {', '.join(CRITICALITIES)}")
    level = _BASE[kind]
    if kind in _BUSINESS_KINDS:
        level -= _RAISE[criticality]
        if in_business_window and criticality != "standard" and tier.is_production:
            level -= 1
    level = max(0, level)
    if not tier.is_production:
        # Two steps quieter and never paging: a broken dev environment is work for tomorrow.
        level = min(4, max(NON_PRODUCTION_LOUDEST, level + 2))
    return level


def pages(tier: Tier, level: int) -> bool:
    """Whether an alert of this severity wakes someone up: production severity 0-1 only."""
    return tier.is_production and level in PAGING_SEVERITIES


def severity_table() -> list[tuple[str, str, str, bool, int]]:
    """Every combination, for the README and the tests: (tier, criticality, kind, in window, severity)."""
    return [
        (tier.value, crit, kind.value, window, severity(tier, crit, kind, window))
        for tier in Tier
        for crit in CRITICALITIES
        for kind in Kind
        for window in (False, True)
    ]
