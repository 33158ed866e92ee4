"""The tenant database credential as Key Vault holds it, and when a secret version is due for rotation.

Two login roles take turns for each tenant environment: the tenant role itself (`odoo_gc_dev`, which owns the
database) and `<role>_b`, a member of it whose sessions act as it (`ALTER ROLE ... SET role`), so what either creates
belongs to the tenant role (tenant roles are `odoo_<unit>_<environment>`, slugs without `_`, so `<role>_b` is never another
tenant's role). The secret's value names the login: `<login>:<password>`. A value without `:` is the
first version Pulumi wrote (components/postgres.py): the password of the tenant role itself. Generated passwords
use letters, digits and `-_.~` only, so the first `:` always ends the login.
"""
from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Optional

SECOND_LOGIN_SUFFIX = "_b"
PASSWORD_ALPHABET = string.ascii_letters + string.digits + "-_.~"
PASSWORD_LENGTH = 32


@dataclass(frozen=True)
class Credential:
    login: str
    password: str

    @classmethod
    def parse(cls, value: str, base_role: str) -> "Credential":
        login, sep, password = value.partition(":")
        return cls(login, password) if sep else cls(base_role, value)

    def text(self) -> str:
        return f"{self.login}:{self.password}"

    def __repr__(self) -> str:  # never the password, in a log line or a traceback
        return f"Credential(login={self.login!r}, password=[secret])"


def other_login(base_role: str, login: str) -> str:
    """The login that takes over from `login`: the two alternate."""
    return base_role + SECOND_LOGIN_SUFFIX if login == base_role else base_role


def new_password(length: int = PASSWORD_LENGTH) -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def is_due(expires: Optional[int], now: float, grace_seconds: float) -> bool:
    """A version is due once it is within its grace period of expiry; one without expiry (written before expiries
    existed) is due at once."""
    return expires is None or now >= expires - grace_seconds
