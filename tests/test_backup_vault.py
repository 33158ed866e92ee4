"""BackupVault under the Azure mocks, in a program of its own: vault hardening, the PostgreSQL long-term retention and
blob operational policies, the instances, the vault identity's grants, lock and protect."""
import json
from dataclasses import replace

import pulumi
import pytest
from pulumi_azure_native import dbforpostgresql

from components.backup_vault import BackupVault, BackupVaultArgs, PostgresRetention, max_operational_days
from components.interfaces import Diagnostics
from components.naming import Naming
from components.tier import Tier
from tools.mocks import SUBSCRIPTION_ID, arm_id, resource_group_id, stable_uuid
from tools.recording import RecordedResource, Recording, run_program

COMPONENT = "odoo-platform:backup:BackupVault"
VAULT = "azure-native:dataprotection:BackupVault"
POLICY = "azure-native:dataprotection:BackupPolicy"
INSTANCE = "azure-native:dataprotection:BackupInstance"
ROLE = "azure-native:authorization:RoleAssignment"
LOCK = "azure-native:authorization:ManagementLockByScope"
DIAG = "azure-native:monitor:DiagnosticSetting"

SERVER_ID = arm_id("azure-native:dbforpostgresql:Server", "psql", {"serverName": "psql-acme-prod-weu", "resourceGroupName": "rg-acme-prod-weu-data"})
ACCOUNT_ID = arm_id("azure-native:storage:StorageAccount", "st", {"accountName": "stacmeprodweu", "resourceGroupName": "rg-acme-prod-weu-data"})
WORKSPACE_ID = arm_id("azure-native:operationalinsights:Workspace", "log", {"workspaceName": "log-acme-prod-weu", "resourceGroupName": "rg-acme-prod-weu-ops"})
# What the mocks answer for a system-assigned identity (tools/mocks.py `_identity`), computed here independently.
VAULT_PRINCIPAL = stable_uuid("principal", json.dumps({"type": "SystemAssigned"}, sort_keys=True))


def args(**overrides) -> BackupVaultArgs:
    base = BackupVaultArgs(
        naming=Naming("acme", "prod", "westeurope"),
        tier=Tier.PRODUCTION,
        resource_group_name="rg-acme-prod-weu-backup",
        location="westeurope",
        postgres_server_id=SERVER_ID,
        storage_account_id=ACCOUNT_ID,
        diagnostics=Diagnostics(WORKSPACE_ID),
        lock="CanNotDelete",
    )
    return replace(base, **overrides)


def run(stack: str = "prod", with_server_operation: bool = True, **overrides) -> Recording:
    def program():
        extra = {}
        if with_server_operation:
            # Stands in for PostgresServer.last_operation: protection waits for the server's last change.
            extra["depends_on"] = [dbforpostgresql.Configuration("psql-last", configuration_name="max_connections", server_name="psql-acme-prod-weu",
                                                                 resource_group_name="rg-acme-prod-weu-data", value="200", source="user-override")]
        vault = BackupVault("backup", args(**{**extra, **overrides}))
        pulumi.export("vaultId", vault.vault_id)

    return run_program(program, stack, {})


@pytest.fixture(scope="module")
def prod() -> Recording:
    return run()


def children(rec: Recording, type_: str):
    return rec.children(COMPONENT, type_)


def by_purpose(rec: Recording, type_: str) -> dict[str, RecordedResource]:
    return {r.name: r for r in children(rec, type_)}


def test_vault_is_geo_redundant_immutable_soft_deleting_and_alerting(prod):
    vault = prod.one(VAULT)
    assert vault.parent == prod.one(COMPONENT).urn
    v = vault.inputs
    assert (v["vaultName"], v["location"], v["resourceGroupName"]) == ("bvault-acme-prod-weu", "westeurope", "rg-acme-prod-weu-backup")
    assert v["identity"] == {"type": "SystemAssigned"}
    p = v["properties"]
    assert p["storageSettings"] == [{"datastoreType": "VaultStore", "type": "GeoRedundant"}]
    assert p["featureSettings"] == {"crossRegionRestoreSettings": {"state": "Enabled"}}
    assert p["securitySettings"] == {"immutabilitySettings": {"state": "Unlocked"}, "softDeleteSettings": {"state": "On", "retentionDurationInDays": 14}}
    assert p["monitoringSettings"] == {"azureMonitorAlertSettings": {"alertsForAllJobFailures": "Enabled"}}
    assert prod.outputs["vaultId"] == arm_id(VAULT, "bvault", v)


