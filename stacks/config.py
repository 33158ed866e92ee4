"""The typed, validated model of everything a stack can set.

`Pulumi.<stack>.yaml` -> `load_config(stack, raw)` -> `StackConfig`. Every rule that a
value can break lives here and reports one line per problem: the config key, the bad
value and the rule. Components never see raw configuration.
"""
import datetime
import ipaddress
import json
import os
import re
import uuid
import zoneinfo
from typing import Annotated, Any, Iterable, Iterator, Literal, Mapping, NamedTuple, Optional, get_args, get_origin

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from components.capacity import CapacityError, check_capacity, pools_for_tier, postgres_max_connections
from components.naming import REGION_CODES, NameRuleError, Naming, TenantNames
from components.rotation import (
    DEFAULT_GRACE_DAYS, DEFAULT_ROTATION_DAYS, NEAR_EXPIRY_NOTICE_DAYS, ODOO_ADMIN_PASSWORD, POSTGRES_ADMIN_PASSWORD, REDIS_ACCESS_KEY, TENANT_DB_PASSWORD, SecretLifetime,
)
from components.severity import CRITICALITIES, Criticality
from components.tagging import platform_tags
from components.tier import Tier, tier_for_stack
from components.traefik import LATENCY_BUCKETS

from .sizing import PROFILES, SizingProfile, connection_demand, tenant_demand

PROJECT = "odoo-platform"

NON_PRODUCTION_ENVIRONMENTS = ("dev", "qa", "uat", "training")
PRODUCTION_ENVIRONMENTS = ("prod",)
REQUIRED_TAGS = ("owner", "cost-center", "data-classification")
DATA_CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")

# Smallest subnet each purpose may get (prefix length): AKS nodes need room to scale,
# and Azure requires at least a /28 for private endpoints and a delegated PostgreSQL subnet.
MIN_SUBNET_SIZE = {"aksSystem": 27, "aksUser": 24, "privateEndpoints": 28, "postgres": 28, "runners": 28}
# Kubernetes minors the platform accepts: AKS's supported versions, from
# https://learn.microsoft.com/azure/aks/supported-kubernetes-versions (the "AKS Kubernetes release
# calendar"). Bump both when AKS releases a minor or retires one; nothing else checks it.
MIN_KUBERNETES_MINOR = 32
MAX_KUBERNETES_MINOR = 35

# What the policy pack refuses, refused here once and up front instead of as one mandatory violation
# per resource. Copies of the pack's defaults (policies/rules/governance.py DEFAULT_REGIONS minus
# "global", policies/rules/aks.py minPrefixLength): importing them would pull pulumi_policy into the
# program; tests/test_config.py asserts they are equal.
ALLOWED_REGIONS = ("westeurope", "northeurope", "swedencentral", "germanywestcentral", "francecentral")
ADMIN_CIDR_MIN_PREFIX = 16

# Azure: at most 50 tag name/value pairs per resource; names up to 128 characters on storage accounts
# (512 elsewhere; every resource gets the same tags), values up to 256. Names are case-insensitive.
MAX_TAGS = 50
MAX_TAG_NAME = 128
MAX_TAG_VALUE = 256
PLATFORM_TAGS = tuple(platform_tags({}, Tier.NON_PRODUCTION, "stack"))  # the tags the platform adds itself
# Tags are readable by anyone with Reader on the resource: a name like these invites a secret as its value.
_SECRET_WORDS = {"password", "passwd", "pwd", "secret", "secrets", "token", "tokens", "key", "apikey", "connectionstring"}

# PostgreSQL identifiers are at most NAMEDATALEN-1 = 63 bytes; the Entra admin group becomes a role of that name.
MAX_POSTGRES_ROLE_BYTES = 63

# Odoo majors whose modules the platform needs exist upstream: camptocamp/odoo-cloud-platform ships
# session_redis and attachment_azure on its 16.0 and 17.0 branches and has no 18.0 branch.
ODOO_VERSIONS = ("16.0", "17.0")

# Settings that no longer exist, and what to do instead.
REMOVED_SETTINGS = {
    "tlsCertificateName": "tlsCertificateName was removed: certificates are issued by cert-manager through the stack's DNS zone; delete the setting",
}

# Longest value (as JSON) a message line shows before it is shortened.
MAX_SHOWN = 160


class ConfigError(Exception):
    """Invalid stack configuration: one readable line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class Problem(NamedTuple):
    """A broken rule: the key (relative to where the rule runs), the value as given, the rule."""

    key: str
    value: Any
    rule: str


def _rule(key: str, value: Any, rule: str) -> Problem:
    return Problem(key, value, rule)


def _broken(problems: Iterable[Problem]) -> PydanticCustomError:
    """Every broken rule of one validator as one pydantic error; `_problem` turns it back into one line each."""
    found = list(problems)
    return PydanticCustomError("config_rules", "{summary}", {"problems": found, "summary": "; ".join(p.rule for p in found)})


def _slug(max_len: int):
    def check(value: str) -> str:
        if not re.fullmatch(rf"[a-z][a-z0-9]{{1,{max_len - 1}}}", value):
            raise ValueError(f"must be 2-{max_len} lowercase letters or digits, starting with a letter")
        return value

    return AfterValidator(check)


def _region(value: str) -> str:
    if value not in REGION_CODES:
        raise ValueError(f"unknown Azure region; use one of {', '.join(ALLOWED_REGIONS)}")
    if value not in ALLOWED_REGIONS:
        # The pack's allowed-regions rule, in its words.
        raise ValueError(f"is not an allowed region ({', '.join(ALLOWED_REGIONS)}); the policy pack (allowed-regions) refuses every resource elsewhere")
    return value


def _network(value: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as e:
        raise ValueError(f"must be an IPv4 CIDR block such as 10.20.0.0/16 ({e})") from None


def _admin_cidr(value: str) -> str:
    net = _network(value)
    if net.prefixlen < ADMIN_CIDR_MIN_PREFIX:
        # The pack's aks-api-server-restricted rule ("authorizedIPRanges [...] are too wide").
        raise ValueError(
            f"is too wide; admin CIDRs must be /{ADMIN_CIDR_MIN_PREFIX} or narrower (the policy pack's aks-api-server-restricted refuses wider ones)"
        )
    return str(net)


def _kubernetes_version(value: str) -> str:
    match = re.fullmatch(r"1\.(\d+)(\.\d+)?", value)
    if not match or not MIN_KUBERNETES_MINOR <= int(match.group(1)) <= MAX_KUBERNETES_MINOR:
        raise ValueError(
            f"must be a supported AKS version 1.{MIN_KUBERNETES_MINOR} to 1.{MAX_KUBERNETES_MINOR}, as 1.<minor> or 1.<minor>.<patch>"
        )
    return value


def _text_of_number(value: Any) -> Any:
    """A version written unquoted in a hand-made settings dict (17.0, 16) is still meant as text."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _odoo_version(value: str) -> str:
    if value not in ODOO_VERSIONS:
        raise ValueError(
            f"must be {' or '.join(ODOO_VERSIONS)}: the platform needs session_redis and attachment_azure from "
            "camptocamp/odoo-cloud-platform, which has branches 16.0 and 17.0 only (no 18.0)"
        )
    return value


