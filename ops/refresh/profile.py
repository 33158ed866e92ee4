"""Masking profiles as data: which tables and columns are masked and how (profiles/<name>.yaml, README.md
"Refreshing non-production"). A profile may `extends:` another and add or override tables: custom models need no code.

    profile = load("odoo-construction")                      # a shipped profile
    profile = load("/etc/refresh/acme.yaml")                  # a file (mounted from a ConfigMap)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from typing import Any, Optional

from ops.backup.errors import EXIT_USAGE, OpsError

PROFILES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles")
DEFAULT_PROFILE = "odoo-construction"

# method -> the options it takes (with defaults)
METHODS: dict[str, dict[str, Any]] = {
    "name": {}, "email": {}, "phone": {}, "iban": {}, "vat": {}, "identifier": {}, "street": {}, "filename": {},
    "amount": {"ratio": 0.25}, "date": {"days": 180}, "text": {"value": "[masked]"}, "clear": {}, "constant": {"value": ""},
    "random_uuid": {}, "keep": {},
}
# Methods whose source values identify a person or an account: sampled before masking and searched for afterwards.
IDENTIFYING = {"name": "name", "email": "email", "phone": "phone", "iban": "iban", "vat": "vat", "identifier": "identifier", "street": "street"}
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclasses.dataclass(frozen=True)
class Rule:
    method: str
    options: tuple[tuple[str, Any], ...] = ()
    where: Optional[str] = None

    def option(self, name: str) -> Any:
        return dict(self.options).get(name, METHODS[self.method].get(name))


@dataclasses.dataclass(frozen=True)
class TablePlan:
    columns: dict[str, tuple[Rule, ...]]
    delete: bool = False


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    tables: dict[str, TablePlan]
    attachments: str  # "placeholder" or "keep"
    sha256: str  # of the resolved profile, recorded with every export
    sources: tuple[str, ...]  # the files it was read from, base first


def available() -> list[str]:
    """The shipped profiles' names."""
    return sorted(f[:-5] for f in os.listdir(PROFILES_DIR) if f.endswith(".yaml"))


def _path(ref: str) -> str:
    if os.sep in ref or ref.endswith((".yaml", ".yml")):
        return ref
    return os.path.join(PROFILES_DIR, f"{ref}.yaml")


def _base_path(base: str, child: str) -> str:
    """`extends: <name>`: a file of that name beside the child, else a shipped profile; a path is relative to the child."""
    if os.sep in base or base.endswith((".yaml", ".yml")):
        return os.path.join(os.path.dirname(child), base)
    sibling = os.path.join(os.path.dirname(child), f"{base}.yaml")
    return sibling if os.path.exists(sibling) and os.path.abspath(sibling) != os.path.abspath(child) else _path(base)


def _read(ref: str) -> dict[str, Any]:
    import yaml

    path = _path(ref)
    try:
        with open(path, encoding="utf-8") as f:
            document = yaml.safe_load(f)
    except FileNotFoundError:
        raise OpsError("profile", f"no masking profile {ref!r} (shipped: {', '.join(available())})", obj=path, exit_code=EXIT_USAGE) from None
    except yaml.YAMLError as error:
        raise OpsError("profile", f"invalid YAML: {str(error).splitlines()[0]}", obj=path, exit_code=EXIT_USAGE) from None
    if not isinstance(document, dict):
        raise OpsError("profile", "must be a mapping with name and tables", obj=path, exit_code=EXIT_USAGE)
    document["_source"] = path
    return document