def test_production_vault_and_instances_are_locked_and_protected_policies_replaceable(prod):
    vault = prod.one(VAULT)
    [lock] = children(prod, LOCK)
    assert (lock.inputs["scope"], lock.inputs["level"]) == (arm_id(VAULT, "bvault", vault.inputs), "CanNotDelete")
    assert vault.protect is True
    assert [i.protect for i in children(prod, INSTANCE)] == [True, True]
    # A policy cannot be updated, only replaced by a new one: protect would block that.
    assert [p.protect for p in children(prod, POLICY)] == [False, False]


def test_diagnostics_send_the_backup_vault_categories(prod):
    [diag] = children(prod, DIAG)
    d = diag.inputs
    assert d["resourceUri"] == arm_id(VAULT, "bvault", prod.one(VAULT).inputs) and d["workspaceId"] == WORKSPACE_ID
    assert sorted(log["category"] for log in d["logs"]) == ["AddonAzureBackupJobs", "AddonAzureBackupPolicy", "AddonAzureBackupProtectedInstance", "CoreAzureBackup"]
    assert all(log["enabled"] for log in d["logs"])
    assert d["metrics"] == [{"category": "Health", "enabled": True}]


def rules(policy) -> tuple[list[dict], dict[str, dict]]:
    all_rules = policy.inputs["properties"]["policyRules"]
    backup = [r for r in all_rules if r["objectType"] == "AzureBackupRule"]
    retention = {r["name"]: r for r in all_rules if r["objectType"] == "AzureRetentionRule"}
    assert len(backup) + len(retention) == len(all_rules)
    return backup, retention


def test_postgres_policy_weekly_full_backup_kept_4_weeks_12_months_7_years(prod):
    policy = by_purpose(prod, POLICY)["bvault-psql-policy"]
    props = policy.inputs["properties"]
    assert props["datasourceTypes"] == ["Microsoft.DBforPostgreSQL/flexibleServers"] and props["objectType"] == "BackupPolicy"
    [backup], retention = rules(policy)
    assert backup["backupParameters"] == {"backupType": "Full", "objectType": "AzureBackupParams"}
    assert backup["dataStore"] == {"dataStoreType": "VaultStore", "objectType": "DataStoreInfoBase"}
    # Saturday 21:00 UTC, every week: 2024-01-06 was a Saturday.
    assert backup["trigger"]["schedule"] == {"repeatingTimeIntervals": ["R/2024-01-06T21:00:00+00:00/P1W"], "timeZone": "UTC"}
    tags = {t["tagInfo"]["tagName"]: t for t in backup["trigger"]["taggingCriteria"]}
    assert {name: (t["taggingPriority"], t["isDefault"], [c["absoluteCriteria"] for c in t.get("criteria", [])]) for name, t in tags.items()} == {
        "Yearly": (10, False, [["FirstOfYear"]]),
        "Monthly": (15, False, [["FirstOfMonth"]]),
        "Weekly": (20, False, [["FirstOfWeek"]]),
        "Default": (99, True, []),
    }
    # Every tag has the retention rule of the same name, and nothing else does.
    assert set(retention) == set(tags)
    durations = {name: r["lifecycles"][0]["deleteAfter"]["duration"] for name, r in retention.items()}
    assert durations == {"Weekly": "P4W", "Monthly": "P12M", "Yearly": "P7Y", "Default": "P4W"}
    assert [name for name, r in retention.items() if r["isDefault"]] == ["Default"]
    for r in retention.values():
        [lifecycle] = r["lifecycles"]
        assert lifecycle["sourceDataStore"] == {"dataStoreType": "VaultStore", "objectType": "DataStoreInfoBase"}
        assert lifecycle["deleteAfter"]["objectType"] == "AbsoluteDeleteOption" and lifecycle["targetDataStoreCopySettings"] == []