def _postgres_role_name(value: str) -> str:
    if len(value.encode("utf-8")) > MAX_POSTGRES_ROLE_BYTES:
        raise ValueError(
            f"is {len(value.encode('utf-8'))} bytes; PostgreSQL role names are at most {MAX_POSTGRES_ROLE_BYTES} bytes and the Entra admin group becomes one"
        )
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


_IMAGE = re.compile(
    r"(?:(?P<registry>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+(?::\d+)?)/)?"
    r"(?P<repository>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?@sha256:(?P<digest>[0-9a-f]{64})"
)


class ImageRef(NamedTuple):
    """An image setting, split: `registry` is None for the platform's own registry; `reference` is `<repository>[:<tag>]@sha256:<digest>`."""

    registry: Optional[str]
    reference: str
    tag: Optional[str]

    def qualified(self, platform_registry: str) -> str:
        """The full image name, the platform's registry server filled in where none was given."""
        return f"{self.registry or platform_registry}/{self.reference}"

    @property
    def repository(self) -> str:
        """`<repository>`, without tag or digest: where a release's image must come from."""
        name = self.reference.split("@", 1)[0]
        return name[: -len(self.tag) - 1] if self.tag else name


def parse_image(value: str) -> ImageRef:
    match = _IMAGE.fullmatch(value)
    if not match:
        raise ValueError(f"{value!r} is not an image reference pinned by digest")
    reference = value[match.start("repository"):]
    return ImageRef(match.group("registry"), reference, match.group("tag"))


def _image_digest(value: str) -> str:
    if not _IMAGE.fullmatch(value):
        raise ValueError("must be an image pinned by digest: [<registry>/]<repository>[:<tag>]@sha256:<64 hex digits>")
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
    runners: Optional[Cidr] = None  # the deployment runner's (required in production: private API server and Key Vault)


class Network(_Model):
    address_space: Cidr
    subnets: Subnets

    @model_validator(mode="after")
    def _subnet_plan(self) -> "Network":
        space = _network(self.address_space)
        found: list[Problem] = []
        seen: list[tuple[str, ipaddress.IPv4Network]] = []
        for key, cidr in self.subnets.model_dump(by_alias=True).items():
            if cidr is None:
                continue
            net = _network(cidr)
            if not net.subnet_of(space):
                found.append(_rule(f"subnets.{key}", cidr, f"lies outside addressSpace {space}"))
            if net.prefixlen > MIN_SUBNET_SIZE[key]:
                found.append(_rule(f"subnets.{key}", cidr, f"is too small; {key} needs at least a /{MIN_SUBNET_SIZE[key]}"))
            for other_key, other in seen:
                if net.overlaps(other):
                    found.append(_rule(f"subnets.{key}", cidr, f"overlaps subnets.{other_key} ({other}); subnets must not overlap"))
            seen.append((key, net))
        if found:
            raise _broken(found)
        return self


class DrNetwork(_Model):
    """The disaster-recovery region's network for a warm standby: address space and delegated PostgreSQL subnet."""

    address_space: Cidr
    postgres_subnet: Cidr

    @model_validator(mode="after")
    def _inside(self) -> "DrNetwork":
        subnet, space = _network(self.postgres_subnet), _network(self.address_space)
        found: list[Problem] = []
        if not subnet.subnet_of(space):
            found.append(_rule("postgresSubnet", self.postgres_subnet, f"lies outside addressSpace {space}"))
        if subnet.prefixlen > MIN_SUBNET_SIZE["postgres"]:
            found.append(_rule("postgresSubnet", self.postgres_subnet, f"is too small; PostgreSQL needs at least a /{MIN_SUBNET_SIZE['postgres']}"))
        if found:
            raise _broken(found)
        return self


_TAG_KEY = re.compile(rf"^[^<>%&\\?/]{{1,{MAX_TAG_NAME}}}$")


def _looks_secret(name: str) -> bool:
    """`db-password`, `apiKey`, `SECRET_TOKEN`, `ConnectionString`; not `keyboard` or `monkey` (`key` counts only as a word)."""
    words = [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)]
    joined = "".join(words)
    return any(w in _SECRET_WORDS for w in words) or any(s in joined for s in ("password", "passwd", "secret", "token", "connectionstring"))


class Tags(_Model):
    """Governance tags. Required ones are typed; any other key is passed through as is."""

    model_config = ConfigDict(extra="allow", frozen=True)

    owner: str = Field(min_length=3, max_length=MAX_TAG_VALUE)
    cost_center: str = Field(alias="cost-center", min_length=1, max_length=MAX_TAG_VALUE)
    data_classification: Literal["public", "internal", "confidential", "restricted"] = Field(alias="data-classification")

    @model_validator(mode="after")
    def _extra_tags(self) -> "Tags":
        found: list[Problem] = []
        extra = self.model_extra or {}
        for key, value in extra.items():
            key = str(key)
            if not _TAG_KEY.match(key):
                found.append(_rule(key, value, f"tag names must be 1-{MAX_TAG_NAME} characters without < > % & \\ ? /"))
            if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
                found.append(_rule(key, value, f"tag values must be strings of at most {MAX_TAG_VALUE} characters"))
            if _looks_secret(key):
                found.append(_rule(key, value, "tag names must not suggest a secret (password, secret, token, key, pwd, connection string): anyone with Reader on a resource reads its tags"))
        names = [str(k) for k in self.model_dump(by_alias=True)]
        platform = {t.lower(): t for t in PLATFORM_TAGS}
        seen: dict[str, str] = {}
        for key in names:
            folded = key.lower()
            if folded in platform:
                same = "is" if key == platform[folded] else f"differs only by case from the tag {platform[folded]!r}"
                found.append(_rule(key, extra.get(key), f"{same} set by the platform ({', '.join(PLATFORM_TAGS)}); Azure tag names are case-insensitive: remove it"))
            elif folded in seen:
                found.append(_rule(key, extra.get(key), f"differs only by case from the tag {seen[folded]!r}; Azure tag names are case-insensitive: keep one"))
            else:
                seen[folded] = key
        total = len(names) + len(PLATFORM_TAGS)
        if total > MAX_TAGS:
            found.append(_rule(
                "", names,
                f"{len(names)} tags and the platform's {len(PLATFORM_TAGS)} ({', '.join(PLATFORM_TAGS)}) make {total}; Azure allows {MAX_TAGS} per resource",
            ))
        if found:
            raise _broken(found)
        return self

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.model_dump(by_alias=True).items()}


