"""refresh-non-production-reads-own-exports-only over the Analyzer gRPC protocol: the grant stacks/refresh.py makes is
compliant; a broader role, a scope on the account (or the backups container, the vault, the server) instead of the
exports container, a missing or widened condition, another unit's prefix are refused, for a grant marked by its
description and for one whose principal the pack config lists."""
import pytest
from test_policies import T, assert_stack_variants, entry, pack  # noqa: F401

from components.interfaces import blob_prefix_condition

SUBSCRIPTION = "/subscriptions/00000000-0000-4000-8000-000000000001"
ACCOUNT = f"{SUBSCRIPTION}/resourceGroups/rg-acme-prod-weu-data/providers/Microsoft.Storage/storageAccounts/stacmeprodweu"
EXPORTS = f"{ACCOUNT}/blobServices/default/containers/exports"
BACKUPS = f"{SUBSCRIPTION}/resourceGroups/rg-acme-prod-weu-data/providers/Microsoft.Storage/storageAccounts/stacmeprodweubak/blobServices/default/containers/backups"
VAULT_SECRET = f"{SUBSCRIPTION}/resourceGroups/rg-acme-prod-weu-management/providers/Microsoft.KeyVault/vaults/kv-acme-prod-weu/secrets/pg-gc-prod-password-1a2b3c"
SERVER = f"{SUBSCRIPTION}/resourceGroups/rg-acme-prod-weu-data/providers/Microsoft.DBforPostgreSQL/flexibleServers/psql-acme-prod-weu"
ROLES = f"{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"
READER, CONTRIBUTOR, OWNER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "ba92f5b4-2d11-453d-a403-e96b0029c9fe", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
PRINCIPAL = "62460d24-6f1b-5467-82fc-482d809d4525"
MARK = "odoo-platform: refresh reader for non-production dev gc/uat"


def grant(role=READER, scope=EXPORTS, condition=blob_prefix_condition("gc/uat/"), description=MARK, version="2.0", name="reader") -> dict:
    inputs = {"roleDefinitionId": ROLES + role, "scope": scope, "principalId": PRINCIPAL, "principalType": "ServicePrincipal", "description": description}
    if condition is not None:
        inputs |= {"condition": condition, "conditionVersion": version}
    return entry("prod", T + "authorization:RoleAssignment", inputs, name)


UNMARKED = "odoo-platform: Storage Blob Data Reader"
STACK_CASES = [
    ("refresh-non-production-reads-own-exports-only", "prod",
     [("as-the-platform-grants", [grant()]),
      ("whole-unit-prefix", [grant(condition=blob_prefix_condition("gc/"))]),
      ("production-identities-untouched", [grant(role=CONTRIBUTOR, scope=BACKUPS, condition=None, description="odoo-platform: Storage Blob Data Contributor")]),
      ("scope-case-and-slash", [grant(scope=EXPORTS.upper() + "/")])],
     [("broader-role", [grant(role=CONTRIBUTOR)]),
      ("owner-role", [grant(role=OWNER)]),
      ("scope-on-the-account", [grant(scope=ACCOUNT)]),
      ("backups-container", [grant(scope=BACKUPS, condition=blob_prefix_condition("gc-prod/"))]),
      ("key-vault-secret", [grant(role="4633458b-17de-408a-b874-0445c86b69e6", scope=VAULT_SECRET, condition=None)]),
      ("database-server", [grant(role="acdd72a7-3385-48ef-bd42-f606fba81ae7", scope=SERVER, condition=None)]),
      ("condition-missing", [grant(condition=None)]),
      ("condition-version-missing", [grant(version="")]),
      ("another-units-prefix", [grant(condition=blob_prefix_condition("civil/uat/"))]),
      ("prefix-only-on-reads-not-listings", [grant(condition=blob_prefix_condition("gc/uat/").split(" AND ((!")[0])]),
      ("condition-or-true", [grant(condition=blob_prefix_condition("gc/uat/") + " OR true")]),
      ("empty-prefix", [grant(condition=blob_prefix_condition(""))])]),
]


@pytest.mark.parametrize("policy,stack,compliant,violating", STACK_CASES, ids=[c[0] for c in STACK_CASES])
def test_refresh_policy(pack, policy, stack, compliant, violating):
    assert_stack_variants(pack, policy, stack, compliant, violating)


def test_principals_listed_in_the_config_are_held_to_the_same_rule_without_the_description(pack):
    """A grant made by hand carries no marker: the pack config names the non-production principal and its unit."""
    policy = STACK_CASES[0][0]
    config = {policy: {"nonProductionPrincipals": {PRINCIPAL: "gc"}}}
    assert_stack_variants(pack, policy, "prod", [("listed-and-narrow", [grant(description=UNMARKED)])],
                          [("listed-on-the-account", [grant(description=UNMARKED, scope=ACCOUNT)]),
                           ("listed-with-contributor", [grant(description=UNMARKED, role=CONTRIBUTOR)])], config=config)


def test_not_applied_to_non_production_stacks(pack):
    policy = STACK_CASES[0][0]
    assert_stack_variants(pack, policy, "dev", [("dev-may-grant-its-own", [{**grant(role=CONTRIBUTOR), "urn": grant()["urn"].replace(":prod::", ":dev::")}])], [])
