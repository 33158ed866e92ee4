"""The typed, validated model of everything a stack can set.

`Pulumi.<stack>.yaml` -> `load_config(stack, raw)` -> `StackConfig`. Every rule that a
value can break lives here and reports one line per problem: the config key, the bad
value and the rule. Components never see raw configuration.
"""
import datetime
import ipaddress
import json
import re
import uuid
import zoneinfo
from typing import Annotated, Any, Literal, Mapping, Optional

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from components.capacity import CapacityError, check_capacity, pools_for_tier, postgres_max_connections
from components.naming import REGION_CODES, NameRuleError, Naming, TenantNames
from components.tier import Tier, tier_for_stack

from .sizing import PROFILES, SizingProfile, connection_demand, tenant_demand

PROJECT = "odoo-platform"

NON_PRODUCTION_ENVIRONMENTS = ("dev", "qa", "uat", "training")
PRODUCTION_ENVIRONMENTS = ("prod",)
REQUIRED_TAGS = ("owner", "cost-center", "data-classification")
DATA_CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")

# Smallest subnet each purpose may get (prefix length): AKS nodes need room to scale,
# and Azure requires at least a /28 for private endpoints and a delegated PostgreSQL subnet.
MIN_SUBNET_SIZE = {"aksSystem": 27, "aksUser": 24, "privateEndpoints": 28, "postgres": 28}
# Oldest Kubernetes minor version AKS still supports that the platform accepts.
MIN_KUBERNETES_MINOR = 32


class ConfigError(Exception):
    """Invalid stack configuration: one readable line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _rule(key: str, value: Any, rule: str) -> PydanticCustomError:
    """An error raised by a cross-field rule, naming the key (relative to where it runs) it is about."""
    return PydanticCustomError("config_rule", "{rule}", {"key": key, "value": value, "rule": rule})


def _slug(max_len: int):
    def check(value: str) -> str:
        if not re.fullmatch(rf"[a-z][a-z0-9]{{1,{max_len - 1}}}", value):
            raise ValueError(f"must be 2-{max_len} lowercase letters or digits, starting with a letter")
        return value

    return AfterValidator(check)


def _region(value: str) -> str:
    if value not in REGION_CODES:
        raise ValueError(f"unknown Azure region; use one of {', '.join(sorted(REGION_CODES))}")
    return value


def _network(value: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as e:
        raise ValueError(f"must be an IPv4 CIDR block such as 10.20.0.0/16 ({e})") from None


def _kubernetes_version(value: str) -> str:
    match = re.fullmatch(r"1\.(\d+)(\.\d+)?", value)
    if not match or int(match.group(1)) < MIN_KUBERNETES_MINOR:
        raise ValueError(f"must be a supported AKS version 1.{MIN_KUBERNETES_MINOR} or newer, as 1.<minor> or 1.<minor>.<patch>")
    return value


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be an Entra ID object id (a GUID)") from None


def _pattern(regex: str, rule: str):
    def check(value: str) -> str:
        if not re.fullmatch(regex, value):
            raise ValueError(rule)
        return value

    return AfterValidator(check)


def _image_digest(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9./_-]*(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}", value):
        raise ValueError("must be an image pinned by digest: <registry>/<repository>@sha256:<64 hex digits>")
    return value


def _domain(value: str) -> str:
    if len(value) > 200 or not re.fullmatch(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", value):
        raise ValueError("must be a lowercase DNS domain such as erp.example.com")
    return value


Region = Annotated[str, AfterValidator(_region)]
ImageDigest = Annotated[str, AfterValidator(_image_digest)]
Cidr = Annotated[str, AfterValidator(lambda v: str(_network(v)))]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Subnets(_Model):
    aks_system: Cidr
    aks_user: Cidr
    private_endpoints: Cidr
    postgres: Cidr


class Network(_Model):
    address_space: Cidr
    subnets: Subnets

    @model_validator(mode="after")
    def _subnet_plan(self) -> "Network":
        space = _network(self.address_space)
        seen: list[tuple[str, ipaddress.IPv4Network]] = []
        for key, cidr in self.subnets.model_dump(by_alias=True).items():
            net = _network(cidr)
            if not net.subnet_of(space):
                raise _rule(f"subnets.{key}", cidr, f"lies outside addressSpace {space}")
            if net.prefixlen > MIN_SUBNET_SIZE[key]:
                raise _rule(f"subnets.{key}", cidr, f"is too small; {key} needs at least a /{MIN_SUBNET_SIZE[key]}")
            for other_key, other in seen:
                if net.overlaps(other):
                    raise _rule(f"subnets.{key}", cidr, f"overlaps subnets.{other_key} ({other}); subnets must not overlap")
            seen.append((key, net))
        return self


class DrNetwork(_Model):
    """The disaster-recovery region's network for a warm standby: address space and delegated PostgreSQL subnet."""

    address_space: Cidr
    postgres_subnet: Cidr

    @model_validator(mode="after")
    def _inside(self) -> "DrNetwork":
        subnet, space = _network(self.postgres_subnet), _network(self.address_space)
        if not subnet.subnet_of(space):
            raise _rule("postgresSubnet", self.postgres_subnet, f"lies outside addressSpace {space}")
        if subnet.prefixlen > MIN_SUBNET_SIZE["postgres"]:
            raise _rule("postgresSubnet", self.postgres_subnet, f"is too small; PostgreSQL needs at least a /{MIN_SUBNET_SIZE['postgres']}")
        return self