class DateSpan(_Model):
    start: datetime.date
    end: datetime.date

    @model_validator(mode="after")
    def _ordered(self) -> "DateSpan":
        if self.end < self.start:
            raise _broken([_rule("end", str(self.end), f"ends before its start {self.start}")])
        return self


class Maintenance(_Model):
    """When AKS may upgrade the cluster and its node images: weekly, outside business-critical dates."""

    day_of_week: Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"] = "Sunday"
    start_time: Annotated[str, _pattern(r"([01]\d|2[0-3]):[0-5]\d", "must be a 24-hour time HH:MM")] = "01:00"
    duration_hours: int = Field(default=4, ge=4, le=24)
    utc_offset: Annotated[str, _pattern(r"[+-](0\d|1[0-4]):[0-5]\d", "must be an offset such as +01:00")] = "+00:00"
    not_allowed_dates: list[DateSpan] = Field(default_factory=list)


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))


def _cron(value: str) -> str:
    """A five-field cron expression (UTC) as Kubernetes CronJobs take it: numbers, *, ranges, steps and lists, each in range."""
    fields = value.split()
    if len(fields) != 5:
        raise ValueError("must be a five-field cron expression (minute hour day-of-month month day-of-week, UTC)")
    for text, (what, low, high) in zip(fields, _CRON_FIELDS):
        for part in text.split(","):
            match = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
            numbers = [int(n) for n in match.groups()[1:3] if n is not None] if match else []
            if not match or any(not low <= n <= high for n in numbers) or (len(numbers) == 2 and numbers[0] > numbers[1]) or match.group(4) == "0":
                raise ValueError(f"{what} field {text!r} is not valid cron ({low}-{high}, *, a-b, /step, lists)")
    return value


def masking_profiles() -> list[str]:
    """The masking profiles ops/refresh ships (ops/refresh/profiles/<name>.yaml; a custom one is added there, as data)."""
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ops", "refresh", "profiles")
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml")) if os.path.isdir(folder) else []


class Refresh(_Model):
    """A non-production environment refreshed from its unit's production: a neutralised, masked copy (ops/refresh)."""

    source: Annotated[str, _pattern(r"[a-z][a-z0-9-]{1,20}", "must name a production stack (prod, prod-<unit>) or a unit")] = Field(alias="from")
    schedule: str  # checked with the other refresh rules (_refresh_rules), so every problem is reported at once
    masking: str = "odoo-construction"


class Environment(_Model):
    """One environment of a unit. Ephemeral ones (any name, non-production) are created and destroyed by CI for a branch."""

    name: Annotated[str, _slug(10)]
    ephemeral: bool = False
    refresh: Optional[Refresh] = None


def _environment_entry(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


def _criticality(value: str) -> str:
    if value not in CRITICALITIES:
        raise ValueError(f"must be one of {', '.join(CRITICALITIES)}: how much the business loses when the unit's ERP stops")
    return value


class Unit(_Model):
    """A business unit (a tenant) and the environments it runs."""

    name: Annotated[str, _slug(8)]
    display_name: str = Field(min_length=1, max_length=64)
    environments: list[Annotated[Environment, BeforeValidator(_environment_entry)]] = Field(min_length=1)
    # Decides, with the tier, the alert kind and the business calendar, how loud its alerts are (components/severity.py).
    criticality: Annotated[Criticality, BeforeValidator(_criticality)] = "standard"


_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}"


class Webhook(_Model):
    """An on-call or ticketing endpoint, called as an Azure Monitor secure webhook: the action group sends an Entra ID
    token for the endpoint's application instead of a credential in the URL, so the URL is no secret."""

    name: Annotated[str, _pattern(r"[a-z][a-z0-9-]{1,31}", "must be 2-32 lowercase letters, digits or dashes")]
    url: Annotated[str, _pattern(r"https://[^\s/@?#]+(/[^\s?#@]*)?", "must be an https URL without credentials, query or fragment; the endpoint authenticates the action group's Entra ID token")]
    application_object_id: Annotated[str, AfterValidator(_uuid)]
    identifier_uri: Annotated[str, _pattern(r"(api|https)://\S+", "must be the application ID URI of the endpoint's Entra ID application (api://... or https://...)")]


class Alerts(_Model):
    """Who hears about alerts. Production pages (severity 0-1) the e-mails and the webhook; everything else notifies the e-mails."""

    emails: list[Annotated[str, _pattern(_EMAIL, "must be an e-mail address")]] = Field(default_factory=list)
    webhook: Optional[Webhook] = None


class BusinessWindow(_Model):
    """Days of the month (UTC) when a unit's finance runs: month-end close, payroll. Alerts of business kinds are louder then."""

    name: Annotated[str, _pattern(r"[a-z][a-z0-9-]{1,31}", "must be 2-32 lowercase letters, digits or dashes")]
    days_of_month: list[Annotated[int, Field(ge=1, le=31)]] = Field(min_length=1)


def _percent_below_100(value: float) -> float:
    if not 0 < value < 100:
        raise ValueError("must be a percentage above 0 and below 100; a 100% objective leaves no error budget to alert on")
    return value


def _latency_bucket(value: float) -> float:
    if value not in LATENCY_BUCKETS:
        raise ValueError(f"must be one of Traefik's latency histogram buckets {', '.join(map(str, LATENCY_BUCKETS))} seconds (components/traefik.py)")
    return value


class Slo(_Model):
    """Service-level objectives of every production tenant environment: availability (non-5xx responses) and latency."""

    availability: Annotated[float, AfterValidator(_percent_below_100)] = 99.5
    latency_threshold_seconds: Annotated[float, AfterValidator(_latency_bucket)] = 1.0
    latency_target: Annotated[float, AfterValidator(_percent_below_100)] = 95.0


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


