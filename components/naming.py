"""The one naming helper: every Azure name the platform creates comes from here.

Names follow the Cloud Adoption Framework abbreviations (`rg-`, `vnet-`, `kv-`, `st`, ...)
and are checked against Azure's length and character rules when they are made, so a
configuration that would produce a name Azure rejects fails before anything is created.
"""
import re
from dataclasses import dataclass

from .tier import tier_for_stack

# Azure regions the platform knows, with the short code used in names.
REGION_CODES: dict[str, str] = {
    "westeurope": "weu",
    "northeurope": "neu",
    "francecentral": "frc",
    "francesouth": "frs",
    "germanywestcentral": "gwc",
    "germanynorth": "gno",
    "swedencentral": "sdc",
    "swedensouth": "sds",
    "norwayeast": "nwe",
    "norwaywest": "nww",
    "switzerlandnorth": "szn",
    "switzerlandwest": "szw",
    "italynorth": "itn",
    "polandcentral": "plc",
    "spaincentral": "spc",
    "uksouth": "uks",
    "ukwest": "ukw",
    "eastus": "eus",
    "eastus2": "eus2",
    "centralus": "cus",
    "westus2": "wus2",
    "westus3": "wus3",
    "canadacentral": "cnc",
    "canadaeast": "cne",
    "australiaeast": "aue",
    "australiasoutheast": "ause",
}


class NameRuleError(ValueError):
    """A derived name that Azure would reject."""


# kind -> (min length, max length, allowed pattern, human rule)
_RULES: dict[str, tuple[int, int, str, str]] = {
    "resource_group": (1, 90, r"^[-\w._()]+[^.]$", "letters, digits, '-', '_', '.', '(' or ')'"),
    "generic": (1, 80, r"^[a-zA-Z0-9][-a-zA-Z0-9_.]*[a-zA-Z0-9_]$", "letters, digits, '-', '_' or '.'"),
    "key_vault": (3, 24, r"^[a-zA-Z](?!.*--)[-a-zA-Z0-9]*[a-zA-Z0-9]$", "letters, digits and single hyphens, starting with a letter"),
    "storage_account": (3, 24, r"^[a-z0-9]+$", "lowercase letters and digits only"),
    "log_analytics": (4, 63, r"^[a-zA-Z0-9][-a-zA-Z0-9]*[a-zA-Z0-9]$", "letters, digits and hyphens"),
    "aks": (1, 63, r"^[a-zA-Z0-9][-a-zA-Z0-9_]*[a-zA-Z0-9]$", "letters, digits, '-' and '_'"),
    "postgres": (3, 63, r"^[a-z0-9][-a-z0-9]*[a-z0-9]$", "lowercase letters, digits and hyphens"),
    "redis": (1, 60, r"^[a-zA-Z0-9](?!.*--)[-a-zA-Z0-9]*[a-zA-Z0-9]$", "letters, digits and single hyphens"),
    "container_registry": (5, 50, r"^[a-z0-9]+$", "lowercase letters and digits only"),
    "identity": (3, 128, r"^[a-zA-Z0-9][-a-zA-Z0-9_]*$", "letters, digits, '-' and '_'"),
}


def check_name(kind: str, name: str) -> str:
    low, high, pattern, rule = _RULES[kind]
    if not low <= len(name) <= high:
        raise NameRuleError(f"{kind.replace('_', ' ')} name {name!r} is {len(name)} characters; Azure allows {low}-{high}")
    if not re.match(pattern, name):
        raise NameRuleError(f"{kind.replace('_', ' ')} name {name!r} may contain only {rule}")
    return name


@dataclass(frozen=True)
class TenantNames:
    """Everything named after one tenant environment (unit x environment): never shared between two."""

    unit: str
    environment: str
    # Created and destroyed by CI for a branch; nothing in it is kept.
    ephemeral: bool = False

    @property
    def key(self) -> str:
        return f"{self.unit}-{self.environment}"

    @property
    def namespace(self) -> str:
        return f"odoo-{self.key}"

    @property
    def database(self) -> str:
        return f"odoo_{self.unit}_{self.environment}"

    @property
    def role(self) -> str:
        return self.database

    @property
    def container(self) -> str:
        return self.key

    @property
    def redis_prefix(self) -> str:
        return f"{self.key}:"

    def host(self, base_domain: str) -> str:
        return f"{self.environment}.{self.unit}.{base_domain}"


GENERATION_CHARS = 4


@dataclass(frozen=True)
class Naming:
    """Names for one stack in one region: `<abbr>-<org>-<stack>-<region>[-<purpose>]`."""

    org: str
    stack: str
    location: str

    @property
    def region(self) -> str:
        return REGION_CODES[self.location]

    @property
    def base(self) -> str:
        return f"{self.org}-{self.stack}-{self.region}"

    def for_region(self, location: str) -> "Naming":
        return Naming(self.org, self.stack, location)

    def resource_group(self, purpose: str) -> str:
        return check_name("resource_group", f"rg-{self.base}-{purpose}")

    def resource(self, abbr: str, purpose: str = "") -> str:
        """Names without tighter rules: vnet, snet, nsg, pep, id, ... ."""
        return check_name("generic", "-".join(p for p in (abbr, self.base, purpose) if p))

    def subnet(self, purpose: str) -> str:
        return check_name("generic", f"snet-{purpose}")

    def identity(self, purpose: str) -> str:
        return check_name("identity", f"id-{self.base}-{purpose}")

    def key_vault(self, generation: str = "") -> str:
        """`generation` (GENERATION_CHARS hex characters) tells rebuilt non-production vaults apart: a deleted vault's
        name stays taken for its soft-delete period."""
        return check_name("key_vault", "-".join(p for p in (f"kv-{self.base}", generation) if p))

    def log_analytics(self) -> str:
        return check_name("log_analytics", f"log-{self.base}")

    def storage_account(self, purpose: str = "") -> str:
        return check_name("storage_account", re.sub(r"[^a-z0-9]", "", f"st{self.org}{self.stack}{self.region}{purpose}"))

    def container_registry(self) -> str:
        return check_name("container_registry", re.sub(r"[^a-z0-9]", "", f"cr{self.org}{self.stack}{self.region}"))

    def aks(self) -> str:
        return check_name("aks", f"aks-{self.base}")

    def postgres(self) -> str:
        return check_name("postgres", f"psql-{self.base}")

    def redis(self) -> str:
        return check_name("redis", f"redis-{self.base}")

    def all_fixed_names(self) -> list[str]:
        """Every name whose length depends only on org, stack and region: checked with the config."""
        return [
            self.resource_group("network"),
            self.key_vault("" if tier_for_stack(self.stack).is_production else "0" * GENERATION_CHARS),
            self.log_analytics(),
            self.storage_account(),
            self.storage_account("bak"),
            self.container_registry(),
            self.aks(),
            self.postgres(),
            self.redis(),
        ]
