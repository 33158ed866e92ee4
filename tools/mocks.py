"""Pulumi mocks that answer like Azure: realistic ARM ids and the outputs later resources read.

One implementation, shared by the tests and the offline preview. Ids are built from the
resource type, its resource group and its name (nested resources under their parent, extension
resources under their scope), so a scope or reference can be checked, not just counted.
"""
import base64
import datetime
import json
import uuid
from typing import Any, Optional

import pulumi
import yaml

SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000001"
TENANT_ID = "00000000-0000-4000-8000-00000000aaaa"
DEPLOYER_OBJECT_ID = "00000000-0000-4000-8000-00000000bbbb"
DEPLOYER_CLIENT_ID = "00000000-0000-4000-8000-00000000cccc"
# What time.Static records when no instant is given.
MOCK_NOW = "2026-01-01T00:00:00Z"

# azure-native type -> (ARM path under the resource group, the input that holds the Azure name).
# `{input}` placeholders in the path are filled from the resource's inputs (parent names).
_ARM_PATHS: dict[str, tuple[str, str]] = {
    "network:VirtualNetwork": ("Microsoft.Network/virtualNetworks", "virtualNetworkName"),
    "network:Subnet": ("Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets", "subnetName"),
    "network:NetworkSecurityGroup": ("Microsoft.Network/networkSecurityGroups", "networkSecurityGroupName"),
    "network:SecurityRule": ("Microsoft.Network/networkSecurityGroups/{networkSecurityGroupName}/securityRules", "securityRuleName"),
    "network:VirtualNetworkPeering": ("Microsoft.Network/virtualNetworks/{virtualNetworkName}/virtualNetworkPeerings", "virtualNetworkPeeringName"),
    "network:PublicIPAddress": ("Microsoft.Network/publicIPAddresses", "publicIpAddressName"),
    "network:NatGateway": ("Microsoft.Network/natGateways", "natGatewayName"),
    "dns:Zone": ("Microsoft.Network/dnsZones", "zoneName"),
    "dns:RecordSet": ("Microsoft.Network/dnsZones/{zoneName}/{recordType}", "relativeRecordSetName"),
    "containerregistry:Registry": ("Microsoft.ContainerRegistry/registries", "registryName"),
    "containerregistry:Replication": ("Microsoft.ContainerRegistry/registries/{registryName}/replications", "replicationName"),
    "containerregistry:CacheRule": ("Microsoft.ContainerRegistry/registries/{registryName}/cacheRules", "cacheRuleName"),
    "network:PrivateEndpoint": ("Microsoft.Network/privateEndpoints", "privateEndpointName"),
    "network:PrivateDnsZoneGroup": ("Microsoft.Network/privateEndpoints/{privateEndpointName}/privateDnsZoneGroups", "privateDnsZoneGroupName"),
    "privatedns:PrivateZone": ("Microsoft.Network/privateDnsZones", "privateZoneName"),
    "privatedns:VirtualNetworkLink": ("Microsoft.Network/privateDnsZones/{privateZoneName}/virtualNetworkLinks", "virtualNetworkLinkName"),
    "operationalinsights:Workspace": ("Microsoft.OperationalInsights/workspaces", "workspaceName"),
    "keyvault:Vault": ("Microsoft.KeyVault/vaults", "vaultName"),
    "keyvault:Secret": ("Microsoft.KeyVault/vaults/{vaultName}/secrets", "secretName"),
    "managedidentity:UserAssignedIdentity": ("Microsoft.ManagedIdentity/userAssignedIdentities", "resourceName"),
    "managedidentity:FederatedIdentityCredential": (
        "Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}/federatedIdentityCredentials",
        "federatedIdentityCredentialResourceName",
    ),
    "containerservice:ManagedCluster": ("Microsoft.ContainerService/managedClusters", "resourceName"),
    "containerservice:AgentPool": ("Microsoft.ContainerService/managedClusters/{resourceName}/agentPools", "agentPoolName"),
    "containerservice:MaintenanceConfiguration": (
        "Microsoft.ContainerService/managedClusters/{resourceName}/maintenanceConfigurations",
        "configName",
    ),
    "dbforpostgresql:Server": ("Microsoft.DBforPostgreSQL/flexibleServers", "serverName"),
    "dbforpostgresql:Database": ("Microsoft.DBforPostgreSQL/flexibleServers/{serverName}/databases", "databaseName"),
    "dbforpostgresql:Configuration": ("Microsoft.DBforPostgreSQL/flexibleServers/{serverName}/configurations", "configurationName"),
    "dbforpostgresql:FirewallRule": ("Microsoft.DBforPostgreSQL/flexibleServers/{serverName}/firewallRules", "firewallRuleName"),
    "dbforpostgresql:AdministratorsMicrosoftEntra": ("Microsoft.DBforPostgreSQL/flexibleServers/{serverName}/administrators", "objectId"),
    "storage:StorageAccount": ("Microsoft.Storage/storageAccounts", "accountName"),
    "storage:BlobServiceProperties": ("Microsoft.Storage/storageAccounts/{accountName}/blobServices", "blobServicesName"),
    "storage:BlobContainer": ("Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers", "containerName"),
    "storage:ManagementPolicy": ("Microsoft.Storage/storageAccounts/{accountName}/managementPolicies", "managementPolicyName"),
    "storage:BlobContainerImmutabilityPolicy": (
        "Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{containerName}/immutabilityPolicies",
        "immutabilityPolicyName",
    ),
    "redisenterprise:RedisEnterprise": ("Microsoft.Cache/redisEnterprise", "clusterName"),
    "redisenterprise:Database": ("Microsoft.Cache/redisEnterprise/{clusterName}/databases", "databaseName"),
    "redis:Redis": ("Microsoft.Cache/redis", "name"),
    "dataprotection:BackupVault": ("Microsoft.DataProtection/backupVaults", "vaultName"),
    "dataprotection:BackupPolicy": ("Microsoft.DataProtection/backupVaults/{vaultName}/backupPolicies", "backupPolicyName"),
    "dataprotection:BackupInstance": ("Microsoft.DataProtection/backupVaults/{vaultName}/backupInstances", "backupInstanceName"),
    "monitor:AzureMonitorWorkspace": ("Microsoft.Monitor/accounts", "azureMonitorWorkspaceName"),
    "monitor:DataCollectionEndpoint": ("Microsoft.Insights/dataCollectionEndpoints", "dataCollectionEndpointName"),
    "monitor:DataCollectionRule": ("Microsoft.Insights/dataCollectionRules", "dataCollectionRuleName"),
    "monitor:ActionGroup": ("Microsoft.Insights/actionGroups", "actionGroupName"),
    "monitor:MetricAlert": ("Microsoft.Insights/metricAlerts", "ruleName"),
    "monitor:ScheduledQueryRule": ("Microsoft.Insights/scheduledQueryRules", "ruleName"),
    "monitor:ActivityLogAlert": ("Microsoft.Insights/activityLogAlerts", "activityLogAlertName"),
    "alertsmanagement:PrometheusRuleGroup": ("Microsoft.AlertsManagement/prometheusRuleGroups", "ruleGroupName"),
    "alertsmanagement:AlertProcessingRuleByName": ("Microsoft.AlertsManagement/actionRules", "alertProcessingRuleName"),
    "applicationinsights:Workbook": ("Microsoft.Insights/workbooks", "resourceName"),
    "dashboard:Grafana": ("Microsoft.Dashboard/grafana", "workspaceName"),
    "eventgrid:SystemTopic": ("Microsoft.EventGrid/systemTopics", "systemTopicName"),
    "eventgrid:SystemTopicEventSubscription": ("Microsoft.EventGrid/systemTopics/{systemTopicName}/eventSubscriptions", "eventSubscriptionName"),
}