_RESOURCE_ID = re.compile(
    r"/subscriptions/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"/resourceGroups/[-\w._()]{1,90}/providers/Microsoft\.ContainerRegistry/registries/(?P<name>[a-zA-Z0-9]{5,50})",
    re.IGNORECASE,
)


class ExternalRegistry(_Model):
    """A container registry outside the platform that images may come from; the cluster is granted AcrPull on it."""

    server: Annotated[str, _pattern(r"[a-z0-9]{5,50}\.azurecr\.io", "must be an Azure Container Registry login server <name>.azurecr.io")]
    resource_id: Annotated[str, _pattern(_RESOURCE_ID.pattern, "must be the registry's resource id /subscriptions/<guid>/resourceGroups/<group>/providers/Microsoft.ContainerRegistry/registries/<name>")]

    @model_validator(mode="after")
    def _same_registry(self) -> "ExternalRegistry":
        match = _RESOURCE_ID.fullmatch(self.resource_id)
        expected = f"{match.group('name').lower()}.azurecr.io" if match else None
        if expected and self.server != expected:
            raise _broken([_rule("server", self.server, f"must be {expected}, the login server of the registry resourceId names")])
        return self


_CRON = r"(\S+\s+){4}\S+"


class Retention(_Model):
    """How many backup sets `prune` keeps per period (the newest of each day, ISO week, month, year)."""

    daily: int = Field(default=7, ge=1, le=366)
    # Also Azure Backup's long-term PostgreSQL retention in production, which keeps at most 10 years.
    weekly: int = Field(default=4, ge=1, le=521)
    monthly: int = Field(default=12, ge=1, le=120)
    yearly: int = Field(default=7, ge=1, le=10)


class Offsite(_Model):
    """An S3-compatible copy with object lock (hybrid or sovereign); its access key lives in Key Vault, never here."""

    endpoint: Annotated[str, _pattern(r"https://[^\s/@?#]+(/[^\s?#@]*)?", "must be an https URL without credentials")]
    bucket: Annotated[str, _pattern(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "must be an S3 bucket name (3-63 lowercase letters, digits, dots, dashes)")]
    region: str = "us-east-1"
    # Key Vault secret names (created by the operator) holding the access key id and the secret key.
    access_key_secret: Annotated[str, _pattern(r"[A-Za-z0-9-]{1,127}", "must be a Key Vault secret name")]
    secret_key_secret: Annotated[str, _pattern(r"[A-Za-z0-9-]{1,127}", "must be a Key Vault secret name")]
    object_lock_days: int = Field(default=30, ge=1, le=36500)


class Backups(_Model):
    """Backup sets and restore drills per tenant environment (ops/backup); None means the tier's default."""

    schedule: Optional[Annotated[str, _pattern(_CRON, "must be a five-field cron expression (UTC)")]] = None
    verify_schedule: Optional[Annotated[str, _pattern(_CRON, "must be a five-field cron expression (UTC)")]] = None
    drill_schedule: Optional[Annotated[str, _pattern(_CRON, "must be a five-field cron expression (UTC)")]] = None
    retention: Retention = Field(default_factory=Retention)
    rpo_hours: Optional[float] = Field(default=None, gt=0, le=168)
    rto_hours: Optional[float] = Field(default=None, gt=0, le=168)
    offsite: Optional[Offsite] = None


# Where each tenant environment's release lives in the release repository (tools/release.py renders it).
RELEASE_PATH = "units/{unit}/{environment}"


def _release_repository(value: str) -> str:
    if not re.fullmatch(r"(https://[^\s/@?#]+|ssh://[A-Za-z0-9._-]+@[^\s/@?#]+)(/[^\s?#@]*)?", value):
        raise ValueError(
            "must be an ssh://git@<host>/<path> URL (Flux generates the deploy key; register each environment's public key, "
            "tenantEnvironments.<env>.releaseDeployKey, as a read-only deploy key) or an https:// URL of a public repository, without credentials"
        )
    return value


class Releases(_Model):
    """Odoo releases through Git: Flux reconciles each tenant environment from `<repository>@<branch>:units/<unit>/<env>`."""

    repository: Annotated[str, AfterValidator(_release_repository)]
    branch: Annotated[str, _pattern(r"[A-Za-z0-9._/-]{1,100}", "must be a Git branch name")] = "main"
    sync_interval_seconds: int = Field(default=300, ge=60, le=3600)
    # Promotion: an environment accepts only an image digest that has been released to the named one first
    # (tools/release.py check, in CI on the release repository).
    promotion: dict[Annotated[str, _slug(10)], Annotated[str, _slug(10)]] = Field(default_factory=lambda: {"prod": "uat"})


# Azure budget notifications: a threshold is a percentage from 0.01 to 1000, and a budget has at most five
# (Microsoft.Consumption budgets, NotificationArgs.threshold and `notifications`, API 2024-08-01).
BUDGET_THRESHOLD_RANGE = (0.01, 1000.0)
MAX_BUDGET_NOTIFICATIONS = 5


def _positive_amount(value: float) -> float:
    if value <= 0:
        raise ValueError("must be a positive monthly amount in the subscription's billing currency")
    return value


def _budget_threshold(value: float) -> float:
    low, high = BUDGET_THRESHOLD_RANGE
    if not low <= value <= high:
        raise ValueError(f"must be a percentage of the budget from {low:g} to {high:g} (Azure budget notifications)")
    return value


def _first_of_month(value: datetime.date) -> datetime.date:
    if value.day != 1:
        raise ValueError("must be the first day of a month (Azure budgets start on the first of a month)")
    return value


BudgetAmount = Annotated[float, AfterValidator(_positive_amount)]
BudgetThreshold = Annotated[float, AfterValidator(_budget_threshold)]


class BudgetThresholds(_Model):
    """Percentages of the budget at which the stack's action groups hear about actual and forecast cost."""

    actual: list[BudgetThreshold] = Field(default_factory=lambda: [80.0, 100.0, 120.0])
    forecasted: list[BudgetThreshold] = Field(default_factory=lambda: [100.0])

    @model_validator(mode="after")
    def _notifications(self) -> "BudgetThresholds":
        found: list[Problem] = []
        for kind in ("actual", "forecasted"):
            values = getattr(self, kind)
            if len(set(values)) != len(values):
                found.append(_rule(kind, values, "lists a threshold twice"))
        if len(self.actual) + len(self.forecasted) > MAX_BUDGET_NOTIFICATIONS:
            found.append(_rule("", self.model_dump(), f"Azure allows at most {MAX_BUDGET_NOTIFICATIONS} notifications per budget (actual and forecasted together)"))
        if found:
            raise _broken(found)
        return self


