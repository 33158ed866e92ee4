"""Azure RBAC, diagnostics and the advisory rules of the pack, over the Analyzer gRPC protocol, with the variants
written to evade them (a role id in any case or form, a scope with a trailing slash, a principal type left out, a
diagnostic setting that exists but exports nothing)."""
import pytest
from test_policies import LOCATION, SUB, T, VAULT, assert_stack_variants, assert_variants, entry, only, pack  # noqa: F401

SUBSCRIPTION = "/subscriptions/00000000-0000-4000-8000-000000000001"
GROUP = f"{SUBSCRIPTION}/resourceGroups/rg-acme-dev-weu-data"
ACCOUNT = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/stacme"
ROLE_PATH = f"{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"
OWNER, CONTRIBUTOR, UAA = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c", "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
BLOB_OWNER, KV_ADMIN, BLOB_CONTRIBUTOR, READER = ("b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "00482a5a-887f-4fb3-b363-3b7fe8e74483",
                                                  "ba92f5b4-2d11-453d-a403-e96b0029c9fe", "acdd72a7-3385-48ef-bd42-f606fba81ae7")
ASSIGNMENT = T + "authorization:RoleAssignment"
IDENTITY = entry("dev", T + "managedidentity:UserAssignedIdentity", {**LOCATION, "resourceName": "id-odoo", "resourceGroupName": "rg"}, "id-odoo")


def grant(role: str, scope: str, principal_type="ServicePrincipal", role_form=None, **extra) -> dict:
    inputs = {"roleDefinitionId": role_form or ROLE_PATH + role, "scope": scope, "principalId": "cf3b6117-a367-598f-bb21-4f20225e622f"}
    return entry("dev", ASSIGNMENT, inputs | ({} if principal_type is None else {"principalType": principal_type}), "grant") | extra


DEFINITION = T + "authorization:RoleDefinition"
CUSTOM = "6f1c9a52-0d3e-5b7a-9c41-2f8e7d6b5a30"


def custom(*actions: str, data_actions=(), guid=CUSTOM) -> dict:
    inputs = {"roleDefinitionId": guid, "roleName": "odoo-platform custom", "scope": SUBSCRIPTION, "assignableScopes": [SUBSCRIPTION],
              "permissions": [{"actions": list(actions)} | ({"dataActions": list(data_actions)} if data_actions else {})]}
    return entry("dev", DEFINITION, inputs, f"custom-{guid[:4]}")


