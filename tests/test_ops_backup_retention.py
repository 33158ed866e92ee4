"""ops.backup without servers: the retention policy (hand-computed cases), manifests and set ids, drill scratch names,
the CLI's durations and its documentation (every flag and environment variable in ops/README.md)."""
from __future__ import annotations

import datetime
import os
import random
import re

import pytest

from ops.backup import cli, manifest
from ops.backup.drill import scratch_names
from ops.backup.retention import Policy, plan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UTC = datetime.timezone.utc


def at(y: int, m: int, d: int, h: int = 2) -> str:
    return manifest.set_id_for(datetime.datetime(y, m, d, h, tzinfo=UTC))


def daily(first: datetime.date, last: datetime.date, hour: int = 2) -> list[str]:
    return [manifest.set_id_for(datetime.datetime.combine(first + datetime.timedelta(days=i), datetime.time(hour), UTC))
            for i in range((last - first).days + 1)]


def kept(decisions: dict) -> list[str]:
    return sorted(s for s, d in decisions.items() if d["keep"])


NOW = datetime.datetime(2024, 12, 31, 12, tzinfo=UTC)
YEAR = daily(datetime.date(2024, 1, 1), datetime.date(2024, 12, 31))


def test_a_year_of_daily_sets_keeps_7_daily_4_weekly_12_monthly_1_yearly():
    decisions = plan({s: "good" for s in YEAR}, NOW, Policy())
    # daily Dec 25-31; ISO weeks 2025-W01 (Dec 30-31), W52 (Dec 23-29), W51, W50: newest of each; month ends; 2024
    expected = sorted([at(2024, 12, d) for d in range(25, 32)] + [at(2024, 12, 22), at(2024, 12, 15)]
                      + [at(2024, m, d) for m, d in ((1, 31), (2, 29), (3, 31), (4, 30), (5, 31), (6, 30), (7, 31), (8, 31), (9, 30), (10, 31), (11, 30))])
    assert kept(decisions) == expected
    assert decisions[at(2024, 12, 29)]["reasons"] == ["daily 2024-12-29", "weekly 2024-W52"]
    assert decisions[at(2024, 2, 29)]["reasons"] == ["monthly 2024-02"]
    assert decisions[at(2024, 12, 24)]["reasons"] == ["outside the retention policy"]


def test_the_policy_counts_periods_that_have_a_set_not_calendar_periods():
    # one set a month for three years, then nothing for 5 months: 7 daily = the 7 newest sets
    sets = [at(y, m, 1) for y in (2021, 2022, 2023) for m in range(1, 13)]
    decisions = plan({s: "good" for s in sets}, datetime.datetime(2024, 6, 1, tzinfo=UTC), Policy(daily=7, weekly=0, monthly=0, yearly=0))
    assert kept(decisions) == sorted(sets)[-7:]


def test_yearly_sets_reach_back_seven_years():
    sets = [at(y, 12, 31) for y in range(2010, 2025)]
    decisions = plan({s: "good" for s in sets}, NOW, Policy(daily=0, weekly=0, monthly=0, yearly=7))
    assert kept(decisions) == [at(y, 12, 31) for y in range(2018, 2025)]


def test_immutability_keeps_every_young_set_whatever_the_policy():
    decisions = plan({s: "good" for s in YEAR}, NOW, Policy(daily=1, weekly=0, monthly=0, yearly=0, immutability_days=10))
    # sets after Dec 21 12:00 are within 10 days of now
    assert kept(decisions) == [at(2024, 12, d) for d in range(22, 32)]
    assert decisions[at(2024, 12, 22)]["reasons"] == ["immutable until 2025-01-01T02:00:00.000Z"]


def test_the_last_good_set_survives_a_zero_policy_and_newer_broken_sets():
    sets = {at(2024, 11, 1): "good", at(2024, 11, 2): "good", at(2024, 12, 30): "damaged", at(2024, 12, 31): "incomplete"}
    decisions = plan(sets, NOW, Policy(daily=0, weekly=0, monthly=0, yearly=0, incomplete_grace_hours=1))
    assert kept(decisions) == [at(2024, 11, 2)]
    assert decisions[at(2024, 11, 2)]["reasons"] == ["last good set"]
    assert decisions[at(2024, 12, 30)]["reasons"] == ["damaged (manifest unreadable or objects missing)"]
    assert decisions[at(2024, 12, 31)]["reasons"] == ["incomplete (no manifest)"]


def test_damaged_and_incomplete_sets_take_no_retention_slot():
    sets = {s: "good" for s in daily(datetime.date(2024, 12, 20), datetime.date(2024, 12, 31))}
    sets[at(2024, 12, 31)] = "damaged"
    sets[at(2024, 12, 30)] = "incomplete"
    decisions = plan(sets, NOW, Policy(daily=3, weekly=0, monthly=0, yearly=0, incomplete_grace_hours=12))
    assert kept(decisions) == [at(2024, 12, 27), at(2024, 12, 28), at(2024, 12, 29)]


def test_a_running_backup_is_kept_within_the_grace_period():
    sets = {at(2024, 12, 30): "good", at(2024, 12, 31, 10): "incomplete"}
    decisions = plan(sets, NOW, Policy(incomplete_grace_hours=24))
    assert decisions[at(2024, 12, 31, 10)]["keep"]
    assert decisions[at(2024, 12, 31, 10)]["reasons"] == ["incomplete, within the grace period (a backup may be running)"]