class Budgets(_Model):
    """Monthly cost budgets (components/budgets.py): one for the stack and, in a multi-tenant stack, one per business unit."""

    amount: BudgetAmount
    start: Annotated[datetime.date, AfterValidator(_first_of_month)]
    units: dict[str, BudgetAmount] = Field(default_factory=dict)
    thresholds: BudgetThresholds = Field(default_factory=BudgetThresholds)


class SecretRotation(_Model):
    """Days between rotations per kind of secret the platform writes, and the grace days a version still works after
    it falls due (its Key Vault expiry is rotation + grace; components/rotation.py, ops/rotate)."""

    tenant_db_password_days: int = Field(default=DEFAULT_ROTATION_DAYS[TENANT_DB_PASSWORD], ge=7, le=365)
    postgres_admin_password_days: int = Field(default=DEFAULT_ROTATION_DAYS[POSTGRES_ADMIN_PASSWORD], ge=7, le=365)
    redis_access_key_days: int = Field(default=DEFAULT_ROTATION_DAYS[REDIS_ACCESS_KEY], ge=7, le=365)
    odoo_admin_password_days: int = Field(default=DEFAULT_ROTATION_DAYS[ODOO_ADMIN_PASSWORD], ge=7, le=365)
    # More than Key Vault's 30 days' near-expiry notice: that alert then means a missed rotation, not a routine one.
    grace_days: int = Field(default=DEFAULT_GRACE_DAYS, gt=NEAR_EXPIRY_NOTICE_DAYS, le=90)

    def lifetime(self, kind: str) -> SecretLifetime:
        """The lifetime of `kind` (components/rotation.py's kinds) as this stack sets it."""
        return SecretLifetime(kind, getattr(self, f"{kind.replace('-', '_')}_days"), self.grace_days)


class CostAssumptions(_Model):
    """What the cost estimate (tools/cost) cannot read from the resources: hours and monthly volumes, stated here."""

    hours_per_month: float = Field(default=730, ge=672, le=744)
    files_gb_per_environment: float = Field(default=20, ge=0)
    backup_gb_per_environment: float = Field(default=60, ge=0)
    vault_gb_per_environment: float = Field(default=100, ge=0)
    postgres_backup_gb_over_free: float = Field(default=0, ge=0)
    log_analytics_gb_per_day: float = Field(default=1, ge=0)
    prometheus_samples_millions_per_month: float = Field(default=1000, ge=0)
    key_vault_operations_per_environment: float = Field(default=100000, ge=0)
    nat_gb_per_month: float = Field(default=20, ge=0)
    private_endpoint_gb_per_month: float = Field(default=50, ge=0)
    peering_gb_per_month: float = Field(default=10, ge=0)


class StackConfig(_Model):
    """Everything a stack can set. `stack` and `tier` are derived, not configured."""

    stack: str
    org: Annotated[str, _slug(6)]
    location: Region
    dr_location: Optional[Region] = None
    tenancy: Literal["multi-tenant", "dedicated"]
    sizing: Literal["small", "medium", "large", "xlarge"]
    network: Network
    admin_cidrs: list[Annotated[str, AfterValidator(_admin_cidr)]] = Field(default_factory=list)
    ingress_internal: bool = False
    kubernetes_version: Annotated[str, BeforeValidator(_text_of_number), AfterValidator(_kubernetes_version)] = "1.34"
    entra_admin_group_id: Annotated[str, AfterValidator(_uuid)]
    entra_admin_group_name: Annotated[str, Field(min_length=1), AfterValidator(_postgres_role_name)] = "odoo-platform-admins"
    postgres_version: Annotated[Literal["16", "17", "18"], BeforeValidator(_text_of_number)] = "16"
    backup_immutability_days: int = Field(default=2555, ge=1, le=146000)
    base_domain: Annotated[str, AfterValidator(_domain)]
    acme_server: Literal["letsencrypt", "letsencrypt-staging"] = "letsencrypt"
    odoo_version: Annotated[str, BeforeValidator(_text_of_number), AfterValidator(_odoo_version)] = "17.0"
    odoo_image: ImageDigest
    postgres_client_image: ImageDigest
    backup_image: ImageDigest
    external_registries: list[ExternalRegistry] = Field(default_factory=list)
    trusted_proxy_cidrs: list[Cidr] = Field(default_factory=list)
    maintenance: Maintenance = Field(default_factory=Maintenance)
    off_hours: OffHours = Field(default_factory=OffHours)
    dr_mode: Literal["backups", "warm-standby"] = "backups"
    dr_network: Optional[DrNetwork] = None
    alerts: Alerts = Field(default_factory=Alerts)
    business_calendar: list[BusinessWindow] = Field(default_factory=list)
    slo: Slo = Field(default_factory=Slo)
    backups: Backups = Field(default_factory=Backups)
    budgets: Optional[Budgets] = None
    cost_assumptions: CostAssumptions = Field(default_factory=CostAssumptions)
    secret_rotation: SecretRotation = Field(default_factory=SecretRotation)
    releases: Releases
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

    @property
    def images(self) -> dict[str, ImageRef]:
        """Per image setting (`odooImage`, `postgresClientImage`, `backupImage`): its registry server (None: the platform's) and reference."""
        return {
            "odooImage": parse_image(self.odoo_image),
            "postgresClientImage": parse_image(self.postgres_client_image),
            "backupImage": parse_image(self.backup_image),
        }

    @model_validator(mode="after")
    def _stack_rules(self) -> "StackConfig":
        found = _cross_field_problems(self)
        if found:
            raise _broken(found)
        return self


# Cross-field rules. Each reads a few fields; on a partly valid configuration (see load_config) a
# rule whose fields did not validate is skipped (reading them raises AttributeError).

def _tenancy_rules(cfg: StackConfig) -> Iterator[Problem]:
    if cfg.tier.is_production and cfg.tenancy != "dedicated":
        yield _rule("tenancy", cfg.tenancy, "production stacks are dedicated to one business unit; use 'dedicated'")


def _dedicated_rules(cfg: StackConfig) -> Iterator[Problem]:
    if cfg.tenancy == "dedicated" and len(cfg.units) != 1:
        yield _rule("units", [u.name for u in cfg.units], "a dedicated stack serves exactly one business unit")