_TAG_KEY = re.compile(r"^[^<>%&\\?/]{1,512}$")


class Tags(_Model):
    """Governance tags. Required ones are typed; any other key is passed through as is."""

    model_config = ConfigDict(extra="allow", frozen=True)

    owner: str = Field(min_length=3, max_length=256)
    cost_center: str = Field(alias="cost-center", min_length=1, max_length=256)
    data_classification: Literal["public", "internal", "confidential", "restricted"] = Field(alias="data-classification")

    @model_validator(mode="after")
    def _extra_tags(self) -> "Tags":
        for key, value in (self.model_extra or {}).items():
            if not _TAG_KEY.match(key):
                raise _rule(key, value, "tag names must be 1-512 characters without < > % & \\ ? /")
            if not isinstance(value, str) or len(value) > 256:
                raise _rule(key, value, "tag values must be strings of at most 256 characters")
        return self

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.model_dump(by_alias=True).items()}


class DateSpan(_Model):
    start: datetime.date
    end: datetime.date

    @model_validator(mode="after")
    def _ordered(self) -> "DateSpan":
        if self.end < self.start:
            raise _rule("end", str(self.end), f"ends before its start {self.start}")
        return self


class Maintenance(_Model):
    """When AKS may upgrade the cluster and its node images: weekly, outside business-critical dates."""

    day_of_week: Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"] = "Sunday"
    start_time: Annotated[str, _pattern(r"([01]\d|2[0-3]):[0-5]\d", "must be a 24-hour time HH:MM")] = "01:00"
    duration_hours: int = Field(default=4, ge=4, le=24)
    utc_offset: Annotated[str, _pattern(r"[+-](0\d|1[0-4]):[0-5]\d", "must be an offset such as +01:00")] = "+00:00"
    not_allowed_dates: list[DateSpan] = Field(default_factory=list)


class Environment(_Model):
    """One environment of a unit. Ephemeral ones (any name, non-production) are created and destroyed by CI for a branch."""

    name: Annotated[str, _slug(10)]
    ephemeral: bool = False


