"""Releases through Git: the Flux cluster extension, and per tenant environment a Flux configuration.

Pulumi owns a tenant namespace's infrastructure (namespace, quota, limits, network policies, identity, service account,
secret provider, odoo.conf, Services, route, the database's first initialisation) and publishes what a release needs in
one ConfigMap, `release-values`. Flux owns the release (release/base: the web and cron Deployments, their KEDA
ScaledObjects and the per-release upgrade Job) and reads those values through post-build substitution. Neither creates
an object the other owns: tools/release.py refuses a release that names one of Pulumi's (OWNED_BY_PULUMI).

Sources: learn.microsoft.com azure-arc/kubernetes conceptual-gitops-flux2 (the extension, namespace-scoped
configurations, multi-tenancy: the kustomize-controller applies as the configuration namespace's `flux-applier`
service account), tutorial-use-gitops-flux2 (the `<controller>.enabled` settings), gitops-flux2-parameters (SSH with a
Flux-created key: its public key is the configuration's `repositoryPublicKey`; the known_hosts of common Git hosts).
"""
from typing import NamedTuple, Optional, Sequence

import pulumi
from pulumi_azure_native import kubernetesconfiguration as kc

from .naming import TenantNames

FLUX_NAMESPACE = "flux-system"
RELEASE_VALUES = "release-values"
RELEASE_KUSTOMIZATION = "odoo"
# Sources and kustomizations only: Helm, notifications and image automation are not used, so not installed.
CONTROLLERS = {
    "source-controller.enabled": "true",
    "kustomize-controller.enabled": "true",
    "helm-controller.enabled": "false",
    "notification-controller.enabled": "false",
    "image-automation-controller.enabled": "false",
    "image-reflector-controller.enabled": "false",
}
# A release applies as its own namespace's flux-applier, never as the controller: it cannot reach another namespace.
MULTI_TENANCY = {"multiTenancy.enforce": "true"}
# What a release may create (release/base); everything else in a tenant namespace is Pulumi's.
RELEASE_KINDS = frozenset({("apps", "Deployment"), ("keda.sh", "ScaledObject"), ("batch", "Job"), ("", "ConfigMap")})
OWNED_BY_PULUMI = frozenset({"odoo-config", RELEASE_VALUES})


class ReleaseSource(NamedTuple):
    """The release repository, as config `releases` gives it; `path` names `{unit}` and `{environment}`."""

    repository: str
    branch: str
    sync_interval_seconds: int
    path: str


class FluxReleases(pulumi.ComponentResource):
    """The microsoft.flux extension on the cluster and one namespace-scoped configuration per tenant environment."""

    def __init__(
        self,
        name: str,
        cluster_name: pulumi.Input[str],
        resource_group_name: pulumi.Input[str],
        after: pulumi.Resource,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        """`after`: the cluster's last operation; AKS runs one operation at a time per cluster, extensions included."""
        super().__init__("odoo-platform:delivery:FluxReleases", name, None, opts)
        self._cluster_name, self._resource_group_name = cluster_name, resource_group_name
        self.extension = kc.Extension(
            f"{name}-extension",
            extension_name="flux",
            cluster_name=cluster_name,
            cluster_resource_name="managedClusters",
            cluster_rp="Microsoft.ContainerService",
            resource_group_name=resource_group_name,
            extension_type="microsoft.flux",
            auto_upgrade_minor_version=True,
            release_train="Stable",
            scope=kc.ScopeArgs(cluster=kc.ScopeClusterArgs(release_namespace=FLUX_NAMESPACE)),
            configuration_settings={**CONTROLLERS, **MULTI_TENANCY},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[after]),
        )
        self._last: pulumi.Resource = self.extension
        self.configurations: dict[str, kc.FluxConfiguration] = {}
        self.register_outputs({})

    def release(self, tenant: TenantNames, source: ReleaseSource, depends_on: Sequence[pulumi.Resource]) -> kc.FluxConfiguration:
        """Reconcile `<repository>@<branch>:<path>` into the tenant's namespace, substituting its `release-values`."""
        interval = source.sync_interval_seconds
        configuration = kc.FluxConfiguration(
            f"release-{tenant.key}",
            flux_configuration_name=tenant.namespace,
            cluster_name=self._cluster_name,
            cluster_resource_name="managedClusters",
            cluster_rp="Microsoft.ContainerService",
            resource_group_name=self._resource_group_name,
            namespace=tenant.namespace,
            scope="namespace",
            source_kind="GitRepository",
            git_repository=kc.GitRepositoryDefinitionArgs(
                url=source.repository,
                repository_ref=kc.RepositoryRefDefinitionArgs(branch=source.branch),
                sync_interval_in_seconds=interval,
                timeout_in_seconds=600,
            ),
            kustomizations={
                RELEASE_KUSTOMIZATION: kc.KustomizationDefinitionArgs(
                    path=source.path.format(unit=tenant.unit, environment=tenant.environment),
                    # Objects removed from the release are removed from the cluster; Pulumi's objects never carry
                    # Flux's ownership labels, so pruning cannot touch them.
                    prune=True,
                    # Ready only when the release's Deployments are available and its upgrade Job has completed.
                    wait=True,
                    sync_interval_in_seconds=interval,
                    retry_interval_in_seconds=120,
                    timeout_in_seconds=3600,
                    post_build=kc.PostBuildDefinitionArgs(
                        substitute_from=[kc.SubstituteFromDefinitionArgs(kind="ConfigMap", name=RELEASE_VALUES, optional=False)],
                    ),
                )
            },
            # The first reconciliation can take as long as an Odoo upgrade: Pulumi does not wait for it.
            wait_for_reconciliation=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self._last, *depends_on]),
        )
        self.configurations[tenant.key] = configuration
        self._last = configuration
        return configuration
