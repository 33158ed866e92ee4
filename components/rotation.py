"""How long a secret the platform writes lives: a rotation period per kind of secret, plus a grace period.

Key Vault marks a secret version with `attributes.expires` (seconds since the epoch; SecretAttributesArgs.expires);
Event Grid then emits Microsoft.KeyVault.SecretNearExpiry 30 days before and SecretExpired at that time
(learn.microsoft.com/azure/key-vault/general/event-grid-overview), which components/observability.py routes to the
stack's action group.

Who writes which version: Pulumi writes a secret's first version, with `expires` = the time it was written + rotation
period + grace. The time comes from a `time.Static` resource (pulumiverse-time): stored in state once, so a preview
run twice, or a year later, shows no change; `now()` at each run would. Every later version is written by the
rotation job (ops/rotate), which rotates a secret once it is within its grace period of expiry (or has no expiry,
the case of a secret written before expiries existed) and sets the next expiry the same way; so Pulumi ignores the
secret's `properties` after creation: an update of its own would write its stale value back as a new version.
"""
from dataclasses import dataclass

import pulumi
import pulumiverse_time as time

DAY_SECONDS = 86400

# The kinds of secret the platform writes, and their default rotation periods in days.
TENANT_DB_PASSWORD = "tenant-db-password"
POSTGRES_ADMIN_PASSWORD = "postgres-admin-password"
REDIS_ACCESS_KEY = "redis-access-key"
ODOO_ADMIN_PASSWORD = "odoo-admin-password"
DEFAULT_ROTATION_DAYS = {TENANT_DB_PASSWORD: 90, POSTGRES_ADMIN_PASSWORD: 90, REDIS_ACCESS_KEY: 90, ODOO_ADMIN_PASSWORD: 180}
# Time between a secret falling due and expiring: the rotation job runs daily, so many chances to rotate. Longer than
# the 30 days' notice of Key Vault's SecretNearExpiry event, so that event means a rotation was missed.
NEAR_EXPIRY_NOTICE_DAYS = 30
DEFAULT_GRACE_DAYS = 35


@dataclass(frozen=True)
class SecretLifetime:
    """A kind of secret, how often it rotates and how long after that its version still works."""

    kind: str
    rotation_days: int
    grace_days: int = DEFAULT_GRACE_DAYS

    @property
    def seconds(self) -> int:
        return (self.rotation_days + self.grace_days) * DAY_SECONDS


def default_lifetime(kind: str) -> SecretLifetime:
    return SecretLifetime(kind, DEFAULT_ROTATION_DAYS[kind])


def expires_at(name: str, secret_name: pulumi.Input[str], lifetime: SecretLifetime, parent: pulumi.Resource) -> pulumi.Output[int]:
    """When the first version of `secret_name` expires: its stored write time plus the lifetime (epoch seconds)."""
    written = time.Static(f"{name}-written", triggers={"secret": secret_name}, opts=pulumi.ResourceOptions(parent=parent))
    return written.unix.apply(lambda unix: int(unix) + lifetime.seconds)
