"""Reading `Pulumi.<stack>.yaml` and `Pulumi.yaml` the way the Pulumi CLI does, with errors a person can act on.

PyYAML speaks YAML 1.1, where `startTime: 20:00` is the integer 1200 (base 60), `on`/`no` are
booleans, `2026-12-21` is a date object (which then cannot be written as JSON) and `010` is 8.
The Pulumi CLI (Go, YAML 1.2) reads none of those that way. `StackFileLoader` resolves plain
scalars like YAML 1.2's core schema, narrowed to what a stack setting can mean:

- `true`/`false` (and `True`, `TRUE`, ...) are booleans; `yes`, `no`, `on`, `off` stay text;
- `null`, `~` and an empty value are null;
- decimal integers without leading zeros (`30`, `-1`) are integers;
- everything else stays the text the user wrote: times (`20:00`), dates (`2026-12-21`),
  versions (`17.0`), `1_000`, `0o17`, `010`, `0x1F`. A setting that wants a number parses
  the text itself, and an error shows the value as written.

It also reports, instead of silently accepting, a key given twice in one mapping (YAML keeps
the last) and a key that is not a string (`1:` or `true:`). Every such problem is collected,
then raised at once as `StackFileError`; a syntax error or a file that is not UTF-8 is one line
naming the file, the line and the column.
"""
import re
from typing import Any

import yaml

from stacks.config import ConfigError

BOOL_TAG, INT_TAG, NULL_TAG, MERGE_TAG = (f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "null", "merge"))


class StackFileError(ConfigError):
    """A stack file that cannot be read as intended: one line per problem, each naming the file and the line."""


class StackFileLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2-like scalars (see the module docstring) that collects duplicate and non-string keys."""

    yaml_implicit_resolvers: dict = {}

    def __init__(self, stream: Any, source: str = "<stack file>"):
        super().__init__(stream)
        self.source = source
        self.problems: list[str] = []

    def _where(self, mark: Any) -> str:
        return f"{self.source}:{mark.line + 1}:{mark.column + 1}"

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else type(key).__name__
                    self.problems.append(f'{self._where(key_node.start_mark)}: key {shown} is not a name; write keys as text (quote it: "{shown}")')
                    continue
                if key in seen:
                    first = seen[key]
                    self.problems.append(f"{self._where(key_node.start_mark)}: key {key!r} is given twice (first on line {first.line + 1}); YAML would keep only the last, so give it once")
                else:
                    seen[key] = key_node.start_mark
        mapping = super().construct_mapping(node, deep=deep)
        # Non-string keys are reported above; drop them so nothing downstream trips over them.
        return {k: v for k, v in mapping.items() if isinstance(k, str)}


# Resolvers: YAML 1.2 core, narrowed (module docstring). The first characters each regex may start with.
StackFileLoader.add_implicit_resolver(BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
StackFileLoader.add_implicit_resolver(INT_TAG, re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*))$"), list("-+0123456789"))
StackFileLoader.add_implicit_resolver(NULL_TAG, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
StackFileLoader.add_implicit_resolver(MERGE_TAG, re.compile(r"^(?:<<)$"), ["<"])


def _bool(loader: StackFileLoader, node: Any) -> bool:
    return loader.construct_scalar(node).lower() == "true"


def _int(loader: StackFileLoader, node: Any) -> Any:
    text = loader.construct_scalar(node)
    # Only plain decimal integers are resolved to int; an explicit !!int tag on anything else stays text.
    return int(text) if re.fullmatch(r"[-+]?(?:0|[1-9][0-9]*)", text) else text


StackFileLoader.add_constructor(BOOL_TAG, _bool)
StackFileLoader.add_constructor(INT_TAG, _int)
# Explicit !!timestamp and !!float would bring back the YAML 1.1 surprises: keep their text.
StackFileLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)
StackFileLoader.add_constructor("tag:yaml.org,2002:float", yaml.SafeLoader.construct_yaml_str)


def parse(text: str, source: str) -> Any:
    """The document in `text` (read from `source`, named in errors). Raises StackFileError."""
    loader = StackFileLoader(text, source)
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = " ".join(filter(None, (e.context, e.problem))) or "syntax error"
        raise StackFileError([f"{where}: invalid YAML: {problem}"]) from None
    except yaml.YAMLError as e:
        raise StackFileError([f"{source}: invalid YAML: {str(e).splitlines()[0]}"]) from None
    finally:
        loader.dispose()
    if loader.problems:
        raise StackFileError(loader.problems)
    return document


def load(path: str, source: str = "") -> Any:
    """The YAML document in the file at `path`. Raises FileNotFoundError, or StackFileError naming `source` (default: path)."""
    source = source or path
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise StackFileError([f"{source}:{line}:{column}: is not UTF-8 text (byte 0x{data[e.start]:02x}); save the file as UTF-8"]) from None
    return parse(text, source)
