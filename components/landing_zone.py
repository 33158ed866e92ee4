"""LandingZone: resource groups, network, private DNS, monitoring, Key Vault and workload identities."""
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_random as random
from pulumi_azure_native import authorization, keyvault, managedidentity, network, operationalinsights, privatedns, resources

from .interfaces import (
    Diagnostics,
    PrivateAccess,
    diagnostic_setting,
    key_vault_secret,
    management_lock,
    private_endpoint,
    role_assignment,
)
from .naming import GENERATION_CHARS, Naming
from .rotation import SecretLifetime
from .tier import LockLevel, Tier, protect_for

RESOURCE_GROUPS = ("network", "management", "compute", "data")


@dataclass(frozen=True)
class SubnetPlan:
    aks_system: str
    aks_user: str
    private_endpoints: str
    postgres: str
    # Where the deployment runner lives when the API server and Key Vault are private (production).
    runners: Optional[str] = None


@dataclass(frozen=True)
class DrNetworkPlan:
    """A network in the disaster-recovery region, for a PostgreSQL warm standby."""

    location: str
    address_space: str
    postgres_subnet: str


@dataclass(frozen=True)
class LandingZoneArgs:
    naming: Naming
    tier: Tier
    address_space: str
    subnets: SubnetPlan
    # Who may reach the non-production Key Vault's public endpoint (deployment runners, admins).
    admin_cidrs: Sequence[str] = ()
    # User-assigned identities to create, by purpose (e.g. "aks", "kubelet").
    identities: Sequence[str] = ()
    # The subnet (purpose) whose nodes run a public ingress: 80/443 open to the Internet there only.
    public_ingress_subnet: Optional[str] = None
    # Azure CNI Overlay's pod CIDR: pod-to-pod traffic between nodes is not encapsulated and crosses the subnet NSGs.
    pod_cidr: Optional[str] = None
    dr: Optional[DrNetworkPlan] = None
    tags: Mapping[str, str] = field(default_factory=dict)
    lock: Optional[LockLevel] = None


def _dns_zones(naming: Naming) -> dict[str, str]:
    """Private DNS zone per private-link sub-resource; PostgreSQL's zone serves its delegated subnet."""
    return {
        "postgres": f"{naming.org}-{naming.stack}.private.postgres.database.azure.com",
        "redisEnterprise": "privatelink.redis.azure.net",
        "blob": "privatelink.blob.core.windows.net",
        "vault": "privatelink.vaultcore.azure.net",
        "registry": "privatelink.azurecr.io",
    }


def inbound_allows(purpose: str, public_ingress_subnet: Optional[str], pod_cidr: Optional[str]) -> list[tuple[str, str, str]]:
    """(rule name, source, destination ports) allowed into each subnet; everything else is denied."""
    if purpose == "postgres":
        # HA and replicas talk to each other on 5432 inside the VNet (and peered DR VNet), as do clients.
        return [("allow-vnet-postgres", "VirtualNetwork", "5432")]
    allows = [("allow-vnet", "VirtualNetwork", "*"), ("allow-azure-lb", "AzureLoadBalancer", "*")]
    if purpose.startswith("aks-") and pod_cidr:
        # The pod CIDR is not in the VirtualNetwork tag; overlay pod traffic keeps pod addresses between nodes
        # (AKS docs, "Azure CNI Overlay: network security groups": allow pod CIDR to pod CIDR and node to pod CIDR).
        allows.append(("allow-pod-cidr", pod_cidr, "*"))
    if purpose == public_ingress_subnet:
        # externalTrafficPolicy Local keeps the client address: packets arrive from the Internet, on the ingress nodes.
        allows.append(("allow-internet-https", "Internet", "443"))
        allows.append(("allow-internet-http-redirect", "Internet", "80"))
    return allows