def test_blob_policy_is_operational_only_within_the_files_account_soft_delete(prod):
    policy = by_purpose(prod, POLICY)["bvault-blob-policy"]
    assert policy.inputs["properties"]["datasourceTypes"] == ["Microsoft.Storage/storageAccounts/blobServices"]
    backup, retention = rules(policy)
    assert backup == [], "operational backup is continuous: no schedule"
    [rule] = retention.values()
    # Production blob soft delete is 30 days (storage.py); Azure Backup would raise it to retention + 5: 30 - 5 = 25.
    assert rule["isDefault"] is True and rule["name"] == "Default"
    assert rule["lifecycles"] == [
        {"deleteAfter": {"duration": "P25D", "objectType": "AbsoluteDeleteOption"},
         "sourceDataStore": {"dataStoreType": "OperationalStore", "objectType": "DataStoreInfoBase"}, "targetDataStoreCopySettings": []}
    ]
    assert (max_operational_days(Tier.PRODUCTION), max_operational_days(Tier.NON_PRODUCTION)) == (25, 2)


def test_instances_protect_the_server_and_the_files_account_with_their_policies(prod):
    vault_name = prod.one(VAULT).inputs["vaultName"]
    policies = by_purpose(prod, POLICY)
    instances = by_purpose(prod, INSTANCE)
    pg = instances["bvault-psql-instance"].inputs
    assert (pg["backupInstanceName"], pg["vaultName"], pg["resourceGroupName"]) == ("bi-acme-prod-weu-psql", vault_name, "rg-acme-prod-weu-backup")
    server = {"resourceID": SERVER_ID, "resourceName": "psql-acme-prod-weu", "resourceType": "Microsoft.DBforPostgreSQL/flexibleServers",
              "datasourceType": "Microsoft.DBforPostgreSQL/flexibleServers", "resourceLocation": "westeurope"}
    assert pg["properties"]["dataSourceInfo"] == {**server, "objectType": "Datasource"}
    assert pg["properties"]["dataSourceSetInfo"] == {**server, "objectType": "DatasourceSet"}
    assert pg["properties"]["policyInfo"] == {"policyId": arm_id(POLICY, "bvault-psql-policy", policies["bvault-psql-policy"].inputs)}
    assert pg["properties"]["objectType"] == "BackupInstance" and pg["properties"]["friendlyName"] == "psql-acme-prod-weu"

    blob = instances["bvault-blob-instance"].inputs
    assert (blob["backupInstanceName"], blob["vaultName"]) == ("bi-acme-prod-weu-st-files", vault_name)
    assert blob["properties"]["dataSourceInfo"] == {"resourceID": ACCOUNT_ID, "resourceName": "stacmeprodweu", "resourceType": "Microsoft.Storage/storageAccounts",
                                                    "datasourceType": "Microsoft.Storage/storageAccounts/blobServices", "resourceLocation": "westeurope",
                                                    "objectType": "Datasource"}
    # Operational backup covers the whole account: no container list (that is a vaulted-backup parameter).
    assert blob["properties"]["policyInfo"] == {"policyId": arm_id(POLICY, "bvault-blob-policy", policies["bvault-blob-policy"].inputs)}


def test_vault_identity_gets_exactly_the_backup_roles_on_exactly_their_scopes(prod):
    role = "/subscriptions/" + SUBSCRIPTION_ID + "/providers/Microsoft.Authorization/roleDefinitions/"
    grants = {(r.inputs["scope"], r.inputs["roleDefinitionId"]) for r in children(prod, ROLE)}
    assert grants == {
        (SERVER_ID, role + "c088a766-074b-43ba-90d4-1fb21feae531"),  # PostgreSQL Flexible Server Long Term Retention Backup Role
        (resource_group_id("rg-acme-prod-weu-data"), role + "acdd72a7-3385-48ef-bd42-f606fba81ae7"),  # Reader on the server's group
        (ACCOUNT_ID, role + "e5e2a7ff-d759-4cd2-bb51-3152d37e2eb1"),  # Storage Account Backup Contributor
    }
    assert {(r.inputs["principalId"], r.inputs["principalType"]) for r in children(prod, ROLE)} == {(VAULT_PRINCIPAL, "ServicePrincipal")}


