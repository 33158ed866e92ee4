"""The rotations, step by step, each step leaving a working service if the next one fails.

Tenant database password (two logins taking turns, credential.py):
  1. prepare  the idle login gets a new password on the server and is proven by logging in with it
  2. publish  `<idle login>:<new password>` becomes the secret's current version in Key Vault, with its expiry
  3. restart  the Deployments that read it at start roll (new pods mount the new version)
  4. drain    wait until no session of the old login is left (a transaction under way finishes first)
  5. retire   the old login loses its password; the version's tag records it
Until step 5 the old login works; from step 2 on, what Key Vault holds works too. The version published in step 2 is
tagged with the login it replaces, not yet retired: a run that stopped after step 2 (or 3, or 4) is finished by the
next one (`finish_pending`), which restarts the consumers again (so none still holds the old credential), drains
and retires.

Redis access key (Azure Managed Redis has two keys): the key Key Vault does not hold is written to Key Vault, the
consumers restart, then the key they stopped using is regenerated: until the regeneration both keys work.

PostgreSQL server admin password (only the bootstrap Jobs use it, each a short run): set on the server through ARM,
proven by logging in, then written to Key Vault; if that write fails, the server is set back to the old password.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ops.backup.errors import EXIT_FAILED, OpsError
from ops.backup.log import Log

from . import postgres
from .credential import Credential, is_due, new_password, other_login
from .rest import Arm, KeyVault, SecretVersion

Step = Callable[[str], None]  # called after each step with its name (tests inject failures there)


def _no_hook(_: str) -> None:
    return None


@dataclass(frozen=True)
class Schedule:
    lifetime_seconds: int  # rotation period + grace: the expiry of a new version
    grace_seconds: int
    force: bool = False

    def due(self, expires: Optional[int], now: float) -> bool:
        return self.force or is_due(expires, now, self.grace_seconds)


def rotate_tenant_password(
    server: postgres.Server, vault: KeyVault, secret: str, base_role: str, database: str, restart: Callable[[], None],
    schedule: Schedule, log: Log, drain_seconds: float = 600.0, poll_seconds: float = 2.0, after: Step = _no_hook,
) -> dict[str, Any]:
    current = vault.get(secret)
    active = Credential.parse(current.value, base_role)
    retired = finish_pending(server, vault, secret, current, restart, log, drain_seconds, poll_seconds)
    now = time.time()
    if not schedule.due(current.expires, now):
        return {"event": "rotate", "kind": "tenant-db-password", "secret": secret, "rotated": False, "login": active.login, "retired": retired, "expires": current.expires}
    new = Credential(other_login(base_role, active.login), new_password())
    postgres.prepare_login(server, base_role, new, database)
    log.info("prepared", secret=secret, login=new.login)
    after("prepare")
    version = vault.set(secret, new.text(), int(now) + schedule.lifetime_seconds, {PREVIOUS_LOGIN: active.login, PREVIOUS_RETIRED: "false"}, step="publish")
    log.info("published", secret=secret, login=new.login, version=version.version, expires=version.expires)
    after("publish")
    restart()
    log.info("restarted", secret=secret)
    after("restart")
    _drain(server, active.login, drain_seconds, poll_seconds)
    after("drain")
    _retire(server, vault, secret, version.version, active.login, log)
    return {"event": "rotate", "kind": "tenant-db-password", "secret": secret, "rotated": True, "login": new.login, "retired": active.login,
            "version": version.version, "expires": version.expires}


PREVIOUS_LOGIN, PREVIOUS_RETIRED = "previous-login", "previous-retired"


def finish_pending(server: postgres.Server, vault: KeyVault, secret: str, current: SecretVersion, restart: Callable[[], None], log: Log,
                   drain_seconds: float, poll_seconds: float) -> Optional[str]:
    """Finish a rotation an earlier run left after publishing: restart, drain and retire the login it replaced."""
    previous = current.tags.get(PREVIOUS_LOGIN)
    if not previous or current.tags.get(PREVIOUS_RETIRED) != "false":
        return None
    log.info("finishing", secret=secret, login=previous, reason="an earlier rotation stopped before retiring it")
    restart()
    _drain(server, previous, drain_seconds, poll_seconds)
    _retire(server, vault, secret, current.version, previous, log)
    return previous


def _retire(server: postgres.Server, vault: KeyVault, secret: str, version: str, login: str, log: Log) -> None:
    postgres.retire_login(server, login)
    vault.tag(secret, version, {PREVIOUS_LOGIN: login, PREVIOUS_RETIRED: "true"})
    log.info("retired", login=login)


def _drain(server: postgres.Server, login: str, seconds: float, poll_seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := postgres.sessions(server, login, step="drain")) > 0:
        if time.monotonic() > deadline:
            # Not a fault: the new login works and is published; the next run retires the old one once it is idle.
            raise OpsError("drain", f"{left} session(s) of {login} still open after {seconds:.0f}s; retired on a later run", obj=login,
                           target="database", exit_code=EXIT_FAILED)
        time.sleep(poll_seconds)


# Azure Managed Redis, API 2025-07-01 (the version pulumi-azure-native 3.29 uses for listDatabaseKeys):
# POST .../redisEnterprise/{cluster}/databases/{db}/listKeys -> {primaryKey, secondaryKey};
# POST .../regenerateKey {"keyType": "Primary"|"Secondary"} (learn.microsoft.com/rest/api/redis/redisenterprisecache/databases).
REDIS_API = "2025-07-01"


def rotate_redis_key(arm: Arm, database_id: str, vault: KeyVault, secret: str, restart: Callable[[], None], schedule: Schedule, log: Log,
                     after: Step = _no_hook) -> dict[str, Any]:
    current = vault.get(secret)
    if not schedule.due(current.expires, time.time()):
        return {"event": "rotate", "kind": "redis-access-key", "secret": secret, "rotated": False, "expires": current.expires}
    keys = arm.action("list-keys", database_id, "listKeys", REDIS_API)
    if current.value == keys["primaryKey"]:
        in_use, switch_to = "Primary", keys["secondaryKey"]
    elif current.value == keys["secondaryKey"]:
        in_use, switch_to = "Secondary", keys["primaryKey"]
    else:
        raise OpsError("list-keys", "Key Vault holds neither of the database's keys; run pulumi up or fix the secret by hand", obj=secret, target="redis")
    version = vault.set(secret, switch_to, int(time.time()) + schedule.lifetime_seconds, step="publish")
    log.info("published", secret=secret, key="Secondary" if in_use == "Primary" else "Primary", version=version.version)
    after("publish")
    restart()
    log.info("restarted", secret=secret)
    after("restart")
    arm.action("regenerate-key", database_id, "regenerateKey", REDIS_API, {"keyType": in_use})
    log.info("regenerated", key=in_use)
    return {"event": "rotate", "kind": "redis-access-key", "secret": secret, "rotated": True, "regenerated": in_use, "version": version.version,
            "expires": version.expires}


# PostgreSQL flexible server, API 2025-08-01 (pulumi-azure-native 3.29's): PATCH the server with
# {"properties": {"administratorLoginPassword": ...}} (learn.microsoft.com/rest/api/postgresql/servers/update).
POSTGRES_API = "2025-08-01"


def rotate_admin_password(arm: Arm, server_id: str, server: postgres.Server, vault: KeyVault, secret: str, schedule: Schedule, log: Log,
                          after: Step = _no_hook) -> dict[str, Any]:
    current = vault.get(secret)

    def set_password(password: str, step: str) -> None:
        arm.action(step, server_id, "", POSTGRES_API, {"properties": {"administratorLoginPassword": password}}, method="PATCH")

    repaired = _repair_admin_password(server, current.value, set_password, log)
    if not schedule.due(current.expires, time.time()):
        return {"event": "rotate", "kind": "postgres-admin-password", "secret": secret, "rotated": False, "repaired": repaired, "expires": current.expires}
    new = new_password()
    set_password(new, "set-admin-password")
    try:
        server.connect(server.admin, new, "postgres", "verify-admin-password").close()
        after("apply")
        version = vault.set(secret, new, int(time.time()) + schedule.lifetime_seconds, step="publish")
    except Exception:
        set_password(current.value, "restore-admin-password")
        log.warning("restored", secret=secret, reason="the new admin password was not published; the server has the old one again")
        raise
    log.info("published", secret=secret, version=version.version)
    return {"event": "rotate", "kind": "postgres-admin-password", "secret": secret, "rotated": True, "repaired": repaired, "version": version.version,
            "expires": version.expires}


def _repair_admin_password(server: postgres.Server, published: str, set_password: Callable[[str, str], None], log: Log) -> bool:
    """Key Vault's version is the one that counts. If the server refuses it, something set another password since
    (an update of the server through Pulumi may send the creation-time value again: pulumi-azure-native updates most
    resources with a PUT of every input, pulumi/pulumi-azure-native#3983), so the server gets Key Vault's back."""
    try:
        server.connect(server.admin, published, "postgres", "verify-published-admin-password").close()
        return False
    except OpsError as refused:
        if "authentication failed" not in str(refused):
            raise
        set_password(published, "repair-admin-password")
        server.connect(server.admin, published, "postgres", "verify-repaired-admin-password").close()
        log.warning("repaired", reason="the server refused the admin password Key Vault holds; it has it again")
        return True