def _environment_entry(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class Unit(_Model):
    """A business unit (a tenant) and the environments it runs."""

    name: Annotated[str, _slug(8)]
    display_name: str = Field(min_length=1, max_length=64)
    environments: list[Annotated[Environment, BeforeValidator(_environment_entry)]] = Field(min_length=1)


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as Europe/Berlin") from None
    return value


class OffHours(_Model):
    """Non-production cost control: outside working hours Odoo scales to zero, and with it the user node pools."""

    enabled: bool = False
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    start: Annotated[str, _pattern(r"([01]\d|2[0-3]):[0-5]\d", "must be a 24-hour time HH:MM")] = "06:30"
    end: Annotated[str, _pattern(r"([01]\d|2[0-3]):[0-5]\d", "must be a 24-hour time HH:MM")] = "20:00"
    days: Annotated[str, _pattern(r"[0-6](-[0-6])?(,[0-6](-[0-6])?)*", "must be cron days of the week such as 1-5 (0 is Sunday)")] = "1-5"


class StackConfig(_Model):
    """Everything a stack can set. `stack` and `tier` are derived, not configured."""

    stack: str
    org: Annotated[str, _slug(6)]
    location: Region
    dr_location: Optional[Region] = None
    tenancy: Literal["multi-tenant", "dedicated"]
    sizing: Literal["small", "medium", "large", "xlarge"]
    network: Network
    admin_cidrs: list[Cidr] = Field(default_factory=list)
    ingress_internal: bool = False
    kubernetes_version: Annotated[str, AfterValidator(_kubernetes_version)] = "1.34"
    entra_admin_group_id: Annotated[str, AfterValidator(_uuid)]
    entra_admin_group_name: str = Field(default="odoo-platform-admins", min_length=1, max_length=256)
    postgres_version: Literal["16", "17", "18"] = "16"
    backup_immutability_days: int = Field(default=2555, ge=1, le=146000)
    base_domain: Annotated[str, AfterValidator(_domain)]
    odoo_image: ImageDigest
    postgres_client_image: ImageDigest
    tls_certificate_name: Annotated[str, _pattern(r"[0-9a-zA-Z-]{1,127}", "must be a Key Vault object name (letters, digits, hyphens)")] = "odoo-platform-tls"
    trusted_proxy_cidrs: list[Cidr] = Field(default_factory=list)
    maintenance: Maintenance = Field(default_factory=Maintenance)
    off_hours: OffHours = Field(default_factory=OffHours)
    dr_mode: Literal["backups", "warm-standby"] = "backups"
    dr_network: Optional[DrNetwork] = None
    tags: Tags
    units: list[Unit] = Field(min_length=1)

    @property
    def tier(self) -> Tier:
        return tier_for_stack(self.stack)

    @property
    def naming(self) -> Naming:
        return Naming(self.org, self.stack, self.location)

    @property
    def profile(self) -> SizingProfile:
        return PROFILES[self.sizing]

    @property
    def tenants(self) -> list[TenantNames]:
        """Every tenant environment (unit x environment) the stack runs."""
        return [TenantNames(unit.name, env.name, env.ephemeral) for unit in self.units for env in unit.environments]

    @model_validator(mode="after")
    def _stack_rules(self) -> "StackConfig":
        production = self.tier.is_production
        if production and self.tenancy != "dedicated":
            raise _rule("tenancy", self.tenancy, "production stacks are dedicated to one business unit; use 'dedicated'")
        if self.tenancy == "dedicated" and len(self.units) != 1:
            raise _rule("units", [u.name for u in self.units], "a dedicated stack serves exactly one business unit")
        if self.stack.startswith("prod-") and self.units[0].name != self.stack.removeprefix("prod-"):
            raise _rule("units[0].name", self.units[0].name, f"stack {self.stack!r} is dedicated to unit {self.stack.removeprefix('prod-')!r}")
        if production and self.sizing not in ("medium", "large"):
            raise _rule("sizing", self.sizing, "production needs medium or large (General Purpose PostgreSQL, no burstable compute, several web pods)")
        if production and self.dr_location is None:
            raise _rule("drLocation", None, "production stacks need a disaster-recovery region")
        if not self.admin_cidrs:
            raise _rule("adminCidrs", [], "the API server (non-production), Key Vault firewall and Odoo's database manager admit only these CIDRs; an empty list would leave them open or unusable")
        if self.dr_location is not None and self.dr_location == self.location:
            raise _rule("drLocation", self.dr_location, "must differ from location")
        allowed = PRODUCTION_ENVIRONMENTS if production else NON_PRODUCTION_ENVIRONMENTS
        seen: set[str] = set()
        for i, unit in enumerate(self.units):
            if unit.name in seen:
                raise _rule(f"units[{i}].name", unit.name, "duplicate business unit; each unit appears once")
            seen.add(unit.name)
            names = [env.name for env in unit.environments]
            for j, env in enumerate(unit.environments):
                if env.ephemeral and production:
                    raise _rule(f"units[{i}].environments[{j}].ephemeral", True, "production environments are never ephemeral")
                if env.name not in allowed and not env.ephemeral:
                    rule = f"a {self.tier.value} stack runs only {', '.join(allowed)}" + ("" if production else " (other names must be ephemeral: true)")
                    raise _rule(f"units[{i}].environments[{j}]", env.name, rule)
                if names.index(env.name) != j:
                    raise _rule(f"units[{i}].environments[{j}]", env.name, f"duplicate environment for unit {unit.name}")
        if self.dr_mode == "warm-standby":
            if self.dr_location is None or self.dr_network is None:
                raise _rule("drNetwork", None, "a warm standby needs drLocation and drNetwork (addressSpace, postgresSubnet)")
            if _network(self.dr_network.address_space).overlaps(_network(self.network.address_space)):
                raise _rule("drNetwork.addressSpace", self.dr_network.address_space, f"overlaps network.addressSpace {self.network.address_space}")
        if production and self.off_hours.enabled:
            raise _rule("offHours.enabled", True, "production never scales to zero; off-hours scaling is for non-production")
        if self.off_hours.start >= self.off_hours.end:
            raise _rule("offHours.end", self.off_hours.end, f"working hours must end after they start ({self.off_hours.start})")
        for location in filter(None, (self.location, self.dr_location)):
            try:
                self.naming.for_region(location).all_fixed_names()
            except NameRuleError as e:
                raise _rule("org", self.org, f"with stack {self.stack!r}: {e}") from None
        return self


def _config_key(loc: tuple, extra_key: Optional[str] = None) -> str:
    parts = [str(p) for p in loc if p != "stack"]
    if extra_key:
        parts.append(extra_key)
    key = ""
    for p in parts:
        if p.isdigit():
            key += f"[{p}]"
        else:
            key += ("." if key else "") + p
    return f"{PROJECT}:{key}" if key else PROJECT


def _problem(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    if error["type"] == "config_rule":
        key, value, rule = _config_key(error["loc"], ctx["key"]), ctx["value"], ctx["rule"]
    else:
        key, value = _config_key(error["loc"]), error.get("input")
        rule = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            return f"{key}: is required but not set"
        if error["type"] == "extra_forbidden":
            return f"{key}: unknown setting (check the spelling against Pulumi.yaml)"
    return f"{key} = {json.dumps(value, default=str)}: {rule}"


def load_config(stack: str, raw: Mapping[str, Any]) -> StackConfig:
    """Validate raw settings (keys without the project prefix) into a StackConfig, or raise ConfigError."""
    settings = {k: v for k, v in raw.items() if v != "" and v != {}}  # Pulumi.yaml's defaults for "not set"
    try:
        cfg = StackConfig.model_validate({**settings, "stack": stack})
    except ValidationError as e:
        raise ConfigError([_problem(err) for err in e.errors()]) from None
    _check_capacity(cfg)
    return cfg


def _check_capacity(cfg: StackConfig) -> None:
    """The tenant plan must fit the node pools at their maximum size."""
    _, pools = pools_for_tier(cfg.tier, cfg.profile.system_pool, cfg.profile.user_pools)
    tenants = [t.key for t in cfg.tenants]
    try:
        check_capacity(pools, tenant_demand(tenants, cfg.profile.odoo))
        postgres_max_connections(cfg.profile.postgres.sku, connection_demand(tenants, cfg.profile.odoo))
    except CapacityError as e:
        raise ConfigError([f"{PROJECT}:sizing = {json.dumps(cfg.sizing)}: {e}"]) from None


def raw_from_stack_file(document: Mapping[str, Any]) -> dict[str, Any]:
    """The project's settings from a parsed `Pulumi.<stack>.yaml` (`config:` with `odoo-platform:` keys)."""
    settings = (document or {}).get("config") or {}
    raw: dict[str, Any] = {}
    for key, value in settings.items():
        namespace, _, name = key.partition(":")
        if namespace == PROJECT:
            raw[name] = value
    return raw


def setting_names() -> list[str]:
    """The configuration keys a stack may set (aliases as written in YAML)."""
    return [f.alias or name for name, f in StackConfig.model_fields.items() if name != "stack"]
