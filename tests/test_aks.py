"""AksCluster in both tiers: cluster settings, pools per workload class, identity wiring, provider, capacity."""
import base64

import pytest
import yaml

from components.aks import AKS_AAD_SERVER_ID, kubeconfig_for_pulumi
from components.capacity import CapacityError, NodePoolSpec, PodDemand, check_capacity, pods_per_node, pools_for_tier
from components.tier import Tier
from stacks.config import ConfigError, load_config
from stacks.sizing import PROFILES
from tools.deploy_rules import Plan
from tools.mocks import DEPLOYER_OBJECT_ID, TENANT_ID, arm_id, stable_uuid
from tools.plan import build_plan

CLUSTER = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
AKS = "odoo-platform:aks:AksCluster"


def cluster(rec):
    return rec.one(CLUSTER).inputs


def pools(rec):
    return {p.inputs["agentPoolName"]: p.inputs for p in rec.of_type(POOL)}


def _arm_identity(inputs):
    return arm_id("azure-native:managedidentity:UserAssignedIdentity", "", inputs)


def test_network_is_cni_overlay_with_cilium(stack):
    net = cluster(stack)["networkProfile"]
    assert (net["networkPlugin"], net["networkPluginMode"], net["networkDataplane"], net["networkPolicy"]) == ("azure", "overlay", "cilium", "cilium")
    assert net["outboundType"] == "loadBalancer" and net["loadBalancerSku"] == "standard"


def test_entra_id_with_azure_rbac_and_no_local_accounts(stack):
    c = cluster(stack)
    assert c["disableLocalAccounts"] is True and c["enableRBAC"] is True
    assert c["aadProfile"] == {"managed": True, "enableAzureRBAC": True, "adminGroupObjectIDs": ["3f2b7c1e-8a4d-4f6e-9b1a-2c3d4e5f6a7b"]}


def test_oidc_issuer_and_workload_identity(stack):
    c = cluster(stack)
    assert c["oidcIssuerProfile"] == {"enabled": True}
    assert c["securityProfile"]["workloadIdentity"] == {"enabled": True}


