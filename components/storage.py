"""ObjectStorage: the storage account for Odoo attachments (filestore) and exports, and a separate backup account.

Backups live in their own account with an account-level, version-level immutability policy: an ordinary property of
the account (changed with the account, no etag), where a container's legacy immutability policy cannot be updated or
deleted through azure-native (Azure requires an If-Match etag the provider does not send: pulumi-azure-native#2156).
"""
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
from pulumi_azure_native import authorization, storage

from .interfaces import blob_prefix_condition, Diagnostics, PrivateAccess, diagnostic_setting, management_lock, private_endpoint, role_assignment
from .naming import Naming
from .tier import LockLevel, Tier, protect_for

BACKUPS, EXPORTS = "backups", "exports"


@dataclass(frozen=True)
class ObjectStorageArgs:
    naming: Naming
    tier: Tier
    resource_group_name: pulumi.Input[str]
    private_access: PrivateAccess
    diagnostics: Diagnostics
    # One private container per tenant environment, e.g. "gc-dev".
    tenant_containers: Sequence[str]
    backup_immutability_days: int
    tags: Mapping[str, str] = field(default_factory=dict)
    lock: Optional[LockLevel] = None


def retention_days(tier: Tier) -> int:
    """Soft delete for blobs and containers."""
    return 30 if tier.is_production else 7


