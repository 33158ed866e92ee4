"""ObjectStorage in both tiers: locked-down accounts, blob data protection, lifecycle, immutable backups, per-container grants."""
import pytest

from tools.mocks import stable_uuid

ACCOUNT = "azure-native:storage:StorageAccount"
FILES, BACKUPS = "st", "st-backup"


@pytest.mark.parametrize("name", [FILES, BACKUPS])
def test_account_is_secure_by_default(stack, name):
    a = stack.one(ACCOUNT, name).inputs
    assert a["kind"] == "StorageV2" and a["minimumTlsVersion"] == "TLS1_2" and a["enableHttpsTrafficOnly"] is True
    assert a["allowBlobPublicAccess"] is False and a["allowSharedKeyAccess"] is False and a["defaultToOAuthAuthentication"] is True
    assert a["publicNetworkAccess"] == "Disabled" and a["networkRuleSet"]["defaultAction"] == "Deny"
    assert a["allowCrossTenantReplication"] is False and a["encryption"]["requireInfrastructureEncryption"] is True


def test_replication_by_tier(dev, prod):
    for name in (FILES, BACKUPS):
        assert prod.one(ACCOUNT, name).inputs["sku"] == {"name": "Standard_RAGZRS"}
        assert dev.one(ACCOUNT, name).inputs["sku"] == {"name": "Standard_ZRS"}


def test_blob_data_protection(dev, prod):
    for rec, days in ((prod, 30), (dev, 7)):
        b = rec.one("azure-native:storage:BlobServiceProperties", "st-blob").inputs
        assert b["isVersioningEnabled"] is True and b["changeFeed"]["enabled"] is True
        assert b["deleteRetentionPolicy"] == {"enabled": True, "days": days}
        assert b["containerDeleteRetentionPolicy"] == {"enabled": True, "days": days}
        assert b["restorePolicy"]["enabled"] is True and b["restorePolicy"]["days"] < days <= b["changeFeed"]["retentionInDays"]


def test_lifecycle_cools_exports_and_backups(stack):
    rules = {r["name"]: r["definition"] for p in stack.of_type("azure-native:storage:ManagementPolicy") for r in p.inputs["policy"]["rules"]}
    assert rules["exports-cool-off"]["filters"]["prefixMatch"] == ["exports/"]
    assert rules["backups-cool-off"]["filters"]["prefixMatch"] == ["backups/"]
    for definition in rules.values():
        blob = definition["actions"]["baseBlob"]
        assert blob["tierToCool"]["daysAfterModificationGreaterThan"] < blob["tierToCold"]["daysAfterModificationGreaterThan"]
    assert "delete" not in rules["backups-cool-off"]["actions"]["baseBlob"], "immutable backups are never deleted by lifecycle"


def test_containers_per_tenant_plus_exports_and_backups(dev):
    names = sorted(c.inputs["containerName"] for c in dev.of_type("azure-native:storage:BlobContainer"))
    # Per tenant environment its attachments and its drill scratch container.
    assert names == sorted([c for t in dev.outputs["tenantEnvironments"] for c in (t, f"{t}-drill")] + ["backups", "exports"])
    assert {c.inputs["publicAccess"] for c in dev.of_type("azure-native:storage:BlobContainer")} == {"None"}


def test_backup_container_is_immutable_for_the_configured_time(dev, prod):
    """Account-level version immutability: a property of the account, updated with it. A container policy
    (BlobContainerImmutabilityPolicy) could not be updated or deleted through azure-native (pulumi-azure-native#2156)."""
    for rec, days in ((dev, 30), (prod, 2555)):
        assert rec.of_type("azure-native:storage:BlobContainerImmutabilityPolicy") == []
        account = rec.one(ACCOUNT, BACKUPS).inputs
        worm = account["immutableStorageWithVersioning"]
        assert worm == {"enabled": True, "immutabilityPolicy": {"immutabilityPeriodSinceCreationInDays": days, "state": "Unlocked", "allowProtectedAppendWrites": True}}
        [backups] = [c for c in rec.of_type("azure-native:storage:BlobContainer") if c.inputs["containerName"] == "backups"]
        assert backups.inputs["accountName"] == account["accountName"]
        # Version-level immutability rules out point-in-time restore; versioning is its prerequisite.
        service = rec.one("azure-native:storage:BlobServiceProperties", "st-backup-blob").inputs
        assert service["isVersioningEnabled"] is True and "restorePolicy" not in service


def test_tenant_identity_may_use_only_its_own_container(stack):
    """Odoo's identity writes its own container; the backup identities' grants are tested in test_backup_jobs.py."""
    grants = [
        r for r in stack.of_type("azure-native:authorization:RoleAssignment")
        if r.inputs["roleDefinitionId"].endswith("ba92f5b4-2d11-453d-a403-e96b0029c9fe") and r.name.endswith("-blob-role")
    ]
    assert len(grants) == len(stack.outputs["tenantEnvironments"])
    account = stack.one(ACCOUNT, FILES).inputs["accountName"]
    for grant in grants:
        tenant = grant.name.removesuffix("-blob-role")
        assert grant.inputs["scope"].endswith(f"/storageAccounts/{account}/blobServices/default/containers/{tenant}")
        assert grant.inputs["principalId"] == stable_uuid("principal", f"id-acme-{stack.stack}-weu-{tenant}")
    # No data access at account scope; production's Azure Backup vault holds the control-plane "Storage Account Backup
    # Contributor" there, which operational backup requires.
    account_wide = [r.inputs["description"] for r in stack.of_type("azure-native:authorization:RoleAssignment") if r.inputs["scope"].endswith(f"/storageAccounts/{account}")]
    assert account_wide == (["odoo-platform: Storage Account Backup Contributor"] if stack.stack == "prod" else [])


@pytest.mark.parametrize("name", [FILES, BACKUPS])
def test_blob_private_endpoint_and_diagnostics(stack, name):
    account = stack.one(ACCOUNT, name).inputs["accountName"]
    [pep] = [
        p for p in stack.of_type("azure-native:network:PrivateEndpoint")
        if p.inputs["privateLinkServiceConnections"][0]["groupIds"] == ["blob"] and p.inputs["privateLinkServiceConnections"][0]["privateLinkServiceId"].endswith(f"/storageAccounts/{account}")
    ]
    [diag] = [d for d in stack.of_type("azure-native:monitor:DiagnosticSetting") if d.inputs["resourceUri"].endswith(f"/storageAccounts/{account}/blobServices/default")]
    assert diag.inputs["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]
    # Storage services export Capacity and Transaction; Azure rejects AllMetrics there.
    assert diag.inputs["metrics"] == [{"category": "Capacity", "enabled": True}, {"category": "Transaction", "enabled": True}]


def test_production_account_and_containers_protected(prod, dev):
    assert all(a.protect for a in prod.of_type(ACCOUNT)) and all(c.protect for c in prod.of_type("azure-native:storage:BlobContainer"))
    assert not any(a.protect for a in dev.of_type(ACCOUNT))
