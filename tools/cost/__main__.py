"""Cost governance from the command line.

    python -m tools.cost estimate <stack> [--plan build/plan-<stack>.json]   the stack's monthly cost
    python -m tools.cost compare --unit <name> [--shared dev] [--template prod]  shared versus dedicated for a unit
    python -m tools.cost refresh-prices [--recorded PAGE.json ...] [--out PATH]  re-price data/prices.json from the Retail Prices API
    python -m tools.cost readme [--unit civil]                                 the README's "What it costs" numbers
"""
import argparse
import json
import sys
from typing import Any, Optional

from stacks.config import ConfigError, load_config

from ..plan import resource_entry
from ..preview import UsageError, run_stack, stack_settings
from .compare import compare, comparison_lines
from .prices import PRICES, fetch_json, load_prices, refresh, write_prices
from .report import cost_section, summary_lines


def stack_cost(stack: str, plan_path: Optional[str] = None) -> dict[str, Any]:
    settings = stack_settings(stack)
    cfg = load_config(stack, settings)
    if plan_path:
        with open(plan_path, encoding="utf-8") as f:
            resources = json.load(f)["resources"]
    else:
        resources = [resource_entry(r) for r in run_stack(stack, settings).resources]
    return cost_section(stack, resources, cfg.cost_assumptions)


def recorded_fetch(paths: list[str]):
    """Serve recorded API pages: the first for the first request, each page's NextPageLink for the next."""
    pages = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            pages.append(json.load(f))
    by_link = {p.get("NextPageLink"): n for p, n in zip(pages, pages[1:])}

    def fetch(url: str) -> dict[str, Any]:
        return by_link.get(url, pages[0])

    return fetch


def readme(unit: str) -> list[str]:
    prices = load_prices()
    dev, prod = stack_cost("dev"), stack_cost("prod")
    c = prices.currency
    lines = [
        f"Prices: `data/prices.json` ({prices.region}, {c}, on-demand, {prices.date}); assumptions: `costAssumptions` in the stack files.",
        "",
        f"| stack | per month ({c}) | nodes at min-max | off-hours saving | one more environment | unpriced |",
        "|---|---|---|---|---|---|",
    ]
    for name, section in (("dev", dev), ("prod", prod)):
        more = section["marginalEnvironment"]
        lines.append(
            f"| `{name}` | {section['total']} | {section['range']['min']}-{section['range']['max']} | {section['offHoursSaving']} | "
            f"+{more['monthly']} (average today {section['averagePerEnvironment']}) | {len(section['unpriced'])} ({', '.join(sorted({u['meter'].split(':')[-1] for u in section['unpriced']}))}) |"
        )
    shared, dedicated = compare(unit, prices)
    lines += ["", *comparison_lines(unit, shared, dedicated, c)]
    return lines


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cost", description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("estimate", help="a stack's monthly cost")
    one.add_argument("stack")
    one.add_argument("--plan", help="a plan file written by tools.preview (default: run the stack under mocks)")
    one.add_argument("--json", dest="json_path", help="write the cost section here")
    two = commands.add_parser("compare", help="shared versus dedicated for one unit")
    two.add_argument("--unit", required=True)
    two.add_argument("--shared", default="dev")
    two.add_argument("--template", default="prod", help="the production stack a prod-<unit> stack is derived from")
    three = commands.add_parser("refresh-prices", help="re-price the table from https://prices.azure.com/api/retail/prices")
    three.add_argument("--prices", default=PRICES)
    three.add_argument("--out", help="where to write the table (default: over --prices)")
    three.add_argument("--recorded", nargs="+", help="recorded API pages instead of the network (first page first)")
    four = commands.add_parser("readme", help="the numbers of the README's 'What it costs'")
    four.add_argument("--unit", default="civil")
    args = parser.parse_args(argv)
    try:
        if args.command == "estimate":
            section = stack_cost(args.stack, args.plan)
            print("\n".join(summary_lines(section)))
            for key, amount in section["byEnvironment"].items():
                print(f"  {key}: {amount} {section['currency']}/month")
            if args.json_path:
                with open(args.json_path, "w", encoding="utf-8") as f:
                    json.dump(section, f, indent=1)
        elif args.command == "compare":
            prices = load_prices()
            shared, dedicated = compare(args.unit, prices, args.shared, args.template)
            print("\n".join(comparison_lines(args.unit, shared, dedicated, prices.currency)))
        elif args.command == "refresh-prices":
            result = refresh(load_prices(args.prices), recorded_fetch(args.recorded) if args.recorded else fetch_json)
            write_prices(result.table, args.out or args.prices)
            print(f"{len(result.updated)} prices refreshed; {len(result.unmatched)} rows kept as they were: {', '.join(result.unmatched) or '-'}")
        else:
            print("\n".join(readme(args.unit)))
    except ConfigError as e:
        return failed(e.problems)
    except (UsageError, OSError, ValueError) as e:
        return failed([str(e)])
    return 0


def failed(problems: list[str]) -> int:
    """Exit status 2 (bad input), as tools.preview: each problem on its own line."""
    print("\n".join(f"error: {p}" for p in problems), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
