"""ObjectStorage: the storage account for Odoo attachments (filestore), exports and backups."""
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
from pulumi_azure_native import authorization, storage

from .interfaces import Diagnostics, PrivateAccess, diagnostic_setting, management_lock, private_endpoint, role_assignment
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
        stateful = pulumi.ResourceOptions(parent=self, protect=protect_for(tier))
        keep_days = retention_days(tier)

        self.account = storage.StorageAccount(
            "st",
            account_name=naming.storage_account(),
            resource_group_name=rg,
            location=naming.location,
            kind="StorageV2",
            # Zone- and geo-redundant with a readable secondary in production; zone-redundant otherwise.
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
            opts=stateful,
        )
        self.blob_endpoint = self.account.primary_endpoints.blob
        management_lock("st", self.account.id, args.lock, self)
        private_endpoint(naming.storage_account(), self.account.id, "blob", args.private_access, tags, self)

        blob_service = storage.BlobServiceProperties(
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
        diagnostic_setting(
            "st-blob",
            pulumi.Output.concat(self.account.id, "/blobServices/default"),
            args.diagnostics,
            self,
            log_category_groups=["allLogs"],
        )
        self._lifecycle(rg)

        self.containers = {}
        for container in (*args.tenant_containers, EXPORTS, BACKUPS):
            self.containers[container] = storage.BlobContainer(
                f"container-{container}",
                container_name=container,
                account_name=self.account.name,
                resource_group_name=rg,
                public_access=storage.PublicAccess.NONE,
                opts=pulumi.ResourceOptions(parent=self, protect=protect_for(tier), depends_on=[blob_service]),
            )
        # Finance records in backups must outlive any operator's mistake (unlocked policy: locking it is a deliberate, separate act).
        storage.BlobContainerImmutabilityPolicy(
            "container-backups-immutability",
            immutability_policy_name="default",
            account_name=self.account.name,
            container_name=self.containers[BACKUPS].name,
            resource_group_name=rg,
            immutability_period_since_creation_in_days=args.backup_immutability_days,
            allow_protected_append_writes=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {"accountName": self.account.name, "blobEndpoint": self.blob_endpoint, "containers": {k: v.name for k, v in self.containers.items()}}
        )

    def _lifecycle(self, rg: pulumi.Input[str]) -> storage.ManagementPolicy:
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
            "st-lifecycle",
            management_policy_name="default",
            account_name=self.account.name,
            resource_group_name=rg,
            policy=storage.ManagementPolicySchemaArgs(
                rules=[rule("exports-cool-off", f"{EXPORTS}/", 30, 90, 365), rule("backups-cool-off", f"{BACKUPS}/", 30, 90, None)]
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def grant_read_write(self, name: str, container: str, principal_id: pulumi.Input[str]) -> authorization.RoleAssignment:
        """Storage Blob Data Contributor for one identity on exactly one container, never the account."""
        return role_assignment(name, self.containers[container].id, "Storage Blob Data Contributor", principal_id, self)
