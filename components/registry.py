"""ContainerRegistry: the platform's own registry, the only place the cluster pulls images from.

Premium (private endpoint, geo-replication, network rules), admin user off, untagged manifests purged after a
week, reached privately. Public images the platform's charts run (Traefik, cert-manager) come through artifact-cache
rules, so nodes never pull from the Internet and Docker Hub's pull limits do not apply to node scale-outs.
"""
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
from pulumi_azure_native import authorization, containerregistry

from .interfaces import Diagnostics, PrivateAccess, diagnostic_setting, management_lock, private_endpoint, role_assignment
from .naming import Naming
from .tier import LockLevel, Tier, protect_for

UNTAGGED_RETENTION_DAYS = 7


@dataclass(frozen=True)
class ContainerRegistryArgs:
    naming: Naming
    tier: Tier
    resource_group_name: pulumi.Input[str]
    private_access: PrivateAccess
    diagnostics: Diagnostics
    # Non-production: CI runners on these CIDRs push images over the public endpoint. Production is private only.
    push_cidrs: Sequence[str] = ()
    # Production: a replica in the DR region, so a regional outage does not stop pulls there.
    replica_location: Optional[str] = None
    # Repository in this registry -> upstream repository it caches (e.g. "traefik" -> "docker.io/library/traefik").
    cached_repositories: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    lock: Optional[LockLevel] = None


class ContainerRegistry(pulumi.ComponentResource):
    registry: containerregistry.Registry
    login_server: pulumi.Output[str]

    def __init__(self, name: str, args: ContainerRegistryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:registry:ContainerRegistry", name, None, opts)
        naming, tier = args.naming, args.tier
        production = tier.is_production
        tags = dict(args.tags)
        self.name = naming.container_registry()
        self.registry = containerregistry.Registry(
            "cr",
            registry_name=self.name,
            resource_group_name=args.resource_group_name,
            location=naming.location,
            sku=containerregistry.SkuArgs(name="Premium"),
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            public_network_access="Disabled" if production else "Enabled",
            network_rule_set=containerregistry.NetworkRuleSetArgs(
                default_action="Deny",
                ip_rules=None if production else [containerregistry.IPRuleArgs(i_p_address_or_range=c, action="Allow") for c in args.push_cidrs],
            ),
            network_rule_bypass_options="AzureServices",
            zone_redundancy="Enabled" if production else "Disabled",
            policies=containerregistry.PoliciesArgs(
                retention_policy=containerregistry.RetentionPolicyArgs(days=UNTAGGED_RETENTION_DAYS, status="enabled"),
                # Export (az acr import/pipelines out of the registry) only where the registry is private anyway.
                export_policy=containerregistry.ExportPolicyArgs(status="disabled") if production else None,
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=protect_for(tier)),
        )
        self.login_server = self.registry.login_server
        management_lock("cr", self.registry.id, args.lock, self)
        diagnostic_setting("cr", self.registry.id, args.diagnostics, self, log_category_groups=["allLogs"])
        private_endpoint(self.name, self.registry.id, "registry", args.private_access, tags, self)
        if args.replica_location:
            containerregistry.Replication(
                "cr-replica",
                replication_name=args.replica_location,
                registry_name=self.registry.name,
                resource_group_name=args.resource_group_name,
                location=args.replica_location,
                region_endpoint_enabled=True,
                zone_redundancy="Enabled",
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
        for target, source in args.cached_repositories.items():
            containerregistry.CacheRule(
                f"cr-cache-{target.replace('/', '-')}",
                cache_rule_name=target.replace("/", "-"),
                registry_name=self.registry.name,
                resource_group_name=args.resource_group_name,
                source_repository=source,
                target_repository=target,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"loginServer": self.login_server})

    def image(self, reference: str) -> pulumi.Output[str]:
        """`repository[:tag]@sha256:...` in this registry, as a full image reference."""
        return pulumi.Output.concat(self.login_server, "/", reference)

    def grant_pull(self, name: str, principal_id: pulumi.Input[str]) -> authorization.RoleAssignment:
        """AcrPull on this registry only (the kubelet identity pulls every pod's image)."""
        return role_assignment(name, self.registry.id, "AcrPull", principal_id, self)
