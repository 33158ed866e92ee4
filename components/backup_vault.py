"""BackupVault: the production Azure Backup vault (Microsoft.DataProtection/backupVaults).

Two protections, both managed by Azure Backup:
- PostgreSQL Flexible Server long-term retention ("vaulted backup"): a weekly full logical backup of the whole
  server, copied out of the subscription into the vault and kept as weekly, monthly and yearly sets (at most 10 years).
  Azure restores these only as files (pg_dump output) into a storage container, and supports servers up to 1 TiB.
  https://learn.microsoft.com/azure/backup/backup-azure-database-postgresql-flex-overview
  https://learn.microsoft.com/azure/backup/backup-azure-database-postgresql-flex-support-matrix
- Operational backup of the files storage account's blobs: continuous, kept in the account itself (point-in-time
  restore, versioning, change feed, soft delete), managed and monitored from the vault.
  https://learn.microsoft.com/azure/backup/blob-backup-overview

Property names follow the azure-native SDK (API 2025-01-01, pulumi_azure_native/dataprotection/_inputs.py); the
request shapes follow Microsoft's REST guides: backup-azure-database-postgresql-flex-use-rest-api-create-update-policy,
backup-azure-database-postgresql-flex-use-rest-api, backup-azure-dataprotection-use-rest-api-create-update-blob-policy
and backup-azure-dataprotection-use-rest-api-backup-blobs (MicrosoftDocs/azure-docs, articles/backup/).

Backup policies cannot be modified once created ("Currently, updating or modifying an existing policy isn't supported.
Alternatively, you can create a new policy ... and assign it to the relevant backup instance", same guides; Terraform's
azurerm provider marks every policy field ForceNew). So a policy's name carries a digest of its settings: a changed
retention makes a new policy, the instance moves to it, and Pulumi deletes the old one afterwards.
"""
import datetime
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
from pulumi_azure_native import authorization, dataprotection

from .interfaces import Diagnostics, diagnostic_setting, management_lock, role_assignment
from .naming import NameRuleError, Naming
from .storage import retention_days
from .tier import LockLevel, Tier, protect_for

# Built-in role definition ids the vault's identity needs, from Microsoft's list of built-in roles
# (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles: General, Databases and Storage tables).
# Which roles go where: the PostgreSQL Flexible Server backup overview ("Backup: PostgreSQL Flexible Server Long Term
# Retention Backup role on the server, Reader role on the resource group of the server") and the blob backup overview
# ("the Backup vault must be granted the Storage Account Backup Contributor role on the respective storage accounts");
# the Az.DataProtection module grants the same (manifests AzureDatabaseForPGFlexServer.json and AzureBlob.json:
# datasourcePermissions / datasourceRGPermissions). These belong in interfaces.ROLES.
POSTGRES_DATASOURCE = "Microsoft.DBforPostgreSQL/flexibleServers"
BLOB_DATASOURCE = "Microsoft.Storage/storageAccounts/blobServices"
STORAGE_ACCOUNT = "Microsoft.Storage/storageAccounts"

# Azure Monitor "Supported logs for Microsoft.DataProtection/BackupVaults"
# (learn.microsoft.com/azure/azure-monitor/reference/supported-logs/microsoft-dataprotection-backupvaults-logs).
LOG_CATEGORIES = ("AddonAzureBackupJobs", "AddonAzureBackupPolicy", "AddonAzureBackupProtectedInstance", "CoreAzureBackup")
# "Supported metrics for Microsoft.DataProtection/BackupVaults": BackupHealthEvent and RestoreHealthEvent, category
# Health, DS Export: Yes. The same setting is applied by NHSDigital/az-backup (infrastructure/backup_vault.tf).
METRIC_CATEGORIES = ("Health",)

