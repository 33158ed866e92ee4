"""How a governance rule becomes CrossGuard policies: tier from the URN, levels by category, shared metadata.

A rule is one check. Security rules become one mandatory policy for every tier they apply to.
Resilience and cost rules become a mandatory policy for production and, where they also apply
to non-production, a second advisory policy named `<rule>-nonprod`: a policy's enforcement level
is fixed, so the tier split is made here, visibly, rather than hidden in a message.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from pulumi_policy.proxy import UnknownValueError
from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

PRODUCTION, NON_PRODUCTION = "production", "non-production"
BOTH = (PRODUCTION, NON_PRODUCTION)
SECURITY, RESILIENCE, COST = "security", "resilience", "cost"
ANY_AZURE = "azure-native:*"  # a rule's type that matches every azure-native resource

MCSB = "Microsoft cloud security benchmark"
CIS = "CIS Microsoft Azure Foundations Benchmark"
CIS_K8S = "CIS Kubernetes Benchmark"

TIER_SCHEMA = {
    "tier": {
        "type": "string",
        "enum": ["auto", PRODUCTION, NON_PRODUCTION],
        "default": "auto",
        "description": "auto: prod and prod-* stacks are production, all others non-production.",
    }
}


def stack_of(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> `<stack>`."""
    return urn.split("::", 1)[0].split(":")[-1]


def tier_of(urn: str, config: Optional[Mapping[str, Any]] = None) -> str:
    override = (config or {}).get("tier", "auto")
    if override in BOTH:
        return override
    stack = stack_of(urn)
    return PRODUCTION if stack == "prod" or stack.startswith("prod-") else NON_PRODUCTION


def get(props: Any, path: str, default: Any = None) -> Any:
    """Nested lookup by dotted path (`a.b.0.c`) through dicts and lists; `default` when any step is missing."""
    value = props
    for key in path.split("."):
        if isinstance(value, (list, tuple)) and key.isdigit():
            index = int(key)
            value = value[index] if index < len(value) else None
        elif hasattr(value, "get"):
            value = value.get(key)
        else:
            return default
        if value is None:
            return default
    return value


@dataclass(frozen=True)
class Context:
    tier: str
    config: Mapping[str, Any]
    name: str
    urn: str
    type: str = ""  # the resource's type token (`kubernetes:apps/v1:DeploymentPatch`); empty for stack policies
    provider: Mapping[str, Any] = field(default_factory=dict)  # the inputs of the resource's provider (a Kubernetes provider's `namespace`)

    @property
    def patch(self) -> bool:
        """A Kubernetes `*Patch` resource: a field it omits is left as it is on the server, so only what it sets is judged."""
        return self.type.startswith("kubernetes:") and self.type.endswith("Patch")

    @property
    def production(self) -> bool:
        return self.tier == PRODUCTION


Check = Callable[[Mapping[str, Any], Context], Iterable[str]]


@dataclass(frozen=True, kw_only=True)
class Metadata:
    """What every policy declares besides its check: where it applies, how bad, which control, how to fix."""

    tiers: Sequence[str] = BOTH
    severity: Severity = Severity.HIGH
    framework: str = MCSB
    control: str = ""
    checkov: str = "-"
    remediation: str = ""
    url: str = ""
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    advisory: bool = False  # a security rule that warns (advisory) instead of blocking


@dataclass(frozen=True)
class Rule(Metadata):
    name: str
    description: str
    types: Sequence[str]
    check: Check
    category: str = SECURITY


@dataclass(frozen=True)
class PolicyDoc:
    """What policies/README.md lists for one policy (the README table is checked against the pack)."""

    name: str
    description: str
    tier: str
    level: str
    checkov: str
    control: str


DOCS: list[PolicyDoc] = []
SHORT = {MCSB: "MCSB", CIS: "CIS Azure", CIS_K8S: "CIS Kubernetes"}


def _framework(rule_framework: str, control: str) -> PolicyComplianceFramework:
    versions = {MCSB: "v1", CIS: "2.1.0", CIS_K8S: "1.9"}
    return PolicyComplianceFramework(name=rule_framework, version=versions.get(rule_framework), reference=control or None)