class LandingZone(pulumi.ComponentResource):
    resource_groups: dict[str, resources.ResourceGroup]
    subnet_ids: dict[str, pulumi.Output[str]]
    dns_zone_ids: dict[str, pulumi.Output[str]]
    identities: dict[str, managedidentity.UserAssignedIdentity]
    dns_links: dict[str, privatedns.VirtualNetworkLink]

    def __init__(self, name: str, args: LandingZoneArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:landing:LandingZone", name, None, opts)
        naming, tier = args.naming, args.tier
        location = naming.location
        self._lock: Optional[LockLevel] = args.lock
        tags = dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=protect_for(tier))
        client = authorization.get_client_config_output()

        self.resource_groups = {}
        for purpose in RESOURCE_GROUPS:
            group = resources.ResourceGroup(
                f"rg-{purpose}", resource_group_name=naming.resource_group(purpose), location=location, tags=tags, opts=child
            )
            # Not the network group: it holds the PostgreSQL private DNS zone, which HA failover rewrites, and Microsoft
            # says not to lock that zone or its records ("Networking with private access"). Its VNet is locked instead.
            if purpose != "network":
                management_lock(f"rg-{purpose}", group.id, args.lock, self)
            self.resource_groups[purpose] = group
        rg_network = self.resource_groups["network"].name
        rg_management = self.resource_groups["management"].name

        # Monitoring first: every other resource sends its diagnostics here.
        self.workspace = operationalinsights.Workspace(
            "log",
            workspace_name=naming.log_analytics(),
            resource_group_name=rg_management,
            location=location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=90 if tier.is_production else 30,
            tags=tags,
            opts=stateful,
        )
        self.diagnostics = Diagnostics(workspace_id=self.workspace.id)

        self.vnet = network.VirtualNetwork(
            "vnet",
            virtual_network_name=naming.resource("vnet"),
            resource_group_name=rg_network,
            location=location,
            address_space=network.AddressSpaceArgs(address_prefixes=[args.address_space]),
            tags=tags,
            opts=child,
        )
        management_lock("vnet", self.vnet.id, args.lock, self)
        plan = {
            "aks-system": args.subnets.aks_system,
            "aks-user": args.subnets.aks_user,
            "private-endpoints": args.subnets.private_endpoints,
            "postgres": args.subnets.postgres,
            **({"runners": args.subnets.runners} if args.subnets.runners else {}),
        }
        # With Entra ID authentication the server must reach Entra ID (AzureActiveDirectory) outbound ("Networking
        # with private access"); default outbound access is off, so the delegated subnet gets a NAT gateway.
        # Watched by the stack's metric alerts (components/observability.py).
        self.nat_gateways: dict[str, network.NatGateway] = {}
        self.public_ips: dict[str, network.PublicIPAddress] = {}
        postgres_nat = self._nat_gateway("nat-postgres", naming.resource("nat", "postgres"), rg_network, location, tags)
        self.subnet_ids = {}
        previous: Optional[network.Subnet] = None
        for purpose, prefix in plan.items():
            nsg = network.NetworkSecurityGroup(
                f"nsg-{purpose}",
                network_security_group_name=naming.resource("nsg", purpose),
                resource_group_name=rg_network,
                location=location,
                security_rules=self._security_rules(purpose, args.public_ingress_subnet, args.pod_cidr),
                tags=tags,
                opts=child,
            )
            diagnostic_setting(f"nsg-{purpose}", nsg.id, self.diagnostics, self, log_category_groups=["allLogs"], metric_categories=())
            subnet = network.Subnet(
                f"snet-{purpose}",
                subnet_name=naming.subnet(purpose),
                virtual_network_name=self.vnet.name,
                resource_group_name=rg_network,
                address_prefix=prefix,
                network_security_group=network.NetworkSecurityGroupArgs(id=nsg.id),
                default_outbound_access=False,
                private_endpoint_network_policies="Enabled" if purpose == "private-endpoints" else None,
                delegations=[
                    network.DelegationArgs(name="postgres-flexible-server", service_name="Microsoft.DBforPostgreSQL/flexibleServers")
                ]
                if purpose == "postgres"
                else None,
                # WAL archiving and backups go to Azure Storage; with default outbound access off, a service endpoint
                # is that path ("Networking with private access": add a Microsoft.Storage service endpoint for HA).
                service_endpoints=[network.ServiceEndpointPropertiesFormatArgs(service="Microsoft.Storage")] if purpose == "postgres" else None,
                nat_gateway=network.SubResourceArgs(id=postgres_nat.id) if purpose == "postgres" else None,
                # Azure updates one subnet of a VNet at a time: create them one after another.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[previous] if previous else None),
            )
            previous = self._last_subnet = subnet
            self.subnet_ids[purpose] = subnet.id

        # The public ingress's fixed address, which every unit's `*` DNS record points at.
        self.ingress_public_ip: Optional[network.PublicIPAddress] = None
        if args.public_ingress_subnet:
            self.ingress_public_ip = self.public_ips["ingress"] = network.PublicIPAddress(
                "pip-ingress",
                public_ip_address_name=naming.resource("pip", "ingress"),
                resource_group_name=rg_network,
                location=location,
                sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
                public_ip_allocation_method="Static",
                public_ip_address_version="IPv4",
                zones=["1", "2", "3"] if tier.is_production else None,
                tags=tags,
                opts=child,
            )
            management_lock("pip-ingress", self.ingress_public_ip.id, args.lock, self)

        self.dns_zone_ids, self.dns_links = {}, {}
        self._dns_zone_names = _dns_zones(naming)
        for group_id, zone_name in self._dns_zone_names.items():
            zone = privatedns.PrivateZone(
                f"dns-{group_id.lower()}", private_zone_name=zone_name, resource_group_name=rg_network, location="global", tags=tags, opts=child
            )
            self.dns_links[group_id] = privatedns.VirtualNetworkLink(
                f"dns-{group_id.lower()}-link",
                virtual_network_link_name=f"link-{naming.resource('vnet')}",
                private_zone_name=zone.name,
                resource_group_name=rg_network,
                location="global",
                registration_enabled=False,
                virtual_network=privatedns.SubResourceArgs(id=self.vnet.id),
                tags=tags,
                opts=child,
            )
            self.dns_zone_ids[group_id] = zone.id
        self.private_access = PrivateAccess(
            resource_group_name=rg_network,
            location=location,
            subnet_id=self.subnet_ids["private-endpoints"],
            dns_zone_ids=self.dns_zone_ids,
        )

        # A deleted vault's name stays taken for 90 days (purge protection): a non-production stack that is destroyed
        # and rebuilt gets a new generation suffix. Production keeps one name; recreating it is meant to be hard.
        vault_name: pulumi.Input[str] = naming.key_vault()
        if not tier.is_production:
            generation = random.RandomId("kv-generation", byte_length=GENERATION_CHARS // 2, opts=child)
            vault_name = generation.hex.apply(naming.key_vault)
        self.key_vault = keyvault.Vault(
            "kv",
            vault_name=vault_name,
            resource_group_name=rg_management,
            location=location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=client.tenant_id,
                sku=keyvault.SkuArgs(family=keyvault.SkuFamily.A, name=keyvault.SkuName.STANDARD),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=90,
                enable_purge_protection=True,
                # Production is reached only through its private endpoint (deploy from inside the VNet);
                # non-production also admits the admin/runner CIDRs so a hosted CI runner can write secrets.
                public_network_access="Disabled" if tier.is_production else "Enabled",
                network_acls=keyvault.NetworkRuleSetArgs(
                    default_action="Deny",
                    bypass="AzureServices",
                    ip_rules=None if tier.is_production else [keyvault.IPRuleArgs(value=c) for c in args.admin_cidrs],
                ),
            ),
            tags=tags,
            opts=stateful,
        )
        management_lock("kv", self.key_vault.id, args.lock, self)
        diagnostic_setting("kv", self.key_vault.id, self.diagnostics, self, log_categories=["AuditEvent"])
        private_endpoint(naming.key_vault(), self.key_vault.id, "vault", self.private_access, tags, self)
        # Pulumi itself writes tenant secrets (database passwords, Odoo admin passwords) into the vault.
        role_assignment("kv-deployer", self.key_vault.id, "Key Vault Secrets Officer", client.object_id, self, principal_type=None)

        self.dr_resource_group: Optional[resources.ResourceGroup] = None
        self.dr_postgres_subnet_id: Optional[pulumi.Output[str]] = None
        if args.dr is not None:
            self._dr_network(args.dr, naming, tags)

        self.identities = {
            purpose: managedidentity.UserAssignedIdentity(
                f"id-{purpose}", resource_name_=naming.identity(purpose), resource_group_name=rg_management, location=location, tags=tags, opts=child
            )
            for purpose in args.identities
        }

        self.register_outputs(
            {
                "resourceGroupNames": {k: v.name for k, v in self.resource_groups.items()},
                "vnetId": self.vnet.id,
                "subnetIds": self.subnet_ids,
                "dnsZoneIds": self.dns_zone_ids,
                "workspaceId": self.workspace.id,
                "keyVaultId": self.key_vault.id,
                "keyVaultUri": self.key_vault.properties.vault_uri,
                "identityClientIds": {k: v.client_id for k, v in self.identities.items()},
            }
        )

    def _dr_network(self, dr: DrNetworkPlan, naming: Naming, tags: dict[str, str]) -> None:
        """Resource group, VNet and delegated PostgreSQL subnet in the DR region, resolving the same private DNS zone."""
        dr_naming = naming.for_region(dr.location)
        child = pulumi.ResourceOptions(parent=self)
        group = resources.ResourceGroup("rg-dr", resource_group_name=dr_naming.resource_group("dr"), location=dr.location, tags=tags, opts=child)
        management_lock("rg-dr", group.id, self._lock, self)
        vnet = network.VirtualNetwork(
            "vnet-dr",
            virtual_network_name=dr_naming.resource("vnet"),
            resource_group_name=group.name,
            location=dr.location,
            address_space=network.AddressSpaceArgs(address_prefixes=[dr.address_space]),
            tags=tags,
            opts=child,
        )
        nsg = network.NetworkSecurityGroup(
            "nsg-dr-postgres",
            network_security_group_name=dr_naming.resource("nsg", "postgres"),
            resource_group_name=group.name,
            location=dr.location,
            security_rules=self._security_rules("postgres", None, None),
            tags=tags,
            opts=child,
        )
        diagnostic_setting("nsg-dr-postgres", nsg.id, self.diagnostics, self, log_category_groups=["allLogs"], metric_categories=())
        subnet = network.Subnet(
            "snet-dr-postgres",
            subnet_name=naming.subnet("postgres"),
            virtual_network_name=vnet.name,
            resource_group_name=group.name,
            address_prefix=dr.postgres_subnet,
            network_security_group=network.NetworkSecurityGroupArgs(id=nsg.id),
            default_outbound_access=False,
            delegations=[network.DelegationArgs(name="postgres-flexible-server", service_name="Microsoft.DBforPostgreSQL/flexibleServers")],
            service_endpoints=[network.ServiceEndpointPropertiesFormatArgs(service="Microsoft.Storage")],
            nat_gateway=network.SubResourceArgs(id=self._nat_gateway("nat-dr-postgres", dr_naming.resource("nat", "postgres"), group.name, dr.location, tags).id),
            opts=child,
        )
        management_lock("vnet-dr", vnet.id, self._lock, self)
        # A cross-region replica with private access needs the two VNets connected, both ways ("Networking with
        # private access": replication across regions requires virtual network peering).
        for peering_name, local_rg, local_vnet, remote in (
            ("peer-primary-to-dr", self.resource_groups["network"].name, self.vnet.name, vnet.id),
            ("peer-dr-to-primary", group.name, vnet.name, self.vnet.id),
        ):
            network.VirtualNetworkPeering(
                peering_name,
                virtual_network_peering_name=peering_name,
                resource_group_name=local_rg,
                virtual_network_name=local_vnet,
                remote_virtual_network=network.SubResourceArgs(id=remote),
                allow_virtual_network_access=True,
                allow_forwarded_traffic=False,
                allow_gateway_transit=False,
                use_remote_gateways=False,
                # A VNet takes one update at a time: after its subnets.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self._last_subnet, subnet]),
            )
        self.dns_links["postgres-dr"] = privatedns.VirtualNetworkLink(
            "dns-postgres-dr-link",
            virtual_network_link_name=f"link-{dr_naming.resource('vnet')}",
            private_zone_name=self._dns_zone_names["postgres"],
            resource_group_name=self.resource_groups["network"].name,
            location="global",
            registration_enabled=False,
            virtual_network=privatedns.SubResourceArgs(id=vnet.id),
            tags=tags,
            opts=child,
        )
        self.dr_resource_group, self.dr_postgres_subnet_id = group, subnet.id

    def _nat_gateway(self, name: str, azure_name: str, resource_group_name: pulumi.Input[str], location: str, tags: dict[str, str]) -> network.NatGateway:
        """Outbound for a subnet without default outbound access, through one static public address."""
        address = self.public_ips[name] = network.PublicIPAddress(
            f"{name}-pip",
            public_ip_address_name=f"pip-{azure_name}",
            resource_group_name=resource_group_name,
            location=location,
            sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
            public_ip_allocation_method="Static",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.nat_gateways[name] = network.NatGateway(
            name,
            nat_gateway_name=azure_name,
            resource_group_name=resource_group_name,
            location=location,
            sku=network.NatGatewaySkuArgs(name="Standard"),
            public_ip_addresses=[network.SubResourceArgs(id=address.id)],
            idle_timeout_in_minutes=4,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return self.nat_gateways[name]

    def store_secret(self, secret_name: str, value: pulumi.Input[str], lifetime: SecretLifetime) -> keyvault.Secret:
        """Keep a generated secret in the landing zone's Key Vault (value secret end to end), expiring after `lifetime`."""
        return key_vault_secret(f"kv-{secret_name}", secret_name, value, self.key_vault.name, self.resource_groups["management"].name, self, lifetime=lifetime)

    def grant_secret_read(self, name: str, secret: keyvault.Secret, principal_id: pulumi.Input[str]) -> authorization.RoleAssignment:
        """Key Vault Secrets User for one identity on exactly one secret, never the whole vault. Scoped to the secret's
        own id, so the grant waits for the secret (whether ARM accepts a scope that does not exist yet is not documented)."""
        return role_assignment(name, secret.id, "Key Vault Secrets User", principal_id, self)

    @staticmethod
    def _security_rules(purpose: str, public_ingress_subnet: Optional[str], pod_cidr: Optional[str]) -> list[network.SecurityRuleArgs]:
        rules = [
            network.SecurityRuleArgs(
                name=rule_name,
                priority=1000 + 10 * i,
                direction="Inbound",
                access="Allow",
                protocol="Tcp" if ports != "*" else "*",
                source_address_prefix=source,
                source_port_range="*",
                destination_address_prefix="*",
                destination_port_range=ports,
            )
            for i, (rule_name, source, ports) in enumerate(inbound_allows(purpose, public_ingress_subnet, pod_cidr))
        ]
        rules.append(
            network.SecurityRuleArgs(
                name="deny-all-inbound",
                priority=4096,
                direction="Inbound",
                access="Deny",
                protocol="*",
                source_address_prefix="*",
                source_port_range="*",
                destination_address_prefix="*",
                destination_port_range="*",
            )
        )
        return rules