# Children whose Azure name defaults to "default" when the input is not given.
_DEFAULT_NAMED = {"storage:BlobServiceProperties", "storage:ManagementPolicy", "storage:BlobContainerImmutabilityPolicy"}

# Extension resources: id is `<scope>/providers/<path>/<name>`, with the scope taken from this input.
_EXTENSIONS: dict[str, tuple[str, str, str]] = {
    "monitor:DiagnosticSetting": ("resourceUri", "Microsoft.Insights/diagnosticSettings", "name"),
    "authorization:RoleAssignment": ("scope", "Microsoft.Authorization/roleAssignments", "roleAssignmentName"),
    "authorization:RoleDefinition": ("scope", "Microsoft.Authorization/roleDefinitions", "roleDefinitionId"),
    "authorization:ManagementLockByScope": ("scope", "Microsoft.Authorization/locks", "lockName"),
    "monitor:DataCollectionRuleAssociation": ("resourceUri", "Microsoft.Insights/dataCollectionRuleAssociations", "associationName"),
    "consumption:Budget": ("scope", "Microsoft.Consumption/budgets", "budgetName"),
    "authorization:PolicyAssignment": ("scope", "Microsoft.Authorization/policyAssignments", "policyAssignmentName"),
}


def stable_uuid(*parts: str) -> str:
    """A UUID that is the same for the same inputs in every run: plan files stay diffable."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def resource_group_id(name: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{name}"


def arm_id(type_: str, name: str, inputs: dict[str, Any]) -> str:
    """The ARM resource id Azure would give this resource."""
    _, _, short = type_.partition(":")
    if short == "resources:ResourceGroup":
        return resource_group_id(inputs.get("resourceGroupName") or name)
    if short in _EXTENSIONS:
        scope_key, path, name_key = _EXTENSIONS[short]
        azure_name = inputs.get(name_key) or stable_uuid(type_, name)
        return f"{inputs[scope_key]}/providers/{path}/{azure_name}"
    path, name_key = _ARM_PATHS.get(short, (None, None))
    if path is None:
        module, _, kind = short.partition(":")
        path, name_key = f"Microsoft.{module.capitalize()}/{kind[0].lower()}{kind[1:]}s", "name"
    azure_name = inputs.get(name_key) or ("default" if short in _DEFAULT_NAMED else name)
    path = path.format_map({k: v for k, v in inputs.items() if isinstance(v, str)})
    return f"{resource_group_id(inputs.get('resourceGroupName', 'unknown'))}/providers/{path}/{azure_name}"


def _identity(identity: dict[str, Any]) -> dict[str, Any]:
    """Azure takes user-assigned identities as a list of ids and returns them as a map of id -> principal."""
    assigned = identity.get("userAssignedIdentities")
    if "SystemAssigned" in str(identity.get("type", "")):
        identity = {**identity, "principalId": stable_uuid("principal", json.dumps(identity, sort_keys=True)), "tenantId": TENANT_ID}
    if not isinstance(assigned, list):
        return identity
    return {
        **identity,
        "userAssignedIdentities": {i: {"principalId": stable_uuid("principal", i), "clientId": stable_uuid("client", i)} for i in assigned},
    }


def _outputs(short: str, name: str, azure_name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The read-only outputs that other resources consume, as Azure returns them."""
    location = inputs.get("location", "westeurope")
    props = dict(inputs.get("properties") or {})
    if isinstance(inputs.get("identity"), dict):
        return {"identity": _identity(inputs["identity"]), **_outputs(short, name, azure_name, {k: v for k, v in inputs.items() if k != "identity"})}
    if short == "managedidentity:UserAssignedIdentity":
        return {
            "principalId": stable_uuid("principal", azure_name),
            "clientId": stable_uuid("client", azure_name),
            "tenantId": TENANT_ID,
        }
    if short == "containerservice:ManagedCluster":
        dns = inputs.get("dnsPrefix", azure_name)
        return {
            "fqdn": f"{dns}.hcp.{location}.azmk8s.io",
            "privateFQDN": f"{dns}.privatelink.{location}.azmk8s.io",
            "oidcIssuerProfile": {
                **(inputs.get("oidcIssuerProfile") or {}),
                "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{TENANT_ID}/{stable_uuid('oidc', azure_name)}/",
            },
            "identityProfile": {
                "kubeletidentity": {
                    "clientId": stable_uuid("kubelet-client", azure_name),
                    "objectId": stable_uuid("kubelet-object", azure_name),
                }
            },
            "currentKubernetesVersion": inputs.get("kubernetesVersion", ""),
        }
    if short == "kubernetesconfiguration:FluxConfiguration" and str(inputs.get("gitRepository", {}).get("url", "")).startswith("ssh://"):
        # The fluxconfig-controller generates the SSH key pair in the cluster and reports the public half.
        return {"repositoryPublicKey": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA{stable_uuid('flux-key', azure_name).replace('-', '')} {azure_name}"}
    if short == "keyvault:Vault":
        return {"properties": {**props, "vaultUri": f"https://{azure_name}.vault.azure.net/"}}
    if short == "keyvault:Secret":
        vault = inputs.get("vaultName", "")
        uri = f"https://{vault}.vault.azure.net/secrets/{azure_name}"
        return {"properties": {**props, "secretUri": uri, "secretUriWithVersion": f"{uri}/{stable_uuid(uri)[:32]}"}}
    if short == "dbforpostgresql:Server":
        return {"fullyQualifiedDomainName": f"{azure_name}.postgres.database.azure.com"}
    if short == "storage:StorageAccount":
        return {
            "primaryEndpoints": {
                "blob": f"https://{azure_name}.blob.core.windows.net/",
                "dfs": f"https://{azure_name}.dfs.core.windows.net/",
            }
        }
    if short == "redisenterprise:RedisEnterprise":
        return {"hostName": f"{azure_name}.{location}.redis.azure.net"}
    if short == "operationalinsights:Workspace":
        return {"customerId": stable_uuid("workspace", azure_name)}
    if short == "dns:Zone":
        return {"nameServers": [f"ns{i}-01.azure-dns.com." for i in range(1, 5)]}
    if short == "containerregistry:Registry":
        return {"loginServer": f"{azure_name}.azurecr.io"}
    if short == "privatedns:PrivateZone":
        return {"name": inputs.get("privateZoneName", azure_name)}
    return {}


def _user_kubeconfig(cluster: str) -> str:
    """What AKS returns for `format=exec` with local accounts off: a kubelogin exec user, no credentials."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": f"https://{cluster}.hcp.westeurope.azmk8s.io:443", "certificate-authority-data": "bW9jaw=="}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": f"clusterUser_{cluster}"}}],
        "current-context": cluster,
        "users": [
            {
                "name": f"clusterUser_{cluster}",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "kubelogin",
                        "args": ["get-token", "--login", "devicecode", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630"],
                    }
                },
            }
        ],
    }
    return base64.b64encode(yaml.safe_dump(config).encode()).decode()


# Outputs of the stacks a program reads through pulumi.StackReference, by stack name: a test sets a recording's outputs
# here. A stack not listed answers with what its program would export for what the production stack reads (the
# refresh identities of its refreshed environments, stacks/refresh.py), derived from its stack file.
STACK_OUTPUTS: dict[str, dict[str, Any]] = {}


def stack_reference_outputs(name: str) -> dict[str, Any]:
    stack = name.rsplit("/", 1)[-1]
    if stack in STACK_OUTPUTS:
        return STACK_OUTPUTS[stack]
    from stacks.refresh import refresh_readers

    return {"tenantEnvironments": {key: {"refreshReader": {"principalId": stable_uuid("principal", azure_name)}} for key, azure_name in refresh_readers(stack)}}


class AzureMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and invokes the way Azure and Kubernetes would."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[Optional[str], dict]:
        type_, inputs = args.typ, dict(args.inputs)
        if type_.startswith("azure-native:"):
            short = type_.partition(":")[2]
            id_ = arm_id(type_, args.name, inputs)
            azure_name = id_.rsplit("/", 1)[-1]
            return id_, {**inputs, "name": azure_name, "id": id_, **_outputs(short, args.name, azure_name, inputs)}
        if type_.startswith("kubernetes:"):
            meta = dict(inputs.get("metadata") or {})
            meta.setdefault("name", args.name)
            namespace = meta.get("namespace")
            return (f"{namespace}/{meta['name']}" if namespace else meta["name"]), {**inputs, "metadata": meta}
        if type_ == "pulumi:pulumi:StackReference":
            return inputs["name"], {"name": inputs["name"], "outputs": stack_reference_outputs(inputs["name"]), "secretOutputNames": []}
        if type_ == "random:index/randomPassword:RandomPassword":
            # Deterministic, never a real secret; the program must still mark it secret.
            return args.name, {**inputs, "result": f"mock-{stable_uuid('password', args.name)}"}
        if type_ == "random:index/randomUuid:RandomUuid":
            return args.name, {**inputs, "result": stable_uuid("uuid", args.name)}
        if type_ == "random:index/randomId:RandomId":
            digest = stable_uuid("id", args.name).replace("-", "")[: 2 * int(inputs.get("byteLength", 4))]
            return args.name, {**inputs, "hex": digest, "dec": str(int(digest, 16)), "b64Url": base64.urlsafe_b64encode(bytes.fromhex(digest)).decode().rstrip("=")}
        if type_ == "time:index/static:Static":
            # A fixed instant (or the one asked for): a stored timestamp, the same in every preview.
            moment = datetime.datetime.fromisoformat(str(inputs.get("rfc3339") or MOCK_NOW).replace("Z", "+00:00"))
            return args.name, {**inputs, "rfc3339": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "unix": int(moment.timestamp()), "year": moment.year, "month": moment.month, "day": moment.day}
        if type_ == "random:index/randomString:RandomString":
            return args.name, {**inputs, "result": stable_uuid("string", args.name).replace("-", "")[: int(inputs.get("length", 8))]}
        return args.name, inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, Optional[list[tuple[str, str]]]]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": DEPLOYER_CLIENT_ID,
                "objectId": DEPLOYER_OBJECT_ID,
                "subscriptionId": SUBSCRIPTION_ID,
                "tenantId": TENANT_ID,
            }, []
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            return {"kubeconfigs": [{"name": "clusterUser", "value": _user_kubeconfig(args.args["resourceName"])}]}, []
        if args.token == "azure-native:redisenterprise:listDatabaseKeys":
            cluster = args.args["clusterName"]
            return {"primaryKey": f"mock-primary-{stable_uuid('redis', cluster)}", "secondaryKey": f"mock-secondary-{stable_uuid('redis2', cluster)}"}, []
        # An unmocked invoke would silently yield None fields: fail loudly instead.
        raise NotImplementedError(f"no mock for invoke {args.token}; add one to tools/mocks.py")