def _policy_metadata(rule: Metadata, name: str, description: str, tiers: Sequence[str], level: EnforcementLevel, kind: str) -> dict[str, Any]:
    """The Policy keyword arguments every policy shares; records the policy's README row."""
    DOCS.append(PolicyDoc(name, description, _tiers_doc(tiers), level.value, rule.checkov, f"{SHORT[rule.framework]} {rule.control}".strip()))
    return {
        "name": name,
        "description": description,
        "enforcement_level": level,
        "config_schema": PolicyConfigSchema(properties={**TIER_SCHEMA, **rule.config}),
        "severity": rule.severity if level is EnforcementLevel.MANDATORY else Severity.LOW,
        "framework": _framework(rule.framework, rule.control),
        "tags": [kind, *(t.replace(" ", "-") for t in tiers)],
        "remediation_steps": rule.remediation or None,
        "url": rule.url or None,
    }


def _resource_policy(rule: Rule, name: str, tiers: Sequence[str], level: EnforcementLevel) -> ResourceValidationPolicy:
    types = frozenset(rule.types)
    any_azure = ANY_AZURE in types

    def validate(args: ResourceValidationArgs, report) -> None:
        if args.resource_type not in types and not (any_azure and args.resource_type.startswith("azure-native:")):
            return
        config = args.get_config() or {}
        tier = tier_of(args.urn, config)
        if tier not in tiers:
            args.not_applicable(f"applies to {' and '.join(tiers)} stacks only")
        provider = args.provider.props if args.provider is not None else {}
        for message in rule.check(args.props, Context(tier, config, args.name, args.urn, args.resource_type, provider)):
            report(message)

    return ResourceValidationPolicy(validate=validate, **_policy_metadata(rule, name, rule.description, tiers, level, rule.category))


def _tiers_doc(tiers: Sequence[str]) -> str:
    return "all" if set(tiers) == set(BOTH) else " and ".join(tiers)


def policies_for(rule: Rule) -> list[ResourceValidationPolicy]:
    if rule.category == SECURITY:
        return [_resource_policy(rule, rule.name, rule.tiers, EnforcementLevel.ADVISORY if rule.advisory else EnforcementLevel.MANDATORY)]
    made = []
    if PRODUCTION in rule.tiers:
        made.append(_resource_policy(rule, rule.name, (PRODUCTION,), EnforcementLevel.MANDATORY))
    if NON_PRODUCTION in rule.tiers:
        name = f"{rule.name}-nonprod" if PRODUCTION in rule.tiers else rule.name
        made.append(_resource_policy(rule, name, (NON_PRODUCTION,), EnforcementLevel.ADVISORY))
    return made


@dataclass(frozen=True)
class StackRule(Metadata):
    name: str
    description: str
    check: Callable[[Sequence[Any], Context], Iterable[tuple[str, Optional[str]]]]


def stack_policy(rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report) -> None:
        config = args.get_config() or {}
        stacks = {stack_of(r.urn) for r in args.resources}
        tier = tier_of(next(iter(args.resources)).urn, config) if args.resources else NON_PRODUCTION
        if tier not in rule.tiers:
            args.not_applicable(f"applies to {' and '.join(rule.tiers)} stacks only")
        context = Context(tier, config, ",".join(sorted(stacks)), "")
        for message, urn in rule.check(args.resources, context):
            report(message, urn)

    level = EnforcementLevel.ADVISORY if rule.advisory else EnforcementLevel.MANDATORY
    return StackValidationPolicy(validate=validate, **_policy_metadata(rule, rule.name, rule.description, rule.tiers, level, "stack"))


def need(condition: bool, message: str) -> list[str]:
    """One violation message when `condition` does not hold."""
    return [] if condition else [message]


UNKNOWN = object()  # a value the engine does not know yet (preview)


def known(read: Callable[[], Any], unknown: Any = UNKNOWN) -> Any:
    """`read()`, or `unknown` when it touches a value not known during preview (reading one raises)."""
    try:
        return read()
    except UnknownValueError:
        return unknown


def per_resource(resources: Iterable[Any], judge: Callable[[Any], Iterable[tuple[str, Optional[str]]]]):
    """A stack rule's findings resource by resource; one whose judged values are unknown (preview) is skipped rather than
    stopping the rule for the whole stack: the rule judges it when its values are known, at `pulumi up`."""
    for r in resources:
        yield from known(lambda: list(judge(r)), [])

