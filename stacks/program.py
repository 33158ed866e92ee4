"""The Pulumi program: read and validate the stack configuration once, then compose the stack."""
import json
from typing import Any

import pulumi

from components.aliases import drop_sdk_type_aliases
from components.tagging import platform_tags, tag_everything

from .config import PROJECT, REMOVED_SETTINGS, ConfigError, StackConfig, json_settings, load_config, setting_names


def _raw_settings() -> dict[str, Any]:
    """The stack's settings as the CLI (or the offline preview) hands them over. Object and list
    settings (declared without `type:` or as `type: array` in Pulumi.yaml) arrive as JSON text;
    every other value is taken as written, even one that starts with `[` or `{`."""
    config = pulumi.Config(PROJECT)
    structured = json_settings()
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for key in [*setting_names(), *REMOVED_SETTINGS]:
        value = config.get(key)
        if value is None:
            continue
        if key in structured:
            try:
                value = json.loads(value)
            except ValueError as e:
                problems.append(f"{PROJECT}:{key} = {json.dumps(value[:80])}: must be an object or a list, written as YAML in the stack file (as JSON it does not parse: {e})")
                continue
        raw[key] = value
    if problems:
        raise ConfigError(problems)
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
