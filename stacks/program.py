"""The Pulumi program: read and validate the stack configuration once, then compose the stack."""
import json
from typing import Any

import pulumi

from components.aliases import drop_sdk_type_aliases
from components.tagging import platform_tags, tag_everything

from .config import PROJECT, ConfigError, StackConfig, load_config, setting_names


def _raw_settings() -> dict[str, Any]:
    """The stack's settings as the CLI (or the offline preview) hands them over; objects arrive as JSON."""
    config = pulumi.Config(PROJECT)
    raw: dict[str, Any] = {}
    for key in setting_names():
        value = config.get(key)
        if value is None:
            continue
        if value[:1] in ("{", "["):
            value = json.loads(value)
        raw[key] = value
    return raw


def load_stack_config() -> StackConfig:
    try:
        return load_config(pulumi.get_stack(), _raw_settings())
    except ConfigError as e:
        # RunError ends `pulumi up` with the message alone, no traceback.
        raise pulumi.RunError(f"invalid stack configuration:\n{e}") from None


def main() -> None:
    cfg = load_stack_config()
    tag_everything(platform_tags(cfg.tags.as_dict(), cfg.tier, cfg.stack))
    drop_sdk_type_aliases()
    if cfg.tenancy == "multi-tenant":
        from . import multi_tenant

        multi_tenant.build(cfg)
    else:
        from . import dedicated

        dedicated.build(cfg)
