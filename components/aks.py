"""AksCluster: the managed cluster, one node pool per workload class, identity plumbing and the Kubernetes provider."""
import base64
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi_azure_native import containerservice, managedidentity

from .capacity import NodePoolSpec, pools_for_tier
from .interfaces import Diagnostics, diagnostic_setting, management_lock, role_assignment
from .naming import Naming, check_name
from .tier import LockLevel, Tier

# Entra ID application of the AKS AAD server, which kubelogin requests tokens for.
AKS_AAD_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
# Azure CNI Overlay's pod address space: outside the VNet, and not covered by the VirtualNetwork service tag.
POD_CIDR = "192.168.0.0/16"
# Cluster tiers on which AKS accepts the cost-analysis add-on (metricsProfile.costAnalysis).
COST_ANALYSIS_TIERS = ("Standard", "Premium")


@dataclass(frozen=True)
class MaintenanceWindow:
    day_of_week: str = "Sunday"
    start_time: str = "01:00"
    duration_hours: int = 4
    utc_offset: str = "+00:00"
    # (start, end) ISO dates with no maintenance at all: month-end close, payroll, year-end.
    not_allowed: tuple[tuple[str, str], ...] = ()


def kubeconfig_for_pulumi(kubeconfig_b64: str) -> str:
    """The cluster's user kubeconfig (exec format) with kubelogin switched to non-interactive Azure CLI login."""
    config = yaml.safe_load(base64.b64decode(kubeconfig_b64))
    for user in config.get("users", []):
        exec_ = user.get("user", {}).get("exec")
        if exec_ is None:
            raise ValueError("expected an exec (kubelogin) kubeconfig; local accounts are disabled")
        exec_["command"] = "kubelogin"
        exec_["args"] = ["get-token", "--login", "azurecli", "--server-id", AKS_AAD_SERVER_ID]
    return yaml.safe_dump(config)


def pool_settings(spec: NodePoolSpec, kubernetes_version: str) -> dict[str, Any]:
    """What every node pool, inline or separate, takes from its spec: autoscaled Azure Linux VMSS, encrypted at host."""
    return {
        "os_type": "Linux",
        "os_sku": "AzureLinux",
        "type": "VirtualMachineScaleSets",
        "orchestrator_version": kubernetes_version,
        "vm_size": spec.vm_size,
        "enable_auto_scaling": True,
        "count": spec.min_count,
        "min_count": spec.min_count,
        "max_count": spec.max_count,
        "max_pods": spec.max_pods,
        "os_disk_type": spec.os_disk_type,
        "os_disk_size_gb": spec.os_disk_size_gb,
        "availability_zones": list(spec.zones) or None,
        "enable_encryption_at_host": True,
        "upgrade_settings": containerservice.AgentPoolUpgradeSettingsArgs(max_surge="33%"),
    }


@dataclass(frozen=True)
class AksClusterArgs:
    naming: Naming
    tier: Tier
    kubernetes_version: str
    resource_group_name: pulumi.Input[str]
    system_subnet_id: pulumi.Input[str]
    user_subnet_id: pulumi.Input[str]
    control_plane_identity: managedidentity.UserAssignedIdentity
    kubelet_identity: managedidentity.UserAssignedIdentity
    diagnostics: Diagnostics
    admin_group_ids: Sequence[str]
    system_pool: NodePoolSpec
    user_pools: Mapping[str, NodePoolSpec]
    maintenance: MaintenanceWindow = MaintenanceWindow()
    # The principal that runs `pulumi up` (getClientConfig's object id): it creates the Kubernetes objects.
    deployer_object_id: pulumi.Input[str] = ""
    # The resource group of a public IP the cluster's load balancer takes (the ingress's fixed address).
    load_balancer_ip_group_id: Optional[pulumi.Input[str]] = None
    # Non-production only: who may reach the public API server. Production is a private cluster.
    api_server_cidrs: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    lock: Optional[LockLevel] = None