def _unit_stack_rules(cfg: StackConfig) -> Iterator[Problem]:
    unit = cfg.stack.removeprefix("prod-")
    if cfg.stack.startswith("prod-") and cfg.units[0].name != unit:
        yield _rule("units[0].name", cfg.units[0].name, f"stack {cfg.stack!r} is dedicated to unit {unit!r}")


def _sizing_rules(cfg: StackConfig) -> Iterator[Problem]:
    if cfg.tier.is_production and cfg.sizing not in ("medium", "large"):
        yield _rule("sizing", cfg.sizing, "production needs medium or large (General Purpose PostgreSQL, no burstable compute, several web pods)")


def _dr_rules(cfg: StackConfig) -> Iterator[Problem]:
    if cfg.tier.is_production and cfg.dr_location is None:
        yield _rule("drLocation", None, "production stacks need a disaster-recovery region")
    if cfg.dr_location is not None and cfg.dr_location == cfg.location:
        yield _rule("drLocation", cfg.dr_location, "must differ from location")


def _admin_rules(cfg: StackConfig) -> Iterator[Problem]:
    if not cfg.admin_cidrs:
        yield _rule("adminCidrs", [], "the API server (non-production), Key Vault firewall and Odoo's database manager admit only these CIDRs; an empty list would leave them open or unusable")


def _runner_rules(cfg: StackConfig) -> Iterator[Problem]:
    if cfg.tier.is_production and cfg.network.subnets.runners is None:
        yield _rule("network.subnets.runners", None, "production's API server and Key Vault are private: give the deployment runner a subnet")


def _unit_rules(cfg: StackConfig) -> Iterator[Problem]:
    production = cfg.tier.is_production
    allowed = PRODUCTION_ENVIRONMENTS if production else NON_PRODUCTION_ENVIRONMENTS
    seen: set[str] = set()
    for i, unit in enumerate(cfg.units):
        if unit.name in seen:
            yield _rule(f"units[{i}].name", unit.name, "duplicate business unit; each unit appears once")
        seen.add(unit.name)
        names = [env.name for env in unit.environments]
        for j, env in enumerate(unit.environments):
            if env.ephemeral and production:
                yield _rule(f"units[{i}].environments[{j}].ephemeral", True, "production environments are never ephemeral")
            if env.name not in allowed and not env.ephemeral:
                rule = f"a {cfg.tier.value} stack runs only {', '.join(allowed)}" + ("" if production else " (other names must be ephemeral: true)")
                yield _rule(f"units[{i}].environments[{j}]", env.name, rule)
            if names.index(env.name) != j:
                yield _rule(f"units[{i}].environments[{j}]", env.name, f"duplicate environment for unit {unit.name}")


def _warm_standby_rules(cfg: StackConfig) -> Iterator[Problem]:
    if cfg.dr_mode != "warm-standby":
        return
    if cfg.dr_network is None:
        yield _rule("drNetwork", None, "a warm standby needs drLocation and drNetwork (addressSpace, postgresSubnet)")
        return
    if cfg.dr_location is None and not cfg.tier.is_production:  # production's own rule already says so
        yield _rule("drLocation", None, "a warm standby needs drLocation, the region of the PostgreSQL replica")
    if _network(cfg.dr_network.address_space).overlaps(_network(cfg.network.address_space)):
        yield _rule("drNetwork.addressSpace", cfg.dr_network.address_space, f"overlaps network.addressSpace {cfg.network.address_space}")


def _off_hours_rules(cfg: StackConfig) -> Iterator[Problem]:
    if cfg.tier.is_production and cfg.off_hours.enabled:
        yield _rule("offHours.enabled", True, "production never scales to zero; off-hours scaling is for non-production")
    if cfg.off_hours.start >= cfg.off_hours.end:
        yield _rule("offHours.end", cfg.off_hours.end, f"working hours must end after they start ({cfg.off_hours.start})")


def _name_rules(cfg: StackConfig) -> Iterator[Problem]:
    for location in filter(None, (cfg.location, cfg.dr_location)):
        try:
            cfg.naming.for_region(location).all_fixed_names()
        except NameRuleError as e:
            yield _rule("org", cfg.org, f"with stack {cfg.stack!r}: {e}")
            return


def _alert_rules(cfg: StackConfig) -> Iterator[Problem]:
    if cfg.tier.is_production and not cfg.alerts.emails:
        yield _rule("alerts.emails", [], "production pages someone on severity 0-1 alerts: name at least one e-mail receiver")
    for i, address in enumerate(cfg.alerts.emails):
        if cfg.alerts.emails.index(address) != i:
            yield _rule(f"alerts.emails[{i}]", address, "is listed twice")
    names: set[str] = set()
    for i, window in enumerate(cfg.business_calendar):
        if window.name in names:
            yield _rule(f"businessCalendar[{i}].name", window.name, "is used twice; each window has its own name")
        names.add(window.name)


# Construction records (claims, audits, contracts, payroll) are kept 7-10 years: production keeps at least these sets.
PRODUCTION_RETENTION_FLOOR = {"daily": 7, "weekly": 4, "monthly": 12, "yearly": 7}


def _backup_rules(cfg: StackConfig) -> Iterator[Problem]:
    if not cfg.tier.is_production:
        return
    kept = cfg.backups.retention.model_dump()
    for period, floor in PRODUCTION_RETENTION_FLOOR.items():
        if kept[period] < floor:
            yield _rule(f"backups.retention.{period}", kept[period], f"production keeps at least {floor} {period} backup sets (construction records are kept 7-10 years)")


def production_units(root: Optional[str] = None) -> dict[str, str]:
    """Production stack -> the unit it serves, from the project's `Pulumi.prod*.yaml` files (units[0].name)."""
    from tools import stack_file  # tools/stack_file.py imports this module: import it when called

    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found: dict[str, str] = {}
    for entry in sorted(os.listdir(root)):
        match = re.fullmatch(r"Pulumi\.(prod(?:-[a-z0-9]+)?)\.yaml", entry)
        if not match:
            continue
        raw = raw_from_stack_file(stack_file.load(os.path.join(root, entry)) or {}, entry)
        units = raw.get("units")
        if isinstance(units, list) and units and isinstance(units[0], Mapping) and isinstance(units[0].get("name"), str):
            found[match.group(1)] = units[0]["name"]
    return found