def custom_grant(scope: str, definition: dict, by_dependency: bool = False) -> dict:
    """A grant of `definition`: by its id, or (preview: the id is not known yet) by depending on it."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    if by_dependency:
        return grant(CUSTOM, scope, role_form=UNKNOWN_STRING_VALUE, dependencies=[definition["urn"]])
    return grant(CUSTOM, scope, role_form=ROLE_PATH + definition["inputs"]["roleDefinitionId"])


STATUS_READER = custom("Microsoft.Cache/locations/operationsStatus/read", "Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read")
KEY_ROTATOR = custom("Microsoft.Cache/redisEnterprise/databases/listKeys/action", "Microsoft.Cache/redisEnterprise/databases/regenerateKey/action")
DIAGNOSTIC = T + "monitor:DiagnosticSetting"
WORKSPACE = f"{SUB}/Microsoft.OperationalInsights/workspaces/log"
KV = entry("dev", T + "keyvault:Vault", VAULT, "kv")
AMR = entry("dev", T + "redisenterprise:RedisEnterprise", {**LOCATION, "clusterName": "redis", "resourceGroupName": "rg-data"}, "redis")


def setting(target: str, name="diag", workspace=WORKSPACE, logs=None, metrics=None) -> dict:
    inputs = {"resourceUri": target, "name": "to-log-analytics"} | ({} if workspace is None else {"workspaceId": workspace})
    return entry("dev", DIAGNOSTIC, inputs | ({} if logs is None else {"logs": logs}) | ({} if metrics is None else {"metrics": metrics}), name)


VAULT_ID = f"{SUB}/Microsoft.KeyVault/vaults/kv"
REDIS_ID = f"{SUB}/Microsoft.Cache/redisEnterprise/redis"
AUDIT = [{"category": "AuditEvent", "enabled": True}]

# (policy, stack, compliant variants, violating variants); a variant is (label, resource entries)
STACK_CASES = [
    ("azure-no-privileged-roles-for-workloads", "dev",
     [("narrow-roles-as-the-platform-grants", [grant(BLOB_CONTRIBUTOR, GROUP), grant(READER, SUBSCRIPTION)]),
      ("owner-to-a-person", [grant(OWNER, SUBSCRIPTION, "User")]),
      ("contributor-to-admin-group", [grant(CONTRIBUTOR, GROUP, "Group")]),
      ("blob-owner-on-one-account", [grant(BLOB_OWNER, ACCOUNT)]),
      ("unknown-principal-from-outside-the-stack", [grant(OWNER, GROUP, None)]),
      ("custom-read-only-role-at-subscription", [STATUS_READER, custom_grant(SUBSCRIPTION, STATUS_READER)]),
      ("custom-read-only-role-pending", [STATUS_READER, custom_grant(SUBSCRIPTION, STATUS_READER, by_dependency=True)]),
      ("custom-key-role-on-one-resource", [KEY_ROTATOR, custom_grant(REDIS_ID + "/databases/default", KEY_ROTATOR)]),
      ("custom-wildcard-role-to-a-person", [custom("*"), custom_grant(SUBSCRIPTION, custom("*")) | {"inputs": custom_grant(SUBSCRIPTION, custom("*"))["inputs"] | {"principalType": "User"}}])],
     [("owner-subscription", [grant(OWNER, SUBSCRIPTION)]),
      ("contributor-group", [grant(CONTRIBUTOR, GROUP)]),
      ("user-access-administrator", [grant(UAA, GROUP)]),
      ("data-plane-owner", [grant(BLOB_OWNER, GROUP)]),
      ("key-vault-administrator", [grant(KV_ADMIN, SUBSCRIPTION)]),
      ("bare-guid", [grant(OWNER, GROUP, role_form=OWNER)]),
      ("upper-case-path", [grant(OWNER, GROUP, role_form=(ROLE_PATH + OWNER).upper())]),
      ("tenant-level-path", [grant(OWNER, GROUP, role_form=f"/providers/Microsoft.Authorization/roleDefinitions/{OWNER}")]),
      ("scope-trailing-slash-and-case", [grant(CONTRIBUTOR, GROUP.upper() + "/")]),
      ("management-group", [grant(OWNER, "/providers/Microsoft.Management/managementGroups/acme")]),
      ("principal-type-case", [grant(OWNER, GROUP, "serviceprincipal")]),
      ("managed-identity-without-principal-type", [IDENTITY, grant(OWNER, GROUP, None, dependencies=[IDENTITY["urn"]])]),
      ("custom-wildcard", [custom("*"), custom_grant(GROUP, custom("*"))]),
      ("custom-provider-wildcard", [custom("Microsoft.Storage/*"), custom_grant(SUBSCRIPTION, custom("Microsoft.Storage/*"))]),
      ("custom-write-everything", [custom("*/write"), custom_grant(GROUP, custom("*/write"))]),
      ("custom-rbac-writer-upper-case", [custom("MICROSOFT.AUTHORIZATION/roleAssignments/write"),
                                         custom_grant(SUBSCRIPTION, custom("MICROSOFT.AUTHORIZATION/roleAssignments/write"))]),
      ("custom-key-role-at-group", [KEY_ROTATOR, custom_grant(GROUP, KEY_ROTATOR)]),
      ("custom-list-storage-keys", [custom("Microsoft.Storage/storageAccounts/listKeys/action"),
                                    custom_grant(GROUP, custom("Microsoft.Storage/storageAccounts/listKeys/action"))]),
      ("custom-data-wildcard", [custom("Microsoft.Storage/storageAccounts/read", data_actions=["Microsoft.Storage/*"]),
                                custom_grant(GROUP, custom("Microsoft.Storage/storageAccounts/read", data_actions=["Microsoft.Storage/*"]))]),
      ("custom-pending-id-by-dependency", [custom("*"), custom_grant(GROUP, custom("*"), by_dependency=True)]),
      ("custom-among-harmless-ones", [STATUS_READER, custom("*", guid="0b7e3f7c-55a1-5d0e-8f3b-9a6c2d1e4f50"),
                                      custom_grant(GROUP, custom("*", guid="0b7e3f7c-55a1-5d0e-8f3b-9a6c2d1e4f50"))])]),
    ("diagnostic-settings-present", "dev",
     [("category", [KV, setting(VAULT_ID, logs=AUDIT)]),
      ("all-logs", [KV, setting(VAULT_ID, logs=[{"categoryGroup": "allLogs", "enabled": True}])]),
      ("audit-group-any-case", [KV, setting(VAULT_ID.lower(), logs=[{"categoryGroup": "AUDIT", "enabled": True}])]),
      ("one-good-setting-among-others", [KV, setting(VAULT_ID, "off", logs=[{"category": "AuditEvent", "enabled": False}]), setting(VAULT_ID, logs=AUDIT)]),
      ("metrics-only-resource", [AMR, setting(REDIS_ID, metrics=[{"category": "AllMetrics", "enabled": True}])])],
     [("none", [KV]),
      ("category-disabled", [KV, setting(VAULT_ID, logs=[{"category": "AuditEvent", "enabled": False}])]),
      ("enabled-left-out", [KV, setting(VAULT_ID, logs=[{"category": "AuditEvent"}])]),
      ("other-category-group", [KV, setting(VAULT_ID, logs=[{"categoryGroup": "someLogs", "enabled": True}])]),
      ("other-category", [KV, setting(VAULT_ID, logs=[{"category": "AzurePolicyEvaluationDetails", "enabled": True}])]),
      ("metrics-only", [KV, setting(VAULT_ID, metrics=[{"category": "AllMetrics", "enabled": True}])]),
      ("not-to-log-analytics", [KV, setting(VAULT_ID, workspace=None, logs=AUDIT) | {"inputs": {"resourceUri": VAULT_ID, "storageAccountId": ACCOUNT, "logs": AUDIT}}]),
      ("other-resource", [KV, setting(f"{SUB}/Microsoft.KeyVault/vaults/kv-other", logs=AUDIT)]),
      ("metrics-only-resource-disabled", [AMR, setting(REDIS_ID, metrics=[{"category": "AllMetrics", "enabled": False}])])]),
]


SERVER = entry("dev", T + "dbforpostgresql:Server", {**LOCATION, "serverName": "psql", "resourceGroupName": "rg", "version": "17"}, "psql")
REPLICA = entry("dev", T + "dbforpostgresql:Server", {**LOCATION, "serverName": "psql-dr", "resourceGroupName": "rg", "createMode": "Replica"}, "psql-dr")


def parameter(name: str, value: str, label: str = "param") -> dict:
    inputs = {"serverName": "psql", "resourceGroupName": "rg", "configurationName": name, "value": value, "source": "user-override"}
    return entry("dev", T + "dbforpostgresql:Configuration", inputs, label)


STACK_CASES.append(
    ("postgres-log-connections", "dev",
     [("on", [SERVER, parameter("log_connections", "on")]), ("upper", [SERVER, parameter("log_connections", "ON")]),
      ("pg18-aspects", [SERVER, parameter("log_connections", "receipt,authentication,authorization")]),
      ("pg18-all", [SERVER, parameter("log_connections", "all")]), ("replica-takes-its-primarys", [REPLICA])],
     [("not-set", [SERVER]), ("off", [SERVER, parameter("log_connections", "off")]), ("upper-name", [SERVER, parameter("LOG_CONNECTIONS", "OFF")]),
      ("false", [SERVER, parameter("log_connections", "false")]), ("zero", [SERVER, parameter("log_connections", "0")]),
      ("pg18-none", [SERVER, parameter("log_connections", "")]),
      ("other-parameter-on", [SERVER, parameter("log_disconnections", "on")])]))


@pytest.mark.parametrize("policy,stack,compliant,violating", STACK_CASES, ids=[c[0] for c in STACK_CASES])
def test_azure_stack_policy(pack, policy, stack, compliant, violating):
    assert_stack_variants(pack, policy, stack, compliant, violating)


SECRET = T + "keyvault:Secret"


def secret(**attributes) -> dict:
    return {"vaultName": "kv", "resourceGroupName": "rg", "secretName": "pg-admin-password-8dbdf8",
            "properties": {"value": "[secret]", "contentType": "password"} | ({"attributes": attributes} if attributes else {})}


# (policy, stack, compliant variants, violating variants); a variant is (label, type, inputs)
CASES = [
    ("keyvault-secret-expiry", "dev",
     [("expires", SECRET, secret(expires=1798761600)), ("arm-name", SECRET, secret(exp=1798761600, enabled=True))],
     [("no-attributes", SECRET, secret()), ("attributes-without-expiry", SECRET, secret(enabled=True, notBefore=1767225600)),
      ("zero", SECRET, secret(expires=0)), ("date-string", SECRET, secret(expires="2027-01-01"))]),
]


@pytest.mark.parametrize("policy,stack,compliant,violating", CASES, ids=[c[0] for c in CASES])
def test_azure_policy(pack, policy, stack, compliant, violating):
    assert_variants(pack, policy, stack, compliant, violating)


def test_values_unknown_in_preview_skip_a_resource_not_the_rule(pack):
    """During `pulumi preview` a new resource's id is unknown: the setting is matched by what it was computed from, and
    an assignment whose scope is unknown is judged at `pulumi up` while the others are judged now."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    diagnostics = only(pack, "diagnostic-settings-present")
    pending = setting(UNKNOWN_STRING_VALUE, logs=AUDIT) | {"dependencies": [KV["urn"]]}
    assert [v.policy for v in pack.analyze([KV, pending], "odoo-platform", "dev", diagnostics).violations] == []
    assert [v.policy for v in pack.analyze([KV, pending | {"dependencies": []}], "odoo-platform", "dev", diagnostics).violations] == ["diagnostic-settings-present"]
    unknown_scope = grant(OWNER, UNKNOWN_STRING_VALUE) | {"name": "later", "urn": grant(OWNER, GROUP)["urn"] + "-later"}
    found = pack.analyze([unknown_scope, grant(OWNER, GROUP)], "odoo-platform", "dev", only(pack, "azure-no-privileged-roles-for-workloads")).violations
    assert [v.urn.rsplit("::", 1)[-1] for v in found] == ["grant"]
