"""The one tagging helper: governance tags on every Azure resource that takes tags."""
from typing import Mapping, Optional

import pulumi

from .tier import Tier

MANAGED_BY = "pulumi/odoo-platform"


def platform_tags(tags: Mapping[str, str], tier: Tier, stack: str) -> dict[str, str]:
    """The configured tags plus what the platform itself knows about the stack."""
    return {**tags, "environment": tier.value, "stack": stack, "managed-by": MANAGED_BY}


def merge_tags(governance: Mapping[str, str], own: Optional[Mapping[str, str]]) -> dict[str, str]:
    """A resource's own tags, with governance tags applied over them so they cannot be forgotten or overridden."""
    return {**(own or {}), **governance}


def tag_everything(governance: Mapping[str, str]) -> None:
    """Register a stack transformation that tags every azure-native resource that accepts tags.

    Generated azure-native resources pass every declared input (even unset ones) in
    `props`, so `"tags" in props` tells whether the type takes tags at all.
    A stack transformation (unlike `register_resource_transform`) also runs under mocks.
    """

    def add_tags(args: pulumi.ResourceTransformationArgs) -> Optional[pulumi.ResourceTransformationResult]:
        if not args.type_.startswith("azure-native:") or "tags" not in args.props:
            return None
        props = dict(args.props)
        own = props.get("tags")
        if own is None or isinstance(own, dict) and not any(isinstance(v, pulumi.Output) for v in own.values()):
            props["tags"] = merge_tags(governance, own)
        else:
            props["tags"] = pulumi.Output.from_input(own).apply(lambda known: merge_tags(governance, known))
        return pulumi.ResourceTransformationResult(props, args.opts)

    pulumi.runtime.register_stack_transformation(add_tags)