def refresh_source(source: str, unit: str, production: Mapping[str, str]) -> Optional[str]:
    """The production stack a `refresh.from` names: a stack name as is, a unit name -> the stack that serves it."""
    if source in production:
        return source
    serving = [stack for stack, served in production.items() if served == source]
    return serving[0] if serving else None


def _refresh_rules(cfg: StackConfig) -> Iterator[Problem]:
    refreshed = [(i, j, unit, env) for i, unit in enumerate(cfg.units) for j, env in enumerate(unit.environments) if env.refresh]
    if not refreshed:
        return
    production = production_units()
    profiles = masking_profiles()
    for i, j, unit, env in refreshed:
        key = f"units[{i}].environments[{j}].refresh"
        refresh = env.refresh
        assert refresh is not None
        if cfg.tier.is_production:
            yield _rule(key, refresh.model_dump(by_alias=True), "only non-production environments are refreshed; production is the source, never a target")
            continue
        stack = refresh_source(refresh.source, unit.name, production)
        if stack is None:
            yield _rule(f"{key}.from", refresh.source, f"names no production stack of this project ({', '.join(sorted(production)) or 'none'}) nor a unit one serves")
        elif production[stack] != unit.name:
            yield _rule(f"{key}.from", refresh.source, f"stack {stack} serves unit {production[stack]!r}; unit {unit.name!r} refreshes only from its own production")
        try:
            _cron(refresh.schedule)
        except ValueError as e:
            yield _rule(f"{key}.schedule", refresh.schedule, str(e))
        if refresh.masking not in profiles:
            yield _rule(f"{key}.masking", refresh.masking, f"is not a masking profile ({', '.join(profiles)}: ops/refresh/profiles/<name>.yaml)")


def _release_rules(cfg: StackConfig) -> Iterator[Problem]:
    for target, source in cfg.releases.promotion.items():
        seen = [target]
        while source in cfg.releases.promotion and source not in seen:
            seen.append(source)
            source = cfg.releases.promotion[source]
        if source in seen:
            chain = " -> ".join([*seen, source])
            yield _rule(f"releases.promotion.{target}", cfg.releases.promotion[target], f"promotion must lead back to a first environment, not go round: {chain}")


def _secret_rotation_rules(cfg: StackConfig) -> Iterator[Problem]:
    rotation = cfg.secret_rotation
    for name in type(rotation).model_fields:
        days = getattr(rotation, name)
        if name != "grace_days" and days <= rotation.grace_days:
            # A version would fall due before the previous one's grace ends: two rotations in flight at once.
            yield _rule(f"secretRotation.{to_camel(name)}", days, f"must be longer than secretRotation.graceDays ({rotation.grace_days})")


def _budget_rules(cfg: StackConfig) -> Iterator[Problem]:
    if cfg.budgets is None:
        return
    units = {u.name for u in cfg.units}
    for name in cfg.budgets.units:
        if cfg.tenancy == "dedicated":
            yield _rule(f"budgets.units.{name}", cfg.budgets.units[name], "a dedicated stack serves one unit: its budget is budgets.amount")
        elif name not in units:
            yield _rule(f"budgets.units.{name}", cfg.budgets.units[name], f"is not a unit of this stack ({', '.join(sorted(units))})")
    total = sum(cfg.budgets.units.values())
    if total > cfg.budgets.amount:
        yield _rule("budgets.units", cfg.budgets.units, f"add up to {total:g}, more than the stack's budgets.amount {cfg.budgets.amount:g}")


def _registry_rules(cfg: StackConfig) -> Iterator[Problem]:
    servers: dict[str, int] = {}
    for i, registry in enumerate(cfg.external_registries):
        if registry.server in servers:
            yield _rule(f"externalRegistries[{i}].server", registry.server, f"is listed twice (also externalRegistries[{servers[registry.server]}])")
        servers.setdefault(registry.server, i)
    for key, image in cfg.images.items():
        if image.registry is not None and image.registry not in servers:
            yield _rule(key, getattr(cfg, to_snake(key)), "images come from the platform's registry; list other registries in externalRegistries so the cluster is granted AcrPull on them")


def _odoo_image_rules(cfg: StackConfig) -> Iterator[Problem]:
    tag = parse_image(cfg.odoo_image).tag or ""
    major = re.match(r"(\d+)\.0(?![0-9])", tag)
    if major and f"{major.group(1)}.0" != cfg.odoo_version:
        yield _rule("odooImage", cfg.odoo_image, f"its tag {tag} is Odoo {major.group(1)}.0 but odooVersion is {cfg.odoo_version}; build the image for the same Odoo major")


def _capacity_rules(cfg: StackConfig) -> Iterator[Problem]:
    """The tenant plan must fit the node pools at their maximum size, and PostgreSQL's connections."""
    _, pools = pools_for_tier(cfg.tier, cfg.profile.system_pool, cfg.profile.user_pools)
    tenants = [t.key for t in cfg.tenants]
    try:
        check_capacity(pools, tenant_demand(tenants, cfg.profile.odoo))
        postgres_max_connections(cfg.profile.postgres.sku, connection_demand(tenants, cfg.profile.odoo))
    except CapacityError as e:
        yield _rule("sizing", cfg.sizing, _shorten_listings(str(e)))


_CROSS_FIELD_RULES = (
    _tenancy_rules, _dedicated_rules, _unit_stack_rules, _sizing_rules, _dr_rules, _admin_rules, _runner_rules,
    _unit_rules, _warm_standby_rules, _off_hours_rules, _name_rules, _registry_rules, _odoo_image_rules, _alert_rules, _backup_rules, _release_rules,
    _refresh_rules,
    _budget_rules, _secret_rotation_rules,
)


def _cross_field_problems(cfg: StackConfig, partial: bool = False) -> list[Problem]:
    found: list[Problem] = []
    for rules in _CROSS_FIELD_RULES:
        try:
            found.extend(rules(cfg))
        except AttributeError:
            if not partial:
                raise
    return found