# Limits. Long-term retention: "retains backups for up to 10 years" (PostgreSQL Flexible Server backup overview).
# Operational blob backup: "maximum retention of 360 days" (blob backup overview). Soft delete: 14 to 180 days
# (Azure Backup soft delete, techcommunity "How Azure Backup soft delete protects from accidental deletes").
MAX_YEARS = 10
MAX_MONTHS = 12 * MAX_YEARS
MAX_WEEKS = 521  # whole weeks in ten years, as Microsoft's vaulted-backup quickstart template bounds it
MAX_OPERATIONAL_DAYS = 360
SOFT_DELETE_DAYS = (14, 180)

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Tag priorities as Microsoft's policy templates use them: lower wins, so the first backup of a year is kept as a
# yearly set even though it is also the first of its month and week; "Default" (99) takes untagged (ad hoc) backups.
_TAG_PRIORITY = {"Yearly": 10, "Monthly": 15, "Weekly": 20, "Default": 99}
_TAG_CRITERIA = {"Yearly": "FirstOfYear", "Monthly": "FirstOfMonth", "Weekly": "FirstOfWeek"}
# Bump when the shape of a policy changes, so the change makes a new policy (policies cannot be updated).
_POLICY_LAYOUT = 1


@dataclass(frozen=True)
class PostgresRetention:
    """How many sets of the weekly long-term backup Azure keeps: the last `weeks` weekly, `months` monthly (the first
    backup of each month) and `years` yearly (the first of each year). The defaults are issue #12's floor."""

    weeks: int = 4
    months: int = 12
    years: int = 7
    # When the weekly full backup starts (UTC). Saturday evening: clear of the Sunday maintenance window.
    weekday: str = "Saturday"
    hour_utc: int = 21

    def validate(self) -> None:
        for what, value, high in (("weeks", self.weeks, MAX_WEEKS), ("months", self.months, MAX_MONTHS), ("years", self.years, MAX_YEARS)):
            if not 1 <= value <= high:
                raise ValueError(f"PostgreSQL long-term retention {what}={value}: Azure Backup keeps 1 to {high} (10 years at most)")
        if self.weekday not in DAYS:
            raise ValueError(f"backup weekday {self.weekday!r} is not one of {', '.join(DAYS)}")
        if not 0 <= self.hour_utc <= 23:
            raise ValueError(f"backup hour {self.hour_utc} is not an hour of the day (0-23, UTC)")

    @property
    def durations(self) -> dict[str, str]:
        """ISO 8601 durations per retention tag; untagged (ad hoc) backups are kept like weekly ones."""
        return {"Weekly": f"P{self.weeks}W", "Monthly": f"P{self.months}M", "Yearly": f"P{self.years}Y", "Default": f"P{self.weeks}W"}

    @property
    def repeating_interval(self) -> str:
        """`R/<first run>/P1W`: Azure wants a full date-time start (a time alone is rejected). The start is the first
        `weekday` of January 2024, which fixes the day of the week."""
        start = datetime.date(2024, 1, 1) + datetime.timedelta(days=DAYS.index(self.weekday))  # 2024-01-01 was a Monday
        return f"R/{start.isoformat()}T{self.hour_utc:02d}:00:00+00:00/P1W"


def max_operational_days(tier: Tier) -> int:
    """The longest operational blob retention that leaves the files account's own data protection as storage.py sets it.
    Azure Backup raises point-in-time restore to max(n, current) and blob soft delete to max(n + 5, current) days
    (blob backup overview, "Protection"); storage.py keeps soft delete at retention_days(tier) and point-in-time restore
    one day shorter, so n + 5 <= retention_days(tier) changes nothing behind Pulumi's back. For a longer retention,
    raise storage.retention_days first."""
    return min(retention_days(tier) - 5, MAX_OPERATIONAL_DAYS)


@dataclass(frozen=True)
class BackupVaultArgs:
    naming: Naming
    tier: Tier
    resource_group_name: pulumi.Input[str]
    # The vault must be in the server's region (PostgreSQL Flexible Server backup support matrix).
    location: str
    # ARM id of the Flexible Server; the Reader grant goes to its resource group, taken from the id.
    postgres_server_id: pulumi.Input[str]
    # ARM id of the files storage account (ObjectStorage.account): operational backup covers every block blob in it.
    # Azure takes a container list only for vaulted blob backup (BlobBackupDatasourceParameters.containersList;
    # Az PowerShell -VaultedBackupContainer), not for operational backup, which protects the whole account.
    storage_account_id: pulumi.Input[str]
    diagnostics: Diagnostics
    postgres_retention: PostgresRetention = PostgresRetention()
    # Operational blob retention; None: the longest the files account allows as configured (max_operational_days).
    blob_retention_days: Optional[int] = None
    soft_delete_days: int = 14
    # What protection must wait for: the server's last operation (one change at a time per server) and the files
    # account's blob service (versioning, change feed, point-in-time restore).
    depends_on: Sequence[pulumi.Resource] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    lock: Optional[LockLevel] = None