class ObjectStorage(pulumi.ComponentResource):
    account: storage.StorageAccount
    containers: dict[str, storage.BlobContainer]
    blob_endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: ObjectStorageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:storage:ObjectStorage", name, None, opts)
        naming, tier = args.naming, args.tier
        tags = dict(args.tags)
        rg = args.resource_group_name
        keep_days = retention_days(tier)

        self.account = self._account("st", naming.storage_account(), args, tags)
        self.blob_endpoint = self.account.primary_endpoints.blob

        blob_service = self.blob_service = storage.BlobServiceProperties(
            "st-blob",
            blob_services_name="default",
            account_name=self.account.name,
            resource_group_name=rg,
            is_versioning_enabled=True,
            change_feed=storage.ChangeFeedArgs(enabled=True, retention_in_days=keep_days + 5),
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=keep_days),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=keep_days),
            # Point-in-time restore must end before soft delete does.
            restore_policy=storage.RestorePolicyPropertiesArgs(enabled=True, days=keep_days - 1),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._blob_diagnostics("st-blob", self.account, args)
        self._lifecycle("st-lifecycle", self.account, rg, EXPORTS, 365)

        self.containers = {}
        for container in (*args.tenant_containers, EXPORTS):
            self.containers[container] = storage.BlobContainer(
                f"container-{container}",
                container_name=container,
                account_name=self.account.name,
                resource_group_name=rg,
                public_access=storage.PublicAccess.NONE,
                opts=pulumi.ResourceOptions(parent=self, protect=protect_for(tier), depends_on=[blob_service]),
            )
        self._backups(args, tags)
        self.register_outputs(
            {"accountName": self.account.name, "blobEndpoint": self.blob_endpoint, "containers": {k: v.name for k, v in self.containers.items()}}
        )

    def _account(self, name: str, account_name: str, args: ObjectStorageArgs, tags: dict[str, str], **extra) -> storage.StorageAccount:
        """A private StorageV2 account: Entra ID only, TLS 1.2, no public access; RA-GZRS in production, ZRS otherwise."""
        tier = args.tier
        account = storage.StorageAccount(
            name,
            account_name=account_name,
            resource_group_name=args.resource_group_name,
            location=args.naming.location,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_RAGZRS" if tier.is_production else "Standard_ZRS"),
            access_tier=storage.AccessTier.HOT,
            minimum_tls_version="TLS1_2",
            enable_https_traffic_only=True,
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            public_network_access="Disabled",
            network_rule_set=storage.NetworkRuleSetArgs(default_action=storage.DefaultAction.DENY, bypass="AzureServices"),
            encryption=storage.EncryptionArgs(key_source="Microsoft.Storage", require_infrastructure_encryption=True),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=protect_for(tier)),
            **extra,
        )
        management_lock(name, account.id, args.lock, self)
        private_endpoint(account_name, account.id, "blob", args.private_access, tags, self)
        return account

    def _blob_diagnostics(self, name: str, account: storage.StorageAccount, args: ObjectStorageArgs) -> None:
        # Storage services export the metric categories Capacity and Transaction; Azure rejects AllMetrics there.
        blob_service = pulumi.Output.concat(account.id, "/blobServices/default")
        diagnostic_setting(name, blob_service, args.diagnostics, self, log_category_groups=["allLogs"], metric_categories=("Capacity", "Transaction"))

    def _backups(self, args: ObjectStorageArgs, tags: dict[str, str]) -> None:
        """The backup account: every blob version immutable for `backup_immutability_days` from creation. The policy
        stays Unlocked (it can still be shortened or removed by a deliberate change); locking it is a separate act.
        Version-level immutability can only be enabled when the account is created and rules out point-in-time restore
        (Azure docs, "Version-level immutability support"), hence its own account."""
        rg, keep_days = args.resource_group_name, retention_days(args.tier)
        self.backup_account = self._account(
            "st-backup",
            args.naming.storage_account("bak"),
            args,
            tags,
            immutable_storage_with_versioning=storage.ImmutableStorageAccountArgs(
                enabled=True,
                immutability_policy=storage.AccountImmutabilityPolicyPropertiesArgs(
                    immutability_period_since_creation_in_days=args.backup_immutability_days,
                    state="Unlocked",
                    allow_protected_append_writes=True,
                ),
            ),
        )
        service = storage.BlobServiceProperties(
            "st-backup-blob",
            blob_services_name="default",
            account_name=self.backup_account.name,
            resource_group_name=rg,
            is_versioning_enabled=True,
            # An audit trail of every backup written or deleted.
            change_feed=storage.ChangeFeedArgs(enabled=True, retention_in_days=args.backup_immutability_days),
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=keep_days),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=keep_days),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._blob_diagnostics("st-backup-blob", self.backup_account, args)
        self.containers[BACKUPS] = storage.BlobContainer(
            "container-backups",
            container_name=BACKUPS,
            account_name=self.backup_account.name,
            resource_group_name=rg,
            public_access=storage.PublicAccess.NONE,
            opts=pulumi.ResourceOptions(parent=self, protect=protect_for(args.tier), depends_on=[service]),
        )
        self._lifecycle("st-backup-lifecycle", self.backup_account, rg, BACKUPS, None)

    def _lifecycle(self, name: str, account: storage.StorageAccount, rg: pulumi.Input[str], prefix: str, delete: Optional[int]) -> storage.ManagementPolicy:
        """Exports and backups cool off with age. Zone-redundant accounts have no archive tier, so cold is the last stop."""

        def rule(rule_name: str, prefix: str, cool: int, cold: int, delete: Optional[int]) -> storage.ManagementPolicyRuleArgs:
            # Immutable backups (and their versions) are never deleted by lifecycle: only tiered.
            return storage.ManagementPolicyRuleArgs(
                name=rule_name,
                enabled=True,
                type="Lifecycle",
                definition=storage.ManagementPolicyDefinitionArgs(
                    filters=storage.ManagementPolicyFilterArgs(blob_types=["blockBlob"], prefix_match=[prefix]),
                    actions=storage.ManagementPolicyActionArgs(
                        base_blob=storage.ManagementPolicyBaseBlobArgs(
                            tier_to_cool=storage.DateAfterModificationArgs(days_after_modification_greater_than=cool),
                            tier_to_cold=storage.DateAfterModificationArgs(days_after_modification_greater_than=cold),
                            delete=storage.DateAfterModificationArgs(days_after_modification_greater_than=delete) if delete else None,
                        ),
                        version=storage.ManagementPolicyVersionArgs(delete=storage.DateAfterCreationArgs(days_after_creation_greater_than=90))
                        if delete
                        else None,
                    ),
                ),
            )

        return storage.ManagementPolicy(
            name,
            management_policy_name="default",
            account_name=account.name,
            resource_group_name=rg,
            policy=storage.ManagementPolicySchemaArgs(rules=[rule(f"{prefix}-cool-off", f"{prefix}/", 30, 90, delete)]),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def grant_read_write(self, name: str, container: str, principal_id: pulumi.Input[str], prefix: Optional[str] = None) -> authorization.RoleAssignment:
        """Storage Blob Data Contributor for one identity on exactly one container, never the account; with `prefix`,
        only on the blobs under it (an ABAC condition: one tenant's sets in the shared backup container)."""
        condition = blob_prefix_condition(prefix) if prefix else None
        return role_assignment(name, self.containers[container].id, "Storage Blob Data Contributor", principal_id, self, condition=condition)

    def grant_read(self, name: str, container: str, principal_id: pulumi.Input[str], prefix: Optional[str] = None,
                   description: Optional[str] = None) -> authorization.RoleAssignment:
        """Storage Blob Data Reader for one identity on exactly one container; with `prefix`, only the blobs under it
        (a non-production refresh job reads its own environment's masked exports and nothing else)."""
        condition = blob_prefix_condition(prefix) if prefix else None
        return role_assignment(name, self.containers[container].id, "Storage Blob Data Reader", principal_id, self, condition=condition,
                               description=description)