def test_user_assigned_control_plane_and_kubelet_identities(stack):
    c = cluster(stack)
    control_plane, kubelet = _arm_identity_for(stack, "aks-control-plane"), _arm_identity_for(stack, "aks-kubelet")
    assert c["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [control_plane]}
    assert c["identityProfile"]["kubeletidentity"]["resourceId"] == kubelet
    assert c["identityProfile"]["kubeletidentity"]["clientId"] == stable_uuid("client", kubelet.rsplit("/", 1)[-1])


def _arm_identity_for(rec, purpose):
    [r] = [r for r in rec.of_type("azure-native:managedidentity:UserAssignedIdentity") if r.inputs["resourceName"].endswith(purpose)]
    return _arm_identity(r.inputs)


def test_control_plane_may_manage_node_subnets_and_kubelet_identity_before_the_cluster(stack):
    grants = {r.name: r for r in stack.children(AKS, "azure-native:authorization:RoleAssignment") if r.name.startswith("aks-cp-")}
    cp_principal = stable_uuid("principal", f"id-acme-{stack.stack}-weu-aks-control-plane")
    assert {g.inputs["principalId"] for g in grants.values()} == {cp_principal}
    assert grants["aks-cp-subnet-system-role"].inputs["scope"].endswith("/subnets/snet-aks-system")
    assert grants["aks-cp-subnet-user-role"].inputs["scope"].endswith("/subnets/snet-aks-user")
    assert grants["aks-cp-kubelet-role"].inputs["scope"] == _arm_identity_for(stack, "aks-kubelet")
    assert grants["aks-cp-kubelet-role"].inputs["roleDefinitionId"].endswith("f1a07417-d97a-45cb-824c-7a7467783830")
    assert {g.urn for g in grants.values()} <= set(stack.one(CLUSTER).dependencies)


def test_upgrade_channels(stack):
    assert cluster(stack)["autoUpgradeProfile"] == {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"}


def test_monitoring_addons(stack):
    c = cluster(stack)
    workspace = stack.one("azure-native:operationalinsights:Workspace").inputs["workspaceName"]
    oms = c["addonProfiles"]["omsagent"]
    assert oms["enabled"] is True and oms["config"]["logAnalyticsWorkspaceResourceID"].endswith(f"/workspaces/{workspace}")
    assert oms["config"]["useAADAuth"] == "true"
    assert c["azureMonitorProfile"]["metrics"]["enabled"] is True
    secrets = c["addonProfiles"]["azureKeyvaultSecretsProvider"]
    assert secrets == {"enabled": True, "config": {"enableSecretRotation": "true", "rotationPollInterval": "2m"}}


def test_control_plane_logs_to_the_workspace(stack):
    [diag] = stack.children(AKS, "azure-native:monitor:DiagnosticSetting")
    assert diag.inputs["resourceUri"].endswith(f"/managedClusters/aks-acme-{stack.stack}-weu")
    assert {log["category"] for log in diag.inputs["logs"]} == {"kube-audit-admin", "guard"}


def test_production_hardening(prod, dev):
    p, d = cluster(prod), cluster(dev)
    assert p["sku"] == {"name": "Base", "tier": "Standard"} and d["sku"]["tier"] == "Free"
    assert p["securityProfile"]["defender"]["securityMonitoring"] == {"enabled": True}
    assert p["securityProfile"]["defender"]["logAnalyticsWorkspaceResourceId"].endswith("/workspaces/log-acme-prod-weu")
    assert p["securityProfile"]["imageCleaner"] == {"enabled": True, "intervalHours": 168}
    assert "defender" not in d["securityProfile"] and "imageCleaner" not in d["securityProfile"]


def test_api_server_exposure(prod, dev):
    assert cluster(prod)["apiServerAccessProfile"] == {"enablePrivateCluster": True, "enablePrivateClusterPublicFQDN": False, "privateDNSZone": "system"}
    assert cluster(dev)["apiServerAccessProfile"] == {"authorizedIPRanges": ["203.0.113.0/28"]}


def test_empty_api_allow_list_is_a_config_error_in_non_production(dev_settings):
    dev_settings["adminCidrs"] = []
    with pytest.raises(ConfigError) as e:
        load_config("dev", dev_settings)
    assert e.value.problems == [
        "odoo-platform:adminCidrs = []: the API server (non-production), Key Vault firewall and Odoo's database manager admit only these CIDRs; "
        "an empty list would leave them open or unusable"
    ]


def test_system_pool_is_the_only_inline_pool(stack):
    [system] = cluster(stack)["agentPoolProfiles"]
    assert system["name"] == "system" and system["mode"] == "System"
    assert system["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]
    assert system["vnetSubnetID"].endswith("/subnets/snet-aks-system")
    assert all(p["mode"] == "User" for p in pools(stack).values())


@pytest.mark.parametrize("cls", ["web", "jobs", "integration"])
def test_one_user_pool_per_workload_class(stack, cls):
    pool = pools(stack)[cls]
    assert pool["nodeLabels"] == {"workload-class": cls}
    assert pool["nodeTaints"] == [f"workload-class={cls}:NoSchedule"]
    assert pool["vnetSubnetID"].endswith("/subnets/snet-aks-user")
    assert pool["resourceName"] == f"aks-acme-{stack.stack}-weu"
    assert pool["enableAutoScaling"] is True and pool["enableEncryptionAtHost"] is True
    assert pool["orchestratorVersion"] == "1.34"


def test_pools_follow_the_sizing_profile(dev):
    profile = PROFILES["small"]
    for cls, spec in profile.user_pools.items():
        pool = pools(dev)[cls]
        assert (pool["vmSize"], pool["minCount"], pool["maxCount"], pool["maxPods"], pool["osDiskType"]) == (
            spec.vm_size, spec.min_count, spec.max_count, spec.max_pods, spec.os_disk_type
        )
        assert pool["minCount"] == 0, "non-production user pools may scale to zero"
        assert "availabilityZones" not in pool


def test_production_spreads_pools_over_three_zones(prod):
    [system] = cluster(prod)["agentPoolProfiles"]
    assert system["availabilityZones"] == ["1", "2", "3"] and system["minCount"] >= 3
    for pool in pools(prod).values():
        assert pool["availabilityZones"] == ["1", "2", "3"] and pool["minCount"] >= 1


def test_maintenance_windows_from_config(prod, dev):
    windows = {r.inputs["configName"]: r.inputs for r in prod.of_type("azure-native:containerservice:MaintenanceConfiguration")}
    assert set(windows) == {"aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"}
    for w in windows.values():
        assert w["resourceName"] == "aks-acme-prod-weu"
        assert w["maintenanceWindow"] == {
            "schedule": {"weekly": {"dayOfWeek": "Sunday", "intervalWeeks": 1}},
            "startTime": "02:00",
            "durationHours": 4,
            "utcOffset": "+01:00",
            "notAllowedDates": [{"start": "2026-12-21", "end": "2027-01-08"}],
        }
    dev_window = dev.one("azure-native:containerservice:MaintenanceConfiguration", "aks-aksManagedAutoUpgradeSchedule").inputs
    assert dev_window["maintenanceWindow"]["schedule"]["weekly"]["dayOfWeek"] == "Tuesday"


def test_maintenance_rules(dev_settings):
    dev_settings["maintenance"] = {"durationHours": 2, "startTime": "25:00", "notAllowedDates": [{"start": "2026-12-31", "end": "2026-12-01"}]}
    with pytest.raises(ConfigError) as e:
        load_config("dev", dev_settings)
    assert e.value.problems == [
        'odoo-platform:maintenance.startTime = "25:00": must be a 24-hour time HH:MM',
        "odoo-platform:maintenance.durationHours = 2: Input should be greater than or equal to 4",
        'odoo-platform:maintenance.notAllowedDates[0].end = "2026-12-01": ends before its start 2026-12-31',
    ]


def test_federated_credential_trusts_the_clusters_issuer(stack):
    issuer = f"https://westeurope.oic.prod-aks.azure.com/{TENANT_ID}/{stable_uuid('oidc', f'aks-acme-{stack.stack}-weu')}/"
    assert stack.outputs["oidcIssuerUrl"] == issuer
    creds = stack.of_type("azure-native:managedidentity:FederatedIdentityCredential")
    subjects = {c.inputs["subject"] for c in creds}
    assert {"system:serviceaccount:cert-manager:cert-manager", "system:serviceaccount:odoo-bootstrap:db-bootstrap"} <= subjects
    creds = [c for c in creds if c.inputs["subject"].startswith("system:serviceaccount:odoo-") and c.inputs["subject"].endswith(":odoo")]
    assert len(creds) == len(stack.outputs["tenantEnvironments"])
    for cred in creds:
        tenant = cred.inputs["resourceName"].removeprefix(f"id-acme-{stack.stack}-weu-")
        assert cred.inputs["issuer"] == issuer
        assert cred.inputs["subject"] == f"system:serviceaccount:odoo-{tenant}:odoo"
        assert cred.inputs["audiences"] == ["api://AzureADTokenExchange"]
        assert stack.outputs["tenantEnvironments"][tenant]["identityClientId"] == stable_uuid("client", cred.inputs["resourceName"])


def test_kubernetes_provider_kubeconfig_is_secret(stack):
    [provider] = stack.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]"
    plan = Plan(build_plan(stack)["resources"])
    assert {p.urn for p in stack.of_type(POOL)} <= plan.waits_for(provider.urn)


def test_deployer_is_cluster_admin_through_azure_rbac(stack):
    """Local accounts are off: whoever runs `pulumi up` needs a Kubernetes role through Azure RBAC first."""
    deployer = stack.one("azure-native:authorization:RoleAssignment", "aks-deployer-role")
    assert deployer.inputs["principalId"] == DEPLOYER_OBJECT_ID
    assert deployer.inputs["roleDefinitionId"].endswith("/b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b")
    assert deployer.inputs["scope"].endswith(f"/managedClusters/aks-acme-{stack.stack}-weu")
    [provider] = stack.of_type("pulumi:providers:kubernetes")
    assert deployer.urn in provider.dependencies


def test_pools_and_maintenance_configurations_are_created_one_at_a_time(stack):
    plan = Plan(build_plan(stack)["resources"])
    operations = [r.urn for r in stack.resources if r.type in (POOL, "azure-native:containerservice:MaintenanceConfiguration")]
    assert len(operations) == 5
    for i, a in enumerate(operations):
        for b in operations[i + 1 :]:
            assert a in plan.waits_for(b), f"{b} may run beside {a}"


def test_kubeconfig_uses_kubelogin_non_interactively():
    raw = {"users": [{"name": "u", "user": {"exec": {"command": "kubelogin", "args": ["get-token", "--login", "devicecode"]}}}]}
    converted = yaml.safe_load(kubeconfig_for_pulumi(base64.b64encode(yaml.safe_dump(raw).encode()).decode()))
    assert converted["users"][0]["user"]["exec"]["args"] == ["get-token", "--login", "azurecli", "--server-id", AKS_AAD_SERVER_ID]
    with pytest.raises(ValueError, match="local accounts are disabled"):
        kubeconfig_for_pulumi(base64.b64encode(yaml.safe_dump({"users": [{"name": "admin", "user": {"token": "x"}}]}).encode()).decode())


def test_pools_for_tier():
    system, user = pools_for_tier(Tier.PRODUCTION, NodePoolSpec("Standard_D2ds_v5", 1, 2), {"web": NodePoolSpec("Standard_D4ds_v5", 0, 4)})
    assert (system.min_count, system.max_count, system.zones) == (3, 3, ("1", "2", "3"))
    assert (user["web"].min_count, user["web"].zones) == (1, ("1", "2", "3"))
    system, user = pools_for_tier(Tier.NON_PRODUCTION, NodePoolSpec("Standard_D2ds_v5", 1, 2), {"web": NodePoolSpec("Standard_D4ds_v5", 0, 4)})
    assert (system.min_count, system.zones, user["web"].min_count) == (1, (), 0)


def test_pod_capacity_counts_cpu_memory_and_slots():
    spec = NodePoolSpec("Standard_D4ds_v5", 0, 5, max_pods=50)
    assert pods_per_node(spec, 500, 1024) == 6  # CPU-bound: (3600 - 600) // 500
    assert pods_per_node(spec, 100, 4096) == 3  # memory-bound
    assert pods_per_node(NodePoolSpec("Standard_D4ds_v5", 0, 5, max_pods=15), 100, 100) == 3  # slot-bound


def test_capacity_refusal_names_tenants_and_numbers():
    pools = {"web": NodePoolSpec("Standard_D4ds_v5", 0, 2)}
    with pytest.raises(CapacityError) as e:
        check_capacity(pools, {"web": [PodDemand("gc-dev", 8, 500, 1024), PodDemand("civil-qa", 6, 500, 1024)]})
    assert str(e.value).startswith(
        "workload class 'web' needs 14 pods for 2 tenant environments (gc-dev 8, civil-qa 6) but its pool holds at most 12 "
        "(2 x Standard_D4ds_v5 nodes, 6 pods of 500m CPU / 1024 MiB each)"
    )
    assert check_capacity(pools, {"web": [PodDemand("gc-dev", 12, 500, 1024)]}) == {"web": 12}


def test_a_tenant_plan_that_does_not_fit_is_a_config_error(dev_settings):
    dev_settings["units"] += [{"name": f"unit{i}", "displayName": f"Unit {i}", "environments": ["dev"]} for i in range(3)]
    with pytest.raises(ConfigError) as e:
        load_config("dev", dev_settings)
    [problem] = e.value.problems
    assert problem.startswith('odoo-platform:sizing = "small": workload class \'jobs\' needs 30 pods for 10 tenant environments (gc-dev 3, ')
    assert "but its pool holds at most 24 (4 x Standard_D4ds_v5 nodes" in problem
