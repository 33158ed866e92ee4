"""Registration without the SDK's per-API-version type aliases.

Every azure-native resource carries ~20 aliases to the type tokens of older API versions
(`azure-native:keyvault/v20150601:Vault`, ...), so that stacks created by azure-native v1/v2
keep their resources. This platform's state starts on azure-native v3: no resource was ever
registered under those tokens. Resolving them is half the cost of running the program
(measured with `make bench`), so they are dropped; aliases the platform sets itself stay.
Revisit when upgrading azure-native to a major version that renames types.
"""
from typing import Optional

import pulumi


def _is_sdk_type_alias(alias) -> bool:
    return (
        isinstance(alias, pulumi.Alias)
        and isinstance(alias.type_, str)
        and alias.type_.startswith("azure-native:")
        and alias.name is ...
        and alias.parent is ...
        and alias.stack is ...
        and alias.project is ...
    )


def drop_sdk_type_aliases() -> None:
    def transform(args: pulumi.ResourceTransformationArgs) -> Optional[pulumi.ResourceTransformationResult]:
        aliases = args.opts.aliases or []
        kept = [a for a in aliases if not _is_sdk_type_alias(a)]
        if len(kept) == len(aliases):
            return None
        args.opts.aliases = kept
        return pulumi.ResourceTransformationResult(args.props, args.opts)

    pulumi.runtime.register_stack_transformation(transform)
