"""Regenerate the policy table in policies/README.md from the pack's own rules (`make policy-docs`)."""
import os
import re
import sys

from .preview import POLICY_DIR

BEGIN, END = "<!-- policy-table:begin -->", "<!-- policy-table:end -->"


def table() -> str:
    sys.path.insert(0, POLICY_DIR)
    from rules import DOCS, all_policies  # type: ignore[import-not-found]

    all_policies()
    rows = ["| policy | enforces | tier | level | Checkov | control |", "|---|---|---|---|---|---|"]
    rows += [f"| `{d.name}` | {d.description} | {d.tier} | {d.level} | {d.checkov} | {d.control} |" for d in DOCS]
    return "\n".join(rows)


def main() -> int:
    path = os.path.join(POLICY_DIR, "README.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    updated = re.sub(f"{re.escape(BEGIN)}.*{re.escape(END)}", f"{BEGIN}\n{table()}\n{END}", text, flags=re.S)
    with open(path, "w", encoding="utf-8") as f:
        f.write(updated)
    print(f"{path}: {updated.count(chr(10) + '| `')} policies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
