"""The interfaces every component shares, with the same names everywhere (as Azure Verified Modules do):
`tags`, `lock`, `diagnostics`, `private_access` and role assignments.
"""
import uuid
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_random as random
from pulumi_azure_native import authorization, keyvault, monitor, network

from .rotation import SecretLifetime, expires_at
from .tier import LockLevel

# Built-in Azure role definition ids (the same in every tenant).
ROLES = {
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Managed Identity Operator": "f1a07417-d97a-45cb-824c-7a7467783830",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Azure Kubernetes Service RBAC Cluster Admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
    "DNS Zone Contributor": "befefa01-2a29-4197-83a8-272ff33ce314",
    "Monitoring Reader": "43d0d8ad-25c7-4714-9337-8ba259a9fe05",
    "Monitoring Data Reader": "b0d8363b-8ddd-447d-831f-62ca05bff136",
    "Grafana Viewer": "60921a7e-fef1-4a43-9b16-a26c52ad4769",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "PostgreSQL Flexible Server Long Term Retention Backup Role": "c088a766-074b-43ba-90d4-1fb21feae531",
    "Storage Account Backup Contributor": "e5e2a7ff-d759-4cd2-bb51-3152d37e2eb1",
}


@dataclass(frozen=True)
class Diagnostics:
    """Where a component sends its logs and metrics: the landing zone's Log Analytics workspace."""

    workspace_id: pulumi.Input[str]


@dataclass(frozen=True)
class PrivateAccess:
    """How a component's private endpoints attach: the subnet, and the private DNS zone per sub-resource."""

    resource_group_name: pulumi.Input[str]
    location: str
    subnet_id: pulumi.Input[str]
    dns_zone_ids: Mapping[str, pulumi.Input[str]]