def _validate(args: BackupVaultArgs) -> int:
    """Settings Azure would reject, or that would change the files account behind Pulumi's back; the blob retention."""
    args.postgres_retention.validate()
    blob_days = args.blob_retention_days if args.blob_retention_days is not None else max_operational_days(args.tier)
    if not 1 <= blob_days <= max_operational_days(args.tier):
        raise ValueError(
            f"operational blob retention {blob_days} days: 1 to {max_operational_days(args.tier)} with the files account's soft delete of "
            f"{retention_days(args.tier)} days (Azure Backup would raise soft delete to retention + 5 behind Pulumi's back)"
        )
    low, high = SOFT_DELETE_DAYS
    if not low <= args.soft_delete_days <= high:
        raise ValueError(f"soft delete {args.soft_delete_days} days: Azure Backup keeps soft-deleted backups {low} to {high} days")
    return blob_days


def _arm_segments(resource_id: str, provider_type: str) -> tuple[str, str]:
    """(resource group id, resource name) of an ARM id of `provider_type`; a different resource is a wiring error."""
    marker = f"/providers/{provider_type}/".lower()
    if marker not in resource_id.lower() or "/resourcegroups/" not in resource_id.lower():
        raise ValueError(f"{resource_id!r} is not the ARM id of a {provider_type} resource")
    head = resource_id[: resource_id.lower().index("/providers/")]
    return head, resource_id.rstrip("/").rsplit("/", 1)[-1]


def _digest(settings: Any) -> str:
    return hashlib.sha256(json.dumps([_POLICY_LAYOUT, settings], sort_keys=True).encode()).hexdigest()[:8]


def _store(store: str) -> dataprotection.DataStoreInfoBaseArgs:
    return dataprotection.DataStoreInfoBaseArgs(data_store_type=store, object_type="DataStoreInfoBase")


def _retention_rule(name: str, duration: str, store: str, default: bool) -> dataprotection.AzureRetentionRuleArgs:
    return dataprotection.AzureRetentionRuleArgs(
        name=name,
        object_type="AzureRetentionRule",
        is_default=default,
        lifecycles=[
            dataprotection.SourceLifeCycleArgs(
                delete_after=dataprotection.AbsoluteDeleteOptionArgs(duration=duration, object_type="AbsoluteDeleteOption"),
                source_data_store=_store(store),
                target_data_store_copy_settings=[],
            )
        ],
    )


def _tag(name: str) -> dataprotection.TaggingCriteriaArgs:
    criteria = _TAG_CRITERIA.get(name)
    return dataprotection.TaggingCriteriaArgs(
        is_default=criteria is None,
        tag_info=dataprotection.RetentionTagArgs(tag_name=name),
        tagging_priority=_TAG_PRIORITY[name],
        criteria=[dataprotection.ScheduleBasedBackupCriteriaArgs(object_type="ScheduleBasedBackupCriteria", absolute_criteria=[criteria])]
        if criteria
        else None,
    )


def _principal(identity: Optional[Any]) -> str:
    if identity is None or not identity.principal_id:
        raise ValueError("the backup vault returned no system-assigned identity")
    return identity.principal_id