def to_snake(alias: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", alias).lower()


def _shorten_listings(text: str, keep: int = 60) -> str:
    """`(a 1, b 2, ... 500 items)` inside a message becomes `(a 1, b 2, ... (498 more))`."""

    def shorten(match: re.Match) -> str:
        items = match.group(1).split(", ")
        if len(match.group(1)) <= keep:
            return match.group(0)
        shown: list[str] = []
        for item in items:
            if len(", ".join(shown + [item])) > keep and shown:
                break
            shown.append(item)
        return f"({', '.join(shown)}, ... ({len(items) - len(shown)} more))"

    return re.sub(r"\(([^()]*)\)", shorten, text)


def _show(value: Any) -> str:
    """The value as JSON, shortened to a readable length: long lists end in `... (N more)`, long text in `...`."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    if len(text) <= MAX_SHOWN:
        return text
    if isinstance(value, (list, tuple)):
        shown: list[str] = []
        for item in value:
            item_text = _show(item)
            if len(", ".join(shown + [item_text])) > MAX_SHOWN - 20 and shown:
                break
            shown.append(item_text)
        return f"[{', '.join(shown)}, ... ({len(value) - len(shown)} more)]"
    if isinstance(value, str):
        return json.dumps(value[: MAX_SHOWN - 40] + "...", ensure_ascii=False) + f" ({len(value)} characters)"
    return text[: MAX_SHOWN - 4] + " ..."


def _config_key(loc: tuple, extra_key: Optional[str] = None) -> str:
    parts = [str(p) for p in loc if p != "stack"]
    if extra_key:
        parts.append(extra_key)
    key = ""
    for p in parts:
        if p.isdigit():
            key += f"[{p}]"
        else:
            key += ("." if key and not p.startswith("[") else "") + p
    if len(key) > 100:
        key = key[:97] + "..."
    return f"{PROJECT}:{key}" if key else PROJECT


def _problem(error: Mapping[str, Any]) -> list[str]:
    """One line per problem in a pydantic error (a rules error carries several)."""
    ctx = error.get("ctx") or {}
    if error["type"] == "config_rules":
        return [f"{_config_key(error['loc'], p.key)} = {_show(p.value)}: {p.rule}" for p in ctx["problems"]]
    key, value = _config_key(error["loc"]), error.get("input")
    rule = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return [f"{key}: is required but not set"]
    if error["type"] == "extra_forbidden":
        return [f"{key}: unknown setting (check the spelling against Pulumi.yaml)"]
    return [f"{key} = {_show(value)}: {rule}"]


def _without_nulls(value: Any) -> Any:
    """null means "not set", at any depth of a mapping (list items stay, to be reported)."""
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


_FIELD_ADAPTERS: dict[str, TypeAdapter] = {}


def _field_value(name: str, value: Any) -> Any:
    """One StackConfig field validated on its own (for the cross-field rules of a partly valid configuration)."""
    if name not in _FIELD_ADAPTERS:
        field = StackConfig.model_fields[name]
        annotation: Any = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
        _FIELD_ADAPTERS[name] = TypeAdapter(annotation)
    return _FIELD_ADAPTERS[name].validate_python(value)


def _partial_config(data: Mapping[str, Any], failed: set[str]) -> StackConfig:
    """A StackConfig holding only the fields that validated; reading any other raises AttributeError."""
    values: dict[str, Any] = {}
    for name, field in StackConfig.model_fields.items():
        alias = field.alias or name
        if alias in failed or alias not in data:
            continue
        try:
            values[name] = _field_value(name, data[alias])
        except ValidationError:
            failed.add(alias)
    cfg = StackConfig.model_construct(**values)
    for name, field in StackConfig.model_fields.items():
        if (field.alias or name) in failed:
            vars(cfg).pop(name, None)
    return cfg


def load_config(stack: str, raw: Mapping[str, Any]) -> StackConfig:
    """Validate raw settings (keys without the project prefix) into a StackConfig, or raise ConfigError
    listing every problem: each field's own, and every cross-field rule whose fields are valid."""
    # Pulumi.yaml's defaults for "not set" are "" and {}; null means the same.
    settings = {k: v for k, v in _without_nulls(dict(raw)).items() if v != "" and v != {}}
    problems = [f"{PROJECT}:{k} = {_show(settings.pop(k))}: {why}" for k, why in REMOVED_SETTINGS.items() if k in settings]
    data = {**settings, "stack": stack}
    try:
        cfg = StackConfig.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        for err in errors:
            problems.extend(_problem(err))
        failed = {str(err["loc"][0]) for err in errors if err["loc"]}
        if failed:  # field errors: the model's own rules did not run; run those whose fields are valid
            partial = _partial_config(data, failed)
            problems.extend(_problem({"type": "config_rules", "loc": (), "ctx": {"problems": _cross_field_problems(partial, partial=True)}}))
            if not {"sizing", "units"} & failed:
                problems.extend(_problem({"type": "config_rules", "loc": (), "ctx": {"problems": _safe_capacity(partial)}}))
        raise ConfigError(list(dict.fromkeys(problems))) from None
    capacity = list(_capacity_rules(cfg))
    problems.extend(_problem({"type": "config_rules", "loc": (), "ctx": {"problems": capacity}}))
    if problems:
        raise ConfigError(problems)
    return cfg


def _safe_capacity(cfg: StackConfig) -> list[Problem]:
    try:
        return list(_capacity_rules(cfg))
    except AttributeError:
        return []


def json_settings() -> set[str]:
    """Settings whose value is an object or a list: the Pulumi CLI hands them to the program as JSON text."""
    names: set[str] = set()
    for name, field in StackConfig.model_fields.items():
        types = [field.annotation, *get_args(field.annotation)]
        if any(get_origin(t) is list or (isinstance(t, type) and issubclass(t, BaseModel)) for t in types):
            names.add(field.alias or name)
    return names


def raw_from_stack_file(document: Mapping[str, Any], source: str = "the stack file") -> dict[str, Any]:
    """The project's settings from a parsed `Pulumi.<stack>.yaml` (`config:` with `odoo-platform:` keys;
    a key without a namespace is the project's, as for the Pulumi CLI). null means "not set"."""
    settings = document.get("config") if isinstance(document, Mapping) else None
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise ConfigError([f"{source}: config: must be a mapping of {PROJECT}:<setting>: <value>, not a {type(settings).__name__}"])
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in settings.items():
        if not isinstance(key, str):
            problems.append(f"{source}: config: key {json.dumps(key, default=str)} is not a setting name; write {PROJECT}:<setting>")
            continue
        namespace, _, name = key.partition(":") if ":" in key else ("", "", key)
        if namespace in ("", PROJECT) and value is not None:
            raw[name] = value
    if problems:
        raise ConfigError(problems)
    return raw


def setting_names() -> list[str]:
    """The configuration keys a stack may set (aliases as written in YAML)."""
    return [f.alias or name for name, f in StackConfig.model_fields.items() if name != "stack"]