def test_protection_waits_for_its_grants_and_the_servers_last_operation(prod):
    roles = {r.name: r.urn for r in children(prod, ROLE)}
    last = prod.one("azure-native:dbforpostgresql:Configuration", "psql-last").urn
    instances = by_purpose(prod, INSTANCE)
    assert {roles["bvault-psql-ltr-role"], roles["bvault-psql-rg-reader-role"], last} <= set(instances["bvault-psql-instance"].dependencies)
    assert {roles["bvault-st-backup-role"], last} <= set(instances["bvault-blob-instance"].dependencies)
    assert roles["bvault-st-backup-role"] not in instances["bvault-psql-instance"].dependencies


def test_changed_settings_make_new_policies_same_settings_same_names(prod):
    names = {r.name: r.inputs["backupPolicyName"] for r in children(prod, POLICY)}
    assert names["bvault-psql-policy"].startswith("psql-ltr-") and names["bvault-blob-policy"].startswith("blob-operational-")
    again = run(with_server_operation=False)
    assert {r.name: r.inputs["backupPolicyName"] for r in children(again, POLICY)} == names
    longer = run(with_server_operation=False, postgres_retention=PostgresRetention(weeks=5), blob_retention_days=20)
    changed = {r.name: r.inputs["backupPolicyName"] for r in children(longer, POLICY)}
    assert changed["bvault-psql-policy"] != names["bvault-psql-policy"] and changed["bvault-blob-policy"] != names["bvault-blob-policy"]
    [pg] = [r for r in children(longer, POLICY) if r.name == "bvault-psql-policy"]
    assert {r["name"]: r["lifecycles"][0]["deleteAfter"]["duration"] for r in rules(pg)[1].values()}["Weekly"] == "P5W"


def test_non_production_tier_neither_protects_nor_locks():
    rec = run("dev", with_server_operation=False, naming=Naming("acme", "dev", "westeurope"), tier=Tier.NON_PRODUCTION, lock=None)
    assert rec.one(VAULT).protect is False and [i.protect for i in rec.of_type(INSTANCE)] == [False, False]
    assert rec.of_type(LOCK) == []
    [blob] = [r for r in rec.of_type(POLICY) if r.name == "bvault-blob-policy"]
    assert blob.inputs["properties"]["policyRules"][0]["lifecycles"][0]["deleteAfter"]["duration"] == "P2D"


def test_schedule_and_durations_by_hand():
    r = PostgresRetention(weeks=6, months=24, years=10, weekday="Wednesday", hour_utc=2)
    assert r.durations == {"Weekly": "P6W", "Monthly": "P24M", "Yearly": "P10Y", "Default": "P6W"}
    assert r.repeating_interval == "R/2024-01-03T02:00:00+00:00/P1W"  # 2024-01-03 was a Wednesday
    assert PostgresRetention(weekday="Monday", hour_utc=0).repeating_interval == "R/2024-01-01T00:00:00+00:00/P1W"
    assert PostgresRetention(weekday="Sunday", hour_utc=23).repeating_interval == "R/2024-01-07T23:00:00+00:00/P1W"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"postgres_retention": PostgresRetention(years=11)}, "years=11: Azure Backup keeps 1 to 10"),
        ({"postgres_retention": PostgresRetention(weeks=0)}, "weeks=0"),
        ({"postgres_retention": PostgresRetention(months=121)}, "months=121: Azure Backup keeps 1 to 120"),
        ({"postgres_retention": PostgresRetention(weekday="Sun")}, "weekday 'Sun'"),
        ({"postgres_retention": PostgresRetention(hour_utc=24)}, "hour 24"),
        ({"blob_retention_days": 26}, "operational blob retention 26 days: 1 to 25"),
        ({"soft_delete_days": 7}, "soft delete 7 days"),
    ],
)
def test_settings_azure_rejects_fail_before_anything_is_registered(overrides, message):
    errors: list[str] = []

    def program():
        try:
            BackupVault("backup", args(**overrides))
        except ValueError as e:
            errors.append(str(e))

    rec = run_program(program, "prod", {})
    assert len(errors) == 1 and message in errors[0]
    assert [r.type for r in rec.resources if r.type != "pulumi:pulumi:Stack"] == []


def test_a_wrongly_wired_server_id_fails():
    with pytest.raises(Exception, match="is not the ARM id of a Microsoft.DBforPostgreSQL/flexibleServers resource"):
        run(with_server_operation=False, postgres_server_id=ACCOUNT_ID)