class BackupVault(pulumi.ComponentResource):
    vault: dataprotection.BackupVault
    vault_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]
    postgres_policy: dataprotection.BackupPolicy
    postgres_instance: dataprotection.BackupInstance
    blob_policy: dataprotection.BackupPolicy
    blob_instance: dataprotection.BackupInstance

    def __init__(self, name: str, args: BackupVaultArgs, opts: Optional[pulumi.ResourceOptions] = None):
        blob_days = _validate(args)  # before anything registers
        super().__init__("odoo-platform:backup:BackupVault", name, None, opts)

        self.vault = self._vault(args)
        self.vault_id = self.vault.id
        self.principal_id = self.vault.identity.apply(_principal)
        management_lock("bvault", self.vault.id, args.lock, self)
        diagnostic_setting("bvault", self.vault.id, args.diagnostics, self, log_categories=LOG_CATEGORIES, metric_categories=METRIC_CATEGORIES)

        self.postgres_policy, self.postgres_instance = self._postgres(args)
        self.blob_policy, self.blob_instance = self._blobs(args, blob_days)
        self.register_outputs(
            {
                "vaultName": self.vault.name,
                "vaultId": self.vault_id,
                "principalId": self.principal_id,
                "postgresPolicyName": self.postgres_policy.name,
                "blobPolicyName": self.blob_policy.name,
            }
        )

    def _vault(self, args: BackupVaultArgs) -> dataprotection.BackupVault:
        vault_name = args.naming.resource("bvault")
        if len(vault_name) > 50:  # Backup vault names: 2-50 letters, digits and hyphens
            raise NameRuleError(f"backup vault name {vault_name!r} is {len(vault_name)} characters; Azure allows 2-50")
        return dataprotection.BackupVault(
            "bvault",
            vault_name=vault_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            identity=dataprotection.DppIdentityDetailsArgs(type="SystemAssigned"),
            properties=dataprotection.BackupVaultArgs(
                # Geo-redundant vault storage, readable from the paired region at any time (Cross Region Restore), for
                # drills and a regional outage. Redundancy cannot change once the vault protects anything
                # (create-manage-backup-vault: "Storage redundancy cannot be changed after protecting items").
                storage_settings=[dataprotection.StorageSettingArgs(datastore_type="VaultStore", type="GeoRedundant")],
                feature_settings=dataprotection.FeatureSettingsArgs(
                    cross_region_restore_settings=dataprotection.CrossRegionRestoreSettingsArgs(state="Enabled")
                ),
                security_settings=dataprotection.SecuritySettingsArgs(
                    # Immutable, but Unlocked: operations that would lose recovery points (shortening retention, deleting
                    # backup data) are refused, and the setting can still be turned off by a deliberate change. Locked is
                    # irreversible; Microsoft recommends locking once the effect is understood
                    # (backup-azure-immutable-vault-concept), so it is a separate act after the first restore drills, as
                    # for the backup storage account's immutability policy (storage.py). Immutability does not cover
                    # operational (blob) backups, which stay in the storage account.
                    immutability_settings=dataprotection.ImmutabilitySettingsArgs(state="Unlocked"),
                    # Deleted backup data stays recoverable for soft_delete_days. "On", not "AlwaysOn": AlwaysOn cannot be
                    # turned off again, the same one-way decision as locking immutability.
                    soft_delete_settings=dataprotection.SoftDeleteSettingsArgs(state="On", retention_duration_in_days=args.soft_delete_days),
                ),
                # Built-in Azure Monitor alerts for every failed backup or restore job.
                monitoring_settings=dataprotection.MonitoringSettingsArgs(
                    azure_monitor_alert_settings=dataprotection.AzureMonitorAlertSettingsArgs(alerts_for_all_job_failures="Enabled")
                ),
            ),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=protect_for(args.tier)),
        )

    def _grant(self, name: str, scope: pulumi.Input[str], role: str) -> authorization.RoleAssignment:
        """The vault's identity gets a built-in role on exactly `scope`."""
        return role_assignment(name, scope, role, self.principal_id, self)

    def _postgres(self, args: BackupVaultArgs) -> tuple[dataprotection.BackupPolicy, dataprotection.BackupInstance]:
        retention = args.postgres_retention
        durations = retention.durations
        tags = ("Yearly", "Monthly", "Weekly", "Default")
        digest = _digest({"durations": durations, "schedule": retention.repeating_interval})
        policy = dataprotection.BackupPolicy(
            "bvault-psql-policy",
            backup_policy_name=f"psql-ltr-{digest}",
            vault_name=self.vault.name,
            resource_group_name=args.resource_group_name,
            properties=dataprotection.BackupPolicyArgs(
                datasource_types=[POSTGRES_DATASOURCE],
                object_type="BackupPolicy",
                policy_rules=[
                    dataprotection.AzureBackupRuleArgs(
                        name="BackupWeekly",
                        object_type="AzureBackupRule",
                        backup_parameters=dataprotection.AzureBackupParamsArgs(backup_type="Full", object_type="AzureBackupParams"),
                        data_store=_store("VaultStore"),
                        trigger=dataprotection.ScheduleBasedTriggerContextArgs(
                            object_type="ScheduleBasedTriggerContext",
                            schedule=dataprotection.BackupScheduleArgs(repeating_time_intervals=[retention.repeating_interval], time_zone="UTC"),
                            tagging_criteria=[_tag(t) for t in tags],
                        ),
                    ),
                    *(_retention_rule(t, durations[t], "VaultStore", t == "Default") for t in tags),
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        server = pulumi.Output.from_input(args.postgres_server_id).apply(lambda i: _arm_segments(i, POSTGRES_DATASOURCE))
        server_rg, server_name = server.apply(lambda s: s[0]), server.apply(lambda s: s[1])
        grants = [
            self._grant("bvault-psql-ltr", args.postgres_server_id, "PostgreSQL Flexible Server Long Term Retention Backup Role"),
            self._grant("bvault-psql-rg-reader", server_rg, "Reader"),
        ]
        instance = dataprotection.BackupInstance(
            "bvault-psql-instance",
            backup_instance_name=args.naming.resource("bi", "psql"),
            vault_name=self.vault.name,
            resource_group_name=args.resource_group_name,
            properties=dataprotection.BackupInstanceArgs(
                object_type="BackupInstance",
                friendly_name=server_name,
                # The server is both the data source and its set (the whole server is backed up, all databases).
                data_source_info=dataprotection.DatasourceArgs(
                    object_type="Datasource",
                    resource_id=args.postgres_server_id,
                    resource_name=server_name,
                    resource_type=POSTGRES_DATASOURCE,
                    datasource_type=POSTGRES_DATASOURCE,
                    resource_location=args.location,
                ),
                data_source_set_info=dataprotection.DatasourceSetArgs(
                    object_type="DatasourceSet",
                    resource_id=args.postgres_server_id,
                    resource_name=server_name,
                    resource_type=POSTGRES_DATASOURCE,
                    datasource_type=POSTGRES_DATASOURCE,
                    resource_location=args.location,
                ),
                policy_info=dataprotection.PolicyInfoArgs(policy_id=policy.id),
            ),
            tags=dict(args.tags),
            # Azure validates the grants when protection is configured (UserErrorMissingRequiredPermissions otherwise).
            opts=pulumi.ResourceOptions(parent=self, protect=protect_for(args.tier), depends_on=[*grants, *args.depends_on]),
        )
        return policy, instance

    def _blobs(self, args: BackupVaultArgs, days: int) -> tuple[dataprotection.BackupPolicy, dataprotection.BackupInstance]:
        """Operational backup: Azure Backup keeps point-in-time restore, blob versioning, change feed and soft delete on
        the account for `days` and puts its own delete lock on it (blob backup overview). The files account already
        has versioning, change feed, soft delete and point-in-time restore (storage.py), a general-purpose v2 account
        with block blobs and no hierarchical namespace, as operational backup requires (blob backup support matrix)."""
        duration = f"P{days}D"
        policy = dataprotection.BackupPolicy(
            "bvault-blob-policy",
            backup_policy_name=f"blob-operational-{_digest({'operational': duration})}",
            vault_name=self.vault.name,
            resource_group_name=args.resource_group_name,
            properties=dataprotection.BackupPolicyArgs(
                datasource_types=[BLOB_DATASOURCE],
                object_type="BackupPolicy",
                # Continuous: no backup rule, only how long the operational store keeps changes.
                policy_rules=[_retention_rule("Default", duration, "OperationalStore", True)],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        grant = self._grant("bvault-st-backup", args.storage_account_id, "Storage Account Backup Contributor")
        account_name = pulumi.Output.from_input(args.storage_account_id).apply(lambda i: _arm_segments(i, STORAGE_ACCOUNT)[1])
        instance = dataprotection.BackupInstance(
            "bvault-blob-instance",
            backup_instance_name=args.naming.resource("bi", "st-files"),
            vault_name=self.vault.name,
            resource_group_name=args.resource_group_name,
            properties=dataprotection.BackupInstanceArgs(
                object_type="BackupInstance",
                data_source_info=dataprotection.DatasourceArgs(
                    object_type="Datasource",
                    resource_id=args.storage_account_id,
                    resource_name=account_name,
                    resource_type=STORAGE_ACCOUNT,
                    datasource_type=BLOB_DATASOURCE,
                    resource_location=args.location,
                ),
                policy_info=dataprotection.PolicyInfoArgs(policy_id=policy.id),
            ),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=protect_for(args.tier), depends_on=[grant, *args.depends_on]),
        )
        return policy, instance
