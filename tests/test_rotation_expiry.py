"""Every Key Vault secret the platform writes expires: first version at its stored write time + rotation + grace
(per kind, from config), the same in every preview; later versions are the rotation job's, so Pulumi ignores them.
Near expiry reaches the action groups."""
import datetime
import time

import pulumi
import pytest

from components.interfaces import key_vault_secret
from components.rotation import DAY_SECONDS, DEFAULT_GRACE_DAYS, SecretLifetime
from stacks.config import ConfigError, load_config
from tools.mocks import MOCK_NOW
from tools.recording import run_program

SECRET = "azure-native:keyvault:Secret"
WRITTEN = int(datetime.datetime.fromisoformat(MOCK_NOW.replace("Z", "+00:00")).timestamp())


# The platform's own kinds, with the lifetimes the shipped stacks get (config defaults: rotation + 35 days' grace).
PLATFORM_KINDS = {"tenant-db-password": 125, "postgres-admin-password": 125, "redis-access-key": 125, "odoo-admin-password": 215}


def test_every_secret_expires_after_its_kind_lifetime_from_a_stored_time(stack):
    secrets = stack.of_type(SECRET)
    kinds = {s.inputs["tags"]["odoo-platform/secret-kind"] for s in secrets}
    assert set(PLATFORM_KINDS) <= kinds
    for s in secrets:
        kind = s.inputs["tags"]["odoo-platform/secret-kind"]
        days = PLATFORM_KINDS.get(kind, int(s.inputs["tags"]["odoo-platform/rotation-days"]) + DEFAULT_GRACE_DAYS)
        expires = s.inputs["properties"]["attributes"]["expires"]
        assert expires == WRITTEN + days * DAY_SECONDS, f"{s.name} ({kind}): not the stored write time + its lifetime"
        assert s.ignore_changes == ["properties"], f"{s.name}: a Pulumi update would write its stale value over a rotated one"
    assert {s.name for s in secrets if s.inputs["tags"]["odoo-platform/secret-kind"] == "tenant-db-password"} == {
        f"kv-pg-{t}-password" for t in stack.outputs["tenantEnvironments"]
    }


def test_expiry_is_derived_from_state_not_the_clock(monkeypatch):
    """Two runs a year apart (by the process clock) give the same expiry: it comes from the time.Static in state."""

    def program():
        parent = pulumi.ComponentResource("test:index:Parent", "p")
        key_vault_secret("kv-x", "x", "value", "kv-test", "rg-test", parent, lifetime=SecretLifetime("tenant-db-password", 30, 31))

    first = run_program(program, "dev", {})
    real_time = datetime.datetime

    class Later(real_time):
        @classmethod
        def now(cls, tz=None):
            return real_time.now(tz) + datetime.timedelta(days=365)

    monkeypatch.setattr(datetime, "datetime", Later)
    clock = time.time
    monkeypatch.setattr(time, "time", lambda: clock() + 365 * DAY_SECONDS)
    second = run_program(program, "dev", {})
    expiries = [r.one(SECRET).inputs["properties"]["attributes"]["expires"] for r in (first, second)]
    assert expiries == [WRITTEN + 61 * DAY_SECONDS] * 2
    [static] = first.of_type("time:index/static:Static")
    assert static.inputs["triggers"] == {"secret": first.one(SECRET).inputs["secretName"]}, "a new secret (generation) gets a new write time"


def test_the_production_server_admin_password_is_left_to_rotation(prod):
    assert "administratorLoginPassword" in prod.one("azure-native:dbforpostgresql:Server", "psql").ignore_changes


def test_rotation_periods_come_from_config(dev_settings):
    dev_settings["secretRotation"] = {"tenantDbPasswordDays": 60, "graceDays": 40}
    rotation = load_config("dev", dev_settings).secret_rotation
    assert rotation.lifetime("tenant-db-password") == SecretLifetime("tenant-db-password", 60, 40)
    assert rotation.lifetime("redis-access-key") == SecretLifetime("redis-access-key", 90, 40)


def test_bad_rotation_settings_one_line_each(dev_settings):
    dev_settings["secretRotation"] = {"redisAccessKeyDays": 3, "graceDays": 20}
    with pytest.raises(ConfigError) as raised:
        load_config("dev", dev_settings)
    lines = [p for p in raised.value.problems if "secretRotation" in p]
    assert any(p.startswith("odoo-platform:secretRotation.redisAccessKeyDays = 3:") for p in lines), lines
    assert any(p.startswith("odoo-platform:secretRotation.graceDays = 20:") and "30" in p for p in lines), lines
    dev_settings["secretRotation"] = {"tenantDbPasswordDays": 40, "graceDays": 45}
    with pytest.raises(ConfigError) as raised:
        load_config("dev", dev_settings)
    assert raised.value.problems == ["odoo-platform:secretRotation.tenantDbPasswordDays = 40: must be longer than secretRotation.graceDays (45)"]


def test_near_expiry_and_expiry_reach_the_action_groups(stack):
    [topic] = stack.of_type("azure-native:eventgrid:SystemTopic")
    vault = stack.one("azure-native:keyvault:Vault")
    assert topic.inputs["topicType"] == "Microsoft.KeyVault.vaults"
    assert topic.inputs["source"].endswith(f"/vaults/{vault.inputs['vaultName']}")
    subscriptions = {s.inputs["filter"]["includedEventTypes"][0]: s.inputs for s in stack.of_type("azure-native:eventgrid:SystemTopicEventSubscription")}
    assert set(subscriptions) == {"Microsoft.KeyVault.SecretNearExpiry", "Microsoft.KeyVault.SecretExpired"}
    groups = {g.inputs["actionGroupName"] for g in stack.of_type("azure-native:monitor:ActionGroup")}
    for s in subscriptions.values():
        destination = s["destination"]
        assert destination["endpointType"] == "MonitorAlert"
        assert destination["severity"] in {f"Sev{i}" for i in range(5)}
        assert [g.rsplit("/", 1)[-1] for g in destination["actionGroups"]][0] in groups
