"""The platform's registry (every image the cluster pulls) and the certificates issued inside the platform."""
from tools.deploy_rules import Plan
from tools.mocks import stable_uuid
from tools.plan import build_plan

REGISTRY = "azure-native:containerregistry:Registry"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"


def test_registry_is_premium_private_and_admin_free(stack):
    r = stack.one(REGISTRY).inputs
    assert r["registryName"] == f"cracme{stack.stack}weu" and r["sku"] == {"name": "Premium"}
    assert r["adminUserEnabled"] is False and r["anonymousPullEnabled"] is False
    assert r["networkRuleSet"]["defaultAction"] == "Deny"
    assert r["policies"]["retentionPolicy"] == {"days": 7, "status": "enabled"}
    [pep] = [p for p in stack.of_type("azure-native:network:PrivateEndpoint") if p.inputs["privateLinkServiceConnections"][0]["groupIds"] == ["registry"]]
    [group] = [g for g in stack.of_type("azure-native:network:PrivateDnsZoneGroup") if g.inputs["privateEndpointName"] == pep.inputs["privateEndpointName"]]
    assert group.inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"].endswith("/privateDnsZones/privatelink.azurecr.io")


def test_registry_by_tier(dev, prod):
    p, d = prod.one(REGISTRY), dev.one(REGISTRY)
    assert p.inputs["publicNetworkAccess"] == "Disabled" and p.inputs["zoneRedundancy"] == "Enabled" and p.protect
    assert p.inputs["policies"]["exportPolicy"] == {"status": "disabled"}
    # Non-production: CI runners on the admin CIDRs push over the public endpoint, nobody else.
    assert d.inputs["publicNetworkAccess"] == "Enabled" and d.inputs["networkRuleSet"]["ipRules"] == [{"iPAddressOrRange": "203.0.113.0/28", "action": "Allow"}]
    [replica] = [r.inputs for r in prod.of_type("azure-native:containerregistry:Replication")]
    assert replica["location"] == "northeurope"
    assert dev.of_type("azure-native:containerregistry:Replication") == []


def test_kubelet_may_pull_from_the_registry_only(stack):
    grants = [g.inputs for g in stack.of_type("azure-native:authorization:RoleAssignment") if g.inputs["roleDefinitionId"].endswith(ACR_PULL)]
    kubelet = stable_uuid("principal", f"id-acme-{stack.stack}-weu-aks-kubelet")
    assert [(g["principalId"], g["scope"].rsplit("/", 1)[-1]) for g in grants] == [(kubelet, f"cracme{stack.stack}weu")]


def test_every_workload_image_is_from_the_registry_by_digest(stack):
    server = f"cracme{stack.stack}weu.azurecr.io/"
    images = [c["image"] for t in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job") for r in stack.of_type(t) for c in r.inputs["spec"]["template"]["spec"]["containers"]]
    assert images and all(i.startswith(server) and "@sha256:" in i for i in images)


def test_chart_images_come_through_cache_rules(stack):
    rules = {r.inputs["targetRepository"]: r.inputs["sourceRepository"] for r in stack.of_type("azure-native:containerregistry:CacheRule")}
    assert rules == {"traefik": "docker.io/library/traefik", "jetstack/*": "quay.io/jetstack/*"}
    values = stack.one("kubernetes:helm.sh/v3:Release", "cert-manager").inputs["values"]
    assert (values["imageRegistry"], values["imageNamespace"]) == (f"cracme{stack.stack}weu.azurecr.io", "jetstack")


def test_one_dns_zone_per_unit_with_a_scoped_solver(stack):
    zones = {z.inputs["zoneName"] for z in stack.of_type("azure-native:dns:Zone")}
    domain = "test.erp.acme-construction.example" if stack.stack == "dev" else "erp.acme-construction.example"
    units = {key.split("-")[0] for key in stack.outputs["tenantEnvironments"]}
    assert zones == {f"{unit}.{domain}" for unit in units}
    identity = stable_uuid("principal", f"id-acme-{stack.stack}-weu-cert-manager")
    grants = [g.inputs for g in stack.of_type("azure-native:authorization:RoleAssignment") if g.inputs["roleDefinitionId"].endswith("befefa01-2a29-4197-83a8-272ff33ce314")]
    assert sorted(g["scope"].rsplit("/", 1)[-1] for g in grants) == sorted(zones) and {g["principalId"] for g in grants} == {identity}
    issuer = stack.one("kubernetes:cert-manager.io/v1:ClusterIssuer").inputs["spec"]["acme"]
    assert issuer["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    solvers = {s["selector"]["dnsZones"][0]: s["dns01"]["azureDNS"] for s in issuer["solvers"]}
    assert set(solvers) == zones and all(s["hostedZoneName"] == zone for zone, s in solvers.items())
    assert {s["managedIdentity"]["clientID"] for s in solvers.values()} == {stable_uuid("client", f"id-acme-{stack.stack}-weu-cert-manager")}
    assert set(stack.outputs["dnsNameServers"]) == units


def test_cert_manager_runs_with_workload_identity_on_the_system_pool(stack):
    values = stack.one("kubernetes:helm.sh/v3:Release", "cert-manager").inputs
    assert (values["chart"], values["version"], values["namespace"]) == ("cert-manager", "v1.21.2", "cert-manager")
    v = values["values"]
    assert v["podLabels"] == {"azure.workload.identity/use": "true"} and v["crds"]["enabled"] is True
    for part in (v, v["webhook"], v["cainjector"], v["startupapicheck"]):
        assert part["nodeSelector"] == {"workload-class": "system"}


def test_every_host_resolves_to_the_ingress_fixed_address(stack):
    pip = stack.one("azure-native:network:PublicIPAddress", "pip-ingress").inputs
    assert pip["publicIPAllocationMethod"] == "Static" and pip["sku"]["name"] == "Standard"
    records = [r.inputs for r in stack.of_type("azure-native:dns:RecordSet")]
    assert len(records) == len(stack.of_type("azure-native:dns:Zone"))
    assert all(r["relativeRecordSetName"] == "*" and r["recordType"] == "A" and r["targetResource"]["id"].endswith("/publicIPAddresses/pip-acme-" + stack.stack + "-weu-ingress") for r in records)
    annotations = stack.one("kubernetes:helm.sh/v3:Release", "traefik").inputs["values"]["service"]["annotations"]
    assert annotations["service.beta.kubernetes.io/azure-pip-name"] == pip["publicIpAddressName"]
    assert annotations["service.beta.kubernetes.io/azure-load-balancer-resource-group"] == pip["resourceGroupName"]
    # The cluster identity attaches the address, so it may before Traefik's Service exists.
    grant = stack.one("azure-native:authorization:RoleAssignment", "aks-cp-ingress-ip-role")
    assert grant.inputs["scope"].endswith(f"/resourceGroups/{pip['resourceGroupName']}")
    release = stack.one("kubernetes:helm.sh/v3:Release", "traefik")
    assert grant.urn in Plan(build_plan(stack)["resources"]).waits_for(release.urn)