def test_sets_newer_than_now_are_kept_and_not_counted():
    sets = {at(2024, 12, 30): "good", at(2025, 1, 5): "good"}
    decisions = plan(sets, NOW, Policy(daily=1, weekly=0, monthly=0, yearly=0))
    assert decisions[at(2025, 1, 5)]["reasons"] == ["newer than now"]
    assert decisions[at(2024, 12, 30)]["reasons"] == ["last good set", "daily 2024-12-30"]


def test_the_plan_does_not_depend_on_the_order_of_its_input():
    items = [(s, random.Random(i).choice(["good", "good", "good", "damaged", "incomplete"])) for i, s in enumerate(YEAR)]
    first = plan(dict(items), NOW, Policy(immutability_days=5))
    random.Random(1).shuffle(items)
    assert plan(dict(items), NOW, Policy(immutability_days=5)) == first


# --- manifests, set ids, names --------------------------------------------------------------------------------------
def test_set_ids_round_trip_and_sort_in_time_order():
    moment = datetime.datetime(2024, 3, 1, 23, 59, 58, 999, tzinfo=UTC)
    assert manifest.set_id_for(moment) == "20240301T235958Z"
    assert manifest.set_time("20240301T235958Z") == moment.replace(microsecond=0)
    assert sorted([at(2024, 10, 1), at(2024, 9, 30)]) == [at(2024, 9, 30), at(2024, 10, 1)]


@pytest.mark.parametrize("data, reason", [
    (b"not json", "not valid JSON"),
    (b'{"format": "something-else/1"}', "not a odoo-platform-backup/1 manifest"),
    (b'{"format": "odoo-platform-backup/1", "tenant": "b", "set_id": "20240101T000000Z", "objects": {"x": {"size": 1, "sha256": "ab"}}}', "tenant"),
    (b'{"format": "odoo-platform-backup/1", "tenant": "a", "set_id": "20240101T000000Z", "objects": {}}', "lists no objects"),
    (b'{"format": "odoo-platform-backup/1", "tenant": "a", "set_id": "20240101T000000Z", "objects": {"x": {"size": 1, "sha256": "ab"}}}', "no size or SHA-256"),
])
def test_a_bad_manifest_is_refused_with_its_reason(data, reason):
    with pytest.raises(ValueError, match=reason):
        manifest.decode(data, "a", "20240101T000000Z")


def test_scratch_names_are_valid_database_and_container_names():
    db, container = scratch_names("gc-dev_Unit-" + "x" * 80, datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))
    assert re.fullmatch(r"[a-z0-9_]{1,63}", db) and db.startswith("drill_gc_dev_unit_")
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}", container) and container.startswith("drill-gc-dev-unit-")


@pytest.mark.parametrize("text, seconds", [("3600", 3600), ("90s", 90), ("45m", 2700), ("26h", 93600), ("7d", 604800), ("1.5h", 5400)])
def test_durations(text, seconds):
    assert cli.duration(text) == seconds


def test_a_bad_duration_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["drill", "--tenant", "t", "--scratch-host", "h", "--scratch-user", "u", "--rpo-target", "soon"])
    assert exit_info.value.code == 2
    assert "a duration such as 3600, 90m, 26h or 7d" in capsys.readouterr().err


def test_environment_variables_fill_the_flags(monkeypatch):
    monkeypatch.setenv("BACKUP_TENANT", "gc-dev")
    monkeypatch.setenv("BACKUP_KEEP_MONTHLY", "24")
    monkeypatch.setenv("DRILL_RPO_TARGET", "26h")
    monkeypatch.setenv("DB_ENTRA_AUTH", "true")
    args = cli.parser().parse_args(["prune"])
    assert (args.tenant, args.keep_monthly, args.keep_daily) == ("gc-dev", 24, 7)
    drill = cli.parser().parse_args(["drill", "--scratch-host", "h", "--scratch-user", "u"])
    assert drill.rpo_target == 93600.0
    assert cli.parser().parse_args(["backup", "--db-host", "h", "--db-user", "u", "--db-name", "d"]).db_entra is True


def test_no_target_is_a_usage_error(monkeypatch, capsys):
    for name in ("BACKUP_AZURE_ACCOUNT_URL", "BACKUP_AZURE_CONNECTION_STRING", "OFFSITE_S3_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["verify", "--tenant", "gc-dev"]) == 2
    assert "no backup target" in capsys.readouterr().err


def test_the_readme_documents_every_flag_and_environment_variable():
    readme = open(os.path.join(ROOT, "ops", "README.md"), encoding="utf-8").read()
    parser = cli.parser()
    flags = set()
    subparsers: dict = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr,assignment]
    for sub in subparsers.values():
        for action in sub._actions:
            flags.update(o for o in action.option_strings if o.startswith("--") and o != "--help")
    missing = sorted(f for f in flags if f"`{f}`" not in readme)
    assert not missing, f"ops/README.md does not document {missing}"
    envs = sorted(set(cli.ENVIRONMENT.values()))
    assert not [e for e in envs if f"`{e}`" not in readme]
    assert len(flags) > 50
