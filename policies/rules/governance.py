"""Cross-cutting rules: required tags and allowed regions on every tracked Azure resource."""
from pulumi_policy import Severity

from .common import ANY_AZURE, Rule

URL = "https://learn.microsoft.com/azure/cloud-adoption-framework/ready/azure-best-practices/resource-tagging"


def _required_tags(p, c):
    if "location" not in p:  # only tracked resources (those with a location) carry tags
        return []
    tags = p.get("tags") or {}
    missing = [t for t in c.config.get("requiredTags", DEFAULT_TAGS) if not tags.get(t)]
    return [f"missing required tags: {', '.join(missing)}"] if missing else []


def _allowed_region(p, c):
    location = p.get("location")
    allowed = c.config.get("allowedRegions", DEFAULT_REGIONS)
    # ARM compares locations case-insensitively and without spaces: "Global" is "global", "West Europe" is "westeurope".
    def canonical(name: str) -> str:
        return name.replace(" ", "").lower()

    ok = location is None or canonical(location) in {canonical(a) for a in allowed}
    return [] if ok else [f"location {location!r} is not an allowed region ({', '.join(allowed)})"]


DEFAULT_TAGS = ["owner", "cost-center", "data-classification", "environment"]
DEFAULT_REGIONS = ["westeurope", "northeurope", "swedencentral", "germanywestcentral", "francecentral", "global"]


RULES = [
    Rule(
        "required-tags",
        "Every Azure resource that carries tags has owner, cost-center, data-classification and environment.",
        [ANY_AZURE],
        _required_tags,
        severity=Severity.MEDIUM, control="AM-2", remediation="Set the tags in the stack configuration.", url=URL,
        config={"requiredTags": {"type": "array", "items": {"type": "string"}, "default": DEFAULT_TAGS}},
    ),
    Rule(
        "allowed-regions",
        "Azure resources are created only in the allowed regions (data residency).",
        [ANY_AZURE],
        _allowed_region,
        severity=Severity.HIGH, control="DP-1", remediation="Use location/drLocation from the allowed list.", url=URL,
        config={"allowedRegions": {"type": "array", "items": {"type": "string"}, "default": DEFAULT_REGIONS}},
    ),
]
