"""`python -m tools.role_ids [--stacks GLOB]`: the role definition GUIDs the stacks assign, comma-separated: the
built-in roles (components/interfaces.py ROLES) and each stack's custom roles (stacks/shared.py custom_role_names).
The deploying identity's RBAC condition lists exactly these (docs/running-for-real.md), so it can make every
assignment the stacks declare and no other."""
import argparse
import sys
from typing import Optional

from components.interfaces import ROLES, custom_role_id
from stacks.config import load_config
from stacks.shared import custom_role_names

from .fleet import discover
from .preview import ROOT, stack_settings


def role_ids(stacks: list[str]) -> list[str]:
    ids = list(ROLES.values())
    for stack in stacks:
        naming = load_config(stack, stack_settings(stack)).naming
        ids += [custom_role_id(name) for name in custom_role_names(naming).values()]
    return sorted(set(ids))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.role_ids", description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", default="*", help="glob over stack names (default every Pulumi.<stack>.yaml)")
    args = parser.parse_args(argv)
    print(", ".join(role_ids(discover(ROOT, args.stacks))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
