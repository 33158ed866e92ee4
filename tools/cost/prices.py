"""The price table (data/prices.json) and its refresh from Azure's public Retail Prices API.

Each row: a meter the estimator uses, its region ("global" for global services), the Retail Prices API's
`unitOfMeasure`, the on-demand unit price, where the price came from and when, and the API fields (`retail`)
that identify the meter when the table is refreshed.
API and response format: https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices
(`Items`, `NextPageLink`, OData `$filter` on serviceName, armRegionName, priceType; `currencyCode` query parameter).
"""
import datetime
import json
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRICES = os.path.join(ROOT, "data", "prices.json")
API = "https://prices.azure.com/api/retail/prices"
GLOBAL = "global"
# What the API calls the region of global meters (DNS, inter-region peering): no armRegionName, zone pricing.
_GLOBAL_LOCATIONS = ("", "Global", "Zone 1")


@dataclass(frozen=True)
class PriceRow:
    meter: str
    region: str
    unit: str
    price: Decimal
    source: str
    date: str
    retail: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"meter": self.meter, "region": self.region, "unit": self.unit, "price": str(self.price), "source": self.source, "date": self.date, "retail": self.retail}


@dataclass
class PriceTable:
    currency: str
    region: str
    date: str
    rows: list[PriceRow]
    description: str = ""

    def __post_init__(self) -> None:
        self._index = {(r.meter, r.region): r for r in self.rows}

    def get(self, meter: str, region: str) -> Optional[PriceRow]:
        return self._index.get((meter, region)) or self._index.get((meter, GLOBAL))

    def as_json(self) -> dict[str, Any]:
        return {"description": self.description, "currency": self.currency, "region": self.region, "date": self.date, "rows": [r.as_json() for r in self.rows]}


def parse_table(document: dict[str, Any]) -> PriceTable:
    rows = [
        PriceRow(r["meter"], r["region"], r["unit"], Decimal(str(r["price"])), r["source"], r["date"], dict(r.get("retail", {})))
        for r in document["rows"]
    ]
    return PriceTable(document["currency"], document["region"], document["date"], rows, document.get("description", ""))


def load_prices(path: str = PRICES) -> PriceTable:
    with open(path, encoding="utf-8") as f:
        return parse_table(json.load(f))


def write_prices(table: PriceTable, path: str = PRICES) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(table.as_json(), f, indent=1)
        f.write("\n")


# -- refresh ----------------------------------------------------------------------------------------------------------

Fetch = Callable[[str], dict[str, Any]]


def fetch_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (a fixed https endpoint)
        return json.load(response)


def query_url(region: str, services: list[str], currency: str) -> str:
    """One query per region: the services the table uses, on-demand ("Consumption") prices only."""
    where = " or ".join(f"serviceName eq '{s}'" for s in sorted(services))
    place = "" if region == GLOBAL else f"armRegionName eq '{region}' and "
    query = {"currencyCode": f"'{currency}'", "$filter": f"{place}priceType eq 'Consumption' and ({where})"}
    return f"{API}?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}"


def fetch_items(url: str, fetch: Fetch) -> list[dict[str, Any]]:
    """Every page of a query, following NextPageLink."""
    items: list[dict[str, Any]] = []
    next_url: Optional[str] = url
    while next_url:
        page = fetch(next_url)
        items.extend(page.get("Items", []))
        next_url = page.get("NextPageLink")
    return items


def _matches(row: PriceRow, item: dict[str, Any]) -> bool:
    if item.get("type") != "Consumption" or item.get("unitOfMeasure") != row.unit:
        return False
    if row.region == GLOBAL:
        if (item.get("armRegionName") or "") not in ("", GLOBAL) and item.get("location") not in _GLOBAL_LOCATIONS:
            return False
    elif item.get("armRegionName") != row.region:
        return False
    # Spot, low-priority and Windows meters share a SKU's name; the table prices Linux on-demand only.
    if any(word in f"{item.get('productName', '')} {item.get('meterName', '')}" for word in ("Spot", "Low Priority", "Windows")):
        return False
    return all(item.get(k) == v for k, v in row.retail.items())


@dataclass
class RefreshResult:
    table: PriceTable
    updated: list[str]
    unmatched: list[str]


def refresh(table: PriceTable, fetch: Fetch = fetch_json, today: Optional[str] = None) -> RefreshResult:
    """A new table with every row the API answers for re-priced and re-sourced; rows it does not answer stay as they were."""
    today = today or datetime.date.today().isoformat()
    by_region: dict[str, set[str]] = {}
    for row in table.rows:
        if row.retail.get("serviceName"):
            by_region.setdefault(row.region, set()).add(row.retail["serviceName"])
    items: dict[str, list[dict[str, Any]]] = {}
    urls: dict[str, str] = {}
    for region, services in sorted(by_region.items()):
        urls[region] = query_url(region, sorted(services), table.currency)
        items[region] = fetch_items(urls[region], fetch)
    rows, updated, unmatched = [], [], []
    for row in table.rows:
        found = [i for i in items.get(row.region, []) if _matches(row, i)]
        # Tiered meters (blob storage above 50 TB, ...) come as one item per tier: the platform's volumes are in the first.
        found = sorted(found, key=lambda i: Decimal(str(i.get("tierMinimumUnits", 0))))
        if not found:
            unmatched.append(f"{row.meter} ({row.region})")
            rows.append(row)
            continue
        item = found[0]
        source = f"{API} {item.get('productName')} / {item.get('meterName')} (meterId {item.get('meterId')}, effective {str(item.get('effectiveStartDate', ''))[:10]})"
        rows.append(PriceRow(row.meter, row.region, row.unit, Decimal(str(item["unitPrice"])), source, today, row.retail))
        updated.append(row.meter)
    return RefreshResult(PriceTable(table.currency, table.region, today, rows, table.description), updated, unmatched)