class AksCluster(pulumi.ComponentResource):
    cluster: containerservice.ManagedCluster
    pools: dict[str, containerservice.AgentPool]
    oidc_issuer_url: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(self, name: str, args: AksClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:aks:AksCluster", name, None, opts)
        naming, tier = args.naming, args.tier
        production = tier.is_production
        # Production gets the uptime SLA (Standard); non-production the Free tier.
        sku_tier = "Standard" if production else "Free"
        if not production and not args.api_server_cidrs:
            raise ValueError("a non-production cluster needs api_server_cidrs: an empty list would leave the API server open")
        if args.deployer_object_id == "":
            raise ValueError("deployer_object_id must name the principal that deploys the Kubernetes objects")
        self._args = args
        tags = dict(args.tags)
        system, user_pools = pools_for_tier(tier, args.system_pool, args.user_pools)
        self.system_pool, self.user_pool_specs = system, user_pools

        # Bring-your-own VNet and kubelet identity: the control plane must manage both before the cluster exists.
        cp_principal = args.control_plane_identity.principal_id
        grants = [
            role_assignment(f"{name}-cp-subnet-{purpose}", subnet, "Network Contributor", cp_principal, self)
            for purpose, subnet in (("system", args.system_subnet_id), ("user", args.user_subnet_id))
        ]
        grants.append(role_assignment(f"{name}-cp-kubelet", args.kubelet_identity.id, "Managed Identity Operator", cp_principal, self))
        if args.load_balancer_ip_group_id is not None:
            # A LoadBalancer Service naming an existing public IP (azure-pip-name) is attached by the cluster identity.
            grants.append(role_assignment(f"{name}-cp-ingress-ip", args.load_balancer_ip_group_id, "Network Contributor", cp_principal, self))

        workspace_id = args.diagnostics.workspace_id
        security = containerservice.ManagedClusterSecurityProfileArgs(
            workload_identity=containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True),
            defender=containerservice.ManagedClusterSecurityProfileDefenderArgs(
                log_analytics_workspace_resource_id=workspace_id,
                security_monitoring=containerservice.ManagedClusterSecurityProfileDefenderSecurityMonitoringArgs(enabled=True),
            )
            if production
            else None,
            image_cleaner=containerservice.ManagedClusterSecurityProfileImageCleanerArgs(enabled=True, interval_hours=168) if production else None,
        )
        api_server = (
            containerservice.ManagedClusterAPIServerAccessProfileArgs(
                enable_private_cluster=True, enable_private_cluster_public_fqdn=False, private_dns_zone="system"
            )
            if production
            else containerservice.ManagedClusterAPIServerAccessProfileArgs(authorized_ip_ranges=list(args.api_server_cidrs))
        )
        self.cluster = containerservice.ManagedCluster(
            "aks",
            resource_name_=naming.aks(),
            resource_group_name=args.resource_group_name,
            location=naming.location,
            dns_prefix=f"{naming.org}-{naming.stack}",
            kubernetes_version=args.kubernetes_version,
            node_resource_group=naming.resource_group("aks-nodes"),
            sku=containerservice.ManagedClusterSKUArgs(name="Base", tier=sku_tier),
            # Namespace and deployment costs in Cost Management; Azure accepts it only on the Standard and Premium tiers
            # (ManagedClusterCostAnalysis.enabled, https://learn.microsoft.com/azure/aks/cost-analysis).
            metrics_profile=containerservice.ManagedClusterMetricsProfileArgs(
                cost_analysis=containerservice.ManagedClusterCostAnalysisArgs(enabled=True)
            )
            if sku_tier in COST_ANALYSIS_TIERS
            else None,
            identity=containerservice.ManagedClusterIdentityArgs(
                type=containerservice.ResourceIdentityType.USER_ASSIGNED, user_assigned_identities=[args.control_plane_identity.id]
            ),
            identity_profile={
                "kubeletidentity": containerservice.UserAssignedIdentityArgs(
                    resource_id=args.kubelet_identity.id,
                    client_id=args.kubelet_identity.client_id,
                    object_id=args.kubelet_identity.principal_id,
                )
            },
            enable_rbac=True,
            disable_local_accounts=True,
            aad_profile=containerservice.ManagedClusterAADProfileArgs(
                managed=True, enable_azure_rbac=True, admin_group_object_ids=list(args.admin_group_ids)
            ),
            api_server_access_profile=api_server,
            network_profile=containerservice.ContainerServiceNetworkProfileArgs(
                network_plugin="azure",
                network_plugin_mode="overlay",
                network_dataplane="cilium",
                network_policy="cilium",
                pod_cidr=POD_CIDR,
                service_cidr="172.16.0.0/16",
                dns_service_ip="172.16.0.10",
                load_balancer_sku="standard",
                outbound_type="loadBalancer",
                # Cilium FQDN policies let tenant pods reach Entra ID by name and nothing else public.
                advanced_networking=containerservice.AdvancedNetworkingArgs(
                    enabled=True,
                    security=containerservice.AdvancedNetworkingSecurityArgs(enabled=True, advanced_network_policies="FQDN"),
                    observability=containerservice.AdvancedNetworkingObservabilityArgs(enabled=False),
                ),
            ),
            oidc_issuer_profile=containerservice.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=security,
            auto_upgrade_profile=containerservice.ManagedClusterAutoUpgradeProfileArgs(
                # Minor versions move only through kubernetesVersion (tested in dev first); patches and node images follow the window.
                upgrade_channel="patch",
                node_os_upgrade_channel="NodeImage",
            ),
            addon_profiles={
                "omsagent": containerservice.ManagedClusterAddonProfileArgs(
                    enabled=True, config={"logAnalyticsWorkspaceResourceID": workspace_id, "useAADAuth": "true"}
                ),
                "azureKeyvaultSecretsProvider": containerservice.ManagedClusterAddonProfileArgs(
                    enabled=True, config={"enableSecretRotation": "true", "rotationPollInterval": "2m"}
                ),
                "azurepolicy": containerservice.ManagedClusterAddonProfileArgs(enabled=True),
            },
            # KEDA scales non-production Odoo to zero outside working hours (OdooTenant's ScaledObjects).
            workload_auto_scaler_profile=containerservice.ManagedClusterWorkloadAutoScalerProfileArgs(
                keda=containerservice.ManagedClusterWorkloadAutoScalerProfileKedaArgs(enabled=True)
            ),
            azure_monitor_profile=containerservice.ManagedClusterAzureMonitorProfileArgs(
                metrics=containerservice.ManagedClusterAzureMonitorProfileMetricsArgs(enabled=True)
            ),
            agent_pool_profiles=[self._system_profile(system, args)],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants, ignore_changes=["agentPoolProfiles[0].count"]),
        )
        management_lock("aks", self.cluster.id, args.lock, self)
        diagnostic_setting("aks", self.cluster.id, args.diagnostics, self, log_categories=["kube-audit-admin", "guard"])

        # AKS runs one operation at a time on a cluster ("OperationNotAllowed: Another agentpool operation ... is in
        # progress", aka.ms/aks-pending-operation): pools and maintenance configurations are created one after another.
        last: pulumi.Resource = self.cluster
        self.pools = {}
        for cls, spec in user_pools.items():
            last = self.pools[cls] = containerservice.AgentPool(
                f"pool-{cls}",
                agent_pool_name=check_name("generic", cls),
                resource_name_=self.cluster.name,
                resource_group_name=args.resource_group_name,
                mode="User",
                vnet_subnet_id=args.user_subnet_id,
                node_labels={"workload-class": cls},
                node_taints=[f"workload-class={cls}:NoSchedule"],
                **pool_settings(spec, args.kubernetes_version),
                tags=tags,
                # The autoscaler owns the node count once the pool exists.
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["count"], depends_on=[last]),
            )
        for config_name in ("aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"):
            last = containerservice.MaintenanceConfiguration(
                f"aks-{config_name}",
                config_name=config_name,
                resource_name_=self.cluster.name,
                resource_group_name=args.resource_group_name,
                maintenance_window=self._window(args.maintenance),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[last]),
            )
        self.last_operation = last

        # Azure RBAC for Kubernetes without local accounts: Owner or Contributor carry no Kubernetes data actions, so
        # the principal running `pulumi up` gets cluster admin through Azure RBAC to create the Kubernetes objects.
        deployer = role_assignment(
            f"{name}-deployer", self.cluster.id, "Azure Kubernetes Service RBAC Cluster Admin", args.deployer_object_id, self, principal_type=None
        )

        self.oidc_issuer_url = self.cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p and p.issuer_url else "")
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=args.resource_group_name, resource_name=self.cluster.name, format="exec"
        )
        kubeconfig = pulumi.Output.secret(credentials.kubeconfigs.apply(lambda k: kubeconfig_for_pulumi(k[0].value)))
        self.provider = k8s.Provider(
            "aks",
            kubeconfig=kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.last_operation, deployer]),
        )
        self.register_outputs(
            {
                "clusterId": self.cluster.id,
                "oidcIssuerUrl": self.oidc_issuer_url,
                "poolNames": list(self.pools),
            }
        )

    @staticmethod
    def _system_profile(spec: NodePoolSpec, args: AksClusterArgs) -> containerservice.ManagedClusterAgentPoolProfileArgs:
        """The only inline pool: Azure cannot change inline pools in place, so it hosts only system add-ons."""
        return containerservice.ManagedClusterAgentPoolProfileArgs(
            name="system",
            mode="System",
            vnet_subnet_id=args.system_subnet_id,
            node_labels={"workload-class": "system"},
            node_taints=["CriticalAddonsOnly=true:NoSchedule"],
            **pool_settings(spec, args.kubernetes_version),
        )

    @staticmethod
    def _window(window: MaintenanceWindow) -> containerservice.MaintenanceWindowArgs:
        return containerservice.MaintenanceWindowArgs(
            schedule=containerservice.ScheduleArgs(
                weekly=containerservice.WeeklyScheduleArgs(day_of_week=window.day_of_week, interval_weeks=1)
            ),
            start_time=window.start_time,
            duration_hours=window.duration_hours,
            utc_offset=window.utc_offset,
            not_allowed_dates=[containerservice.DateSpanArgs(start=s, end=e) for s, e in window.not_allowed] or None,
        )

    def workload_identity(
        self, name: str, namespace: str, service_account: str, resource_group_name: pulumi.Input[str]
    ) -> managedidentity.UserAssignedIdentity:
        """A user-assigned identity that pods running as `namespace/service_account` can use (annotate with its client_id)."""
        identity = managedidentity.UserAssignedIdentity(
            f"id-{name}",
            resource_name_=self._args.naming.identity(name),
            resource_group_name=resource_group_name,
            location=self._args.naming.location,
            tags=dict(self._args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        managedidentity.FederatedIdentityCredential(
            f"fic-{name}",
            federated_identity_credential_resource_name=f"aks-{namespace}-{service_account}",
            resource_name_=identity.name,
            resource_group_name=resource_group_name,
            issuer=self.oidc_issuer_url,
            subject=f"system:serviceaccount:{namespace}:{service_account}",
            audiences=["api://AzureADTokenExchange"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return identity