def diagnostic_setting(
    name: str,
    target_id: pulumi.Input[str],
    diagnostics: Diagnostics,
    parent: pulumi.Resource,
    log_categories: Sequence[str] = (),
    log_category_groups: Sequence[str] = (),
    metric_categories: Sequence[str] = ("AllMetrics",),
) -> monitor.DiagnosticSetting:
    """Send the target's logs (by category or category group) and metrics to the workspace. Categories differ per
    resource type (storage services export `Capacity` and `Transaction`, NSGs no metrics): tools/deploy_rules.py checks them."""
    logs = [monitor.DiagnosticsLogSettingsArgs(category=c, enabled=True) for c in log_categories]
    logs += [monitor.DiagnosticsLogSettingsArgs(category_group=g, enabled=True) for g in log_category_groups]
    return monitor.DiagnosticSetting(
        f"{name}-diag",
        name="to-log-analytics",
        resource_uri=target_id,
        workspace_id=diagnostics.workspace_id,
        log_analytics_destination_type="Dedicated",
        logs=logs or None,
        metrics=[monitor.DiagnosticsMetricSettingsArgs(category=c, enabled=True) for c in metric_categories] or None,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def management_lock(
    name: str, scope: pulumi.Input[str], lock: Optional[LockLevel], parent: pulumi.Resource
) -> Optional[authorization.ManagementLockByScope]:
    """An Azure delete (or read-only) lock on `scope`, when the component was given one."""
    if lock is None:
        return None
    return authorization.ManagementLockByScope(
        f"{name}-lock",
        lock_name=f"lock-{name}",
        scope=scope,
        level=lock,
        notes="Managed by odoo-platform: remove through the stack configuration, not the portal.",
        opts=pulumi.ResourceOptions(parent=parent),
    )


def private_endpoint(
    name: str,
    target_id: pulumi.Input[str],
    group_id: str,
    access: PrivateAccess,
    tags: dict[str, str],
    parent: pulumi.Resource,
) -> network.PrivateEndpoint:
    """A private endpoint for one sub-resource (`vault`, `blob`, `redisEnterprise`, ...) registered in its DNS zone."""
    endpoint = network.PrivateEndpoint(
        f"{name}-pep",
        private_endpoint_name=f"pep-{name}-{group_id.lower()}",
        resource_group_name=access.resource_group_name,
        location=access.location,
        subnet=network.SubnetArgs(id=access.subnet_id),
        private_link_service_connections=[
            network.PrivateLinkServiceConnectionArgs(name=f"{name}-{group_id.lower()}", private_link_service_id=target_id, group_ids=[group_id])
        ],
        tags=tags,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    network.PrivateDnsZoneGroup(
        f"{name}-pep-dns",
        private_dns_zone_group_name="default",
        private_endpoint_name=endpoint.name,
        resource_group_name=access.resource_group_name,
        private_dns_zone_configs=[network.PrivateDnsZoneConfigArgs(name=group_id.lower(), private_dns_zone_id=access.dns_zone_ids[group_id])],
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return endpoint


def role_assignment(
    name: str,
    scope: pulumi.Input[str],
    role: "str | authorization.RoleDefinition",
    principal_id: pulumi.Input[str],
    parent: pulumi.Resource,
    principal_type: Optional[str] = "ServicePrincipal",
    condition: Optional[str] = None,
    description: Optional[str] = None,
) -> authorization.RoleAssignment:
    """Grant a built-in role (by name, see ROLES) or one of the stack's custom roles (custom_role) on exactly `scope`,
    narrowed by an ABAC `condition` when given."""
    if isinstance(role, str):
        role_definition_id: pulumi.Input[str] = pulumi.Output.from_input(scope).apply(
            lambda s: f"/subscriptions/{s.split('/')[2]}/providers/Microsoft.Authorization/roleDefinitions/{ROLES[role]}"
        )
        label: pulumi.Input[str] = role
    else:
        role_definition_id, label = role.id, role.role_name.apply(lambda n: n or "")
    return authorization.RoleAssignment(
        f"{name}-role",
        scope=scope,
        role_definition_id=role_definition_id,
        principal_id=principal_id,
        principal_type=principal_type,
        condition=condition,
        condition_version="2.0" if condition else None,
        description=description or pulumi.Output.concat("odoo-platform: ", label),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def custom_role_id(role_name: str) -> str:
    """The GUID of the custom role named `role_name`: known before it exists (the deployer's RBAC condition lists it)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"odoo-platform/{role_name}"))


def custom_role(name: str, role_name: str, subscription_id: pulumi.Input[str], actions: Sequence[str], description: str,
                parent: pulumi.Resource) -> authorization.RoleDefinition:
    """A custom role holding exactly `actions`, assignable in this subscription. Its id is a UUID derived from
    `role_name` (unique in the tenant, so it names the stack): the same on every run, as ARM wants a GUID chosen by the caller."""
    scope = pulumi.Output.concat("/subscriptions/", subscription_id)
    return authorization.RoleDefinition(
        f"{name}-role-definition",
        role_definition_id=custom_role_id(role_name),
        role_name=role_name,
        role_type="CustomRole",
        description=description,
        scope=scope,
        assignable_scopes=[scope],
        permissions=[authorization.PermissionArgs(actions=list(actions))],
        opts=pulumi.ResourceOptions(parent=parent),
    )


def key_vault_secret(
    name: str,
    secret_name: str,
    value: pulumi.Input[str],
    vault_name: pulumi.Input[str],
    vault_resource_group_name: pulumi.Input[str],
    parent: pulumi.Resource,
    *,
    lifetime: SecretLifetime,
) -> keyvault.Secret:
    """A Key Vault secret whose value stays secret in Pulumi state, plans and logs. Its Azure name is `secret_name`
    plus a generation suffix: a deleted secret keeps its name for the vault's soft-delete period, so a re-added
    environment or a rebuilt stack must not ask for the same name (read it from `.name`). Its first version expires
    after `lifetime`; later versions are the rotation job's (components/rotation.py), so Pulumi leaves them alone."""
    generation = random.RandomId(f"{name}-generation", byte_length=3, keepers={"secret": secret_name}, opts=pulumi.ResourceOptions(parent=parent))
    azure_name = pulumi.Output.concat(secret_name, "-", generation.hex)
    return keyvault.Secret(
        name,
        secret_name=azure_name,
        vault_name=vault_name,
        resource_group_name=vault_resource_group_name,
        properties=keyvault.SecretPropertiesArgs(
            value=pulumi.Output.secret(value),
            content_type="password",
            attributes=keyvault.SecretAttributesArgs(enabled=True, expires=expires_at(name, azure_name, lifetime, parent)),
        ),
        tags={"odoo-platform/secret-kind": lifetime.kind, "odoo-platform/rotation-days": str(lifetime.rotation_days)},
        opts=pulumi.ResourceOptions(parent=parent, ignore_changes=["properties"]),
    )


_BLOB = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"


def blob_prefix_condition(prefix: str) -> str:
    """An Azure ABAC condition for a Storage Blob Data role: reads, writes, deletes and listings only under `prefix`.
    The shape of Microsoft's examples ("Read, write, or delete blobs in named containers with a path" and "List blobs
    with a prefix", learn.microsoft.com/azure/storage/blobs/storage-auth-abac-examples): a blob operation is allowed
    when its blob path starts with the prefix; a listing when the request's prefix does."""
    blob_actions = " AND ".join(
        f"!(ActionMatches{{'{_BLOB}/{action}'}})" for action in ("write", "add/action", "delete", "deleteBlobVersion/action")
    )
    return (
        f"((!(ActionMatches{{'{_BLOB}/read'}} AND NOT SubOperationMatches{{'Blob.List'}}) AND {blob_actions}) "
        f"OR (@Resource[{_BLOB}:path] StringStartsWith '{prefix}')) "
        f"AND ((!(ActionMatches{{'{_BLOB}/read'}} AND SubOperationMatches{{'Blob.List'}})) "
        f"OR (@Request[{_BLOB}:prefix] StringStartsWith '{prefix}'))"
    )