def _rule(where: str, value: Any, problems: list[str]) -> Optional[Rule]:
    if isinstance(value, str):
        value = {"method": value}
    if not isinstance(value, dict) or "method" not in value:
        problems.append(f"{where}: a method name or {{method: ..., <options>}}")
        return None
    method = value["method"]
    if method not in METHODS:
        problems.append(f"{where}: unknown method {method!r} (one of {', '.join(METHODS)})")
        return None
    options = {k: v for k, v in value.items() if k not in ("method", "where")}
    unknown = sorted(set(options) - set(METHODS[method]))
    if unknown:
        problems.append(f"{where}: method {method} takes no option {', '.join(unknown)}")
    if method == "amount" and not 0 < float(options.get("ratio", 0.25)) < 1:
        problems.append(f"{where}: ratio must be between 0 and 1")
    if method == "date" and not 0 < int(options.get("days", 180)) <= 3650:
        problems.append(f"{where}: days must be 1-3650")
    condition = value.get("where")
    if condition is not None and (not isinstance(condition, str) or ";" in condition):
        problems.append(f"{where}: where must be one SQL condition (no ';')")
    return Rule(method, tuple(sorted(options.items())), condition)


def _tables(document: dict[str, Any], problems: list[str]) -> dict[str, TablePlan]:
    source = document["_source"]
    tables: dict[str, TablePlan] = {}
    raw = document.get("tables") or {}
    if not isinstance(raw, dict):
        problems.append(f"{source}: tables: must be a mapping table -> columns")
        return tables
    for table, spec in raw.items():
        where = f"{source}: tables.{table}"
        if not isinstance(table, str) or not _IDENT.match(table):
            problems.append(f"{where}: not a PostgreSQL table name")
            continue
        if not isinstance(spec, dict):
            problems.append(f"{where}: must map columns to methods, or be {{delete: true}}")
            continue
        delete = bool(spec.get("delete", False))
        columns: dict[str, tuple[Rule, ...]] = {}
        for column, value in spec.items():
            if column == "delete":
                continue
            if not _IDENT.match(str(column)):
                problems.append(f"{where}.{column}: not a column name")
                continue
            rules = [_rule(f"{where}.{column}", v, problems) for v in (value if isinstance(value, list) else [value])]
            columns[column] = tuple(r for r in rules if r is not None)
        if delete and columns:
            problems.append(f"{where}: a deleted table has no column rules")
        tables[table] = TablePlan(columns, delete)
    return tables


def load(ref: str = DEFAULT_PROFILE) -> Profile:
    """The resolved profile (`extends` followed, a child's table replacing its base's column by column)."""
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: Optional[str] = ref
    while current:
        path = os.path.abspath(_path(current))
        if path in seen:
            raise OpsError("profile", f"extends goes round: {' -> '.join(d['_source'] for d in chain)}", obj=path, exit_code=EXIT_USAGE)
        seen.add(path)
        document = _read(current)
        chain.insert(0, document)
        base = document.get("extends")
        current = _base_path(base, path) if isinstance(base, str) and base else None
    problems: list[str] = []
    tables: dict[str, TablePlan] = {}
    attachments = "keep"
    for document in chain:
        for table, plan in _tables(document, problems).items():
            merged = {**tables[table].columns, **plan.columns} if table in tables and not plan.delete else plan.columns
            tables[table] = TablePlan(merged, plan.delete)
        attachments = document.get("attachments", attachments)
    if attachments not in ("placeholder", "keep"):
        problems.append(f"{chain[-1]['_source']}: attachments must be placeholder or keep")
    name = chain[-1].get("name") or os.path.basename(chain[-1]["_source"])[:-5]
    if problems:
        raise OpsError("profile", "; ".join(problems), obj=chain[-1]["_source"], exit_code=EXIT_USAGE)
    resolved = {t: {"delete": p.delete, "columns": {c: [dataclasses.asdict(r) for r in rs] for c, rs in sorted(p.columns.items())}}
                for t, p in sorted(tables.items())}
    digest = hashlib.sha256(json.dumps({"attachments": attachments, "tables": resolved}, sort_keys=True, default=str).encode()).hexdigest()
    return Profile(str(name), tables, str(attachments), digest, tuple(d["_source"] for d in chain))
