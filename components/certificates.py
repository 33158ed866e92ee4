"""CertificateIssuer: TLS certificates issued and renewed inside the platform, with no manual first step.

The stack owns one public Azure DNS zone per business unit, `<unit>.<baseDomain>`, under which every host of that
unit lives (delegate each once from the parent domain: the stack exports the name servers). A unit's zone belongs to
exactly one stack: its dedicated production stack, or the non-production stack with its own baseDomain. cert-manager answers ACME DNS-01 challenges by writing TXT records there with its
own workload identity (DNS Zone Contributor on that zone only), so certificates are issued before any host resolves
and behind an internal load balancer too, where HTTP-01 could not reach us. Each tenant environment gets a
Certificate for its host in its own namespace; cert-manager renews it 30 days before expiry and exports
`certmanager_certificate_expiration_timestamp_seconds` for monitoring.
Source: cert-manager docs, "ACME DNS01: AzureDNS" (managed identity through workload identity).
"""
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import dns

from .interfaces import role_assignment
from .kube import api

CHART_VERSION = "v1.21.2"
CHART_REPO = "https://charts.jetstack.io"
NAMESPACE = SERVICE_ACCOUNT = "cert-manager"
ISSUER = "letsencrypt"
ACME_SERVERS = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
# The platform registry caches quay.io/jetstack/* as jetstack/* (ContainerRegistry's cache rules).
IMAGE_NAMESPACE = "jetstack"
UPSTREAM_IMAGES = {f"{IMAGE_NAMESPACE}/*": "quay.io/jetstack/*"}


@dataclass(frozen=True)
class CertificateIssuerArgs:
    provider: k8s.Provider
    base_domain: str
    units: Sequence[str]
    acme_server: str
    dns_resource_group_name: pulumi.Input[str]
    subscription_id: pulumi.Input[str]
    identity_client_id: pulumi.Input[str]
    identity_principal_id: pulumi.Input[str]
    registry_server: pulumi.Input[str]
    # Where every host of every unit points (`*.<unit>.<baseDomain>`): the ingress's public IP resource (alias
    # record, follows the address) or its fixed private address.
    ingress_public_ip_id: Optional[pulumi.Input[str]] = None
    ingress_private_ip: Optional[str] = None
    tags: Mapping[str, str] = field(default_factory=dict)


def helm_values(registry_server: str) -> dict[str, Any]:
    """cert-manager on the system pool, images from the platform registry, the controller with workload identity."""
    system = {
        "nodeSelector": {"workload-class": "system"},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"}],
    }
    return {
        "crds": {"enabled": True, "keep": True},
        "imageRegistry": registry_server,
        "imageNamespace": IMAGE_NAMESPACE,
        "podLabels": {"azure.workload.identity/use": "true"},
        "serviceAccount": {"name": SERVICE_ACCOUNT},
        "prometheus": {"enabled": True},
        **system,
        "webhook": dict(system),
        "cainjector": dict(system),
        "startupapicheck": dict(system),
    }


class CertificateIssuer(pulumi.ComponentResource):
    zones: dict[str, dns.Zone]
    name_servers: dict[str, pulumi.Output[list[str]]]

    def __init__(self, name: str, args: CertificateIssuerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:certificates:CertificateIssuer", name, None, opts)
        if args.acme_server not in ACME_SERVERS:
            raise ValueError(f"acme_server must be one of {sorted(ACME_SERVERS)}")
        if (args.ingress_public_ip_id is None) == (args.ingress_private_ip is None):
            raise ValueError("give exactly one of ingress_public_ip_id and ingress_private_ip")
        self._provider = args.provider
        self.zones, self.name_servers, grants = {}, {}, []
        for unit in args.units:
            zone = self.zones[unit] = dns.Zone(
                f"dns-zone-{unit}",
                zone_name=f"{unit}.{args.base_domain}",
                resource_group_name=args.dns_resource_group_name,
                location="global",
                zone_type=dns.ZoneType.PUBLIC,
                tags=dict(args.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.name_servers[unit] = zone.name_servers.apply(lambda servers: list(servers or []))
            grants.append(role_assignment(f"{name}-dns-{unit}", zone.id, "DNS Zone Contributor", args.identity_principal_id, self))
            dns.RecordSet(
                f"dns-hosts-{unit}",
                zone_name=zone.name,
                resource_group_name=args.dns_resource_group_name,
                relative_record_set_name="*",
                record_type="A",
                ttl=300,
                target_resource=dns.SubResourceArgs(id=args.ingress_public_ip_id) if args.ingress_public_ip_id else None,
                a_records=[dns.ARecordArgs(ipv4_address=args.ingress_private_ip)] if args.ingress_private_ip else None,
                opts=pulumi.ResourceOptions(parent=self),
            )
        # A component's depends_on does not reach its children: the namespace, which everything here waits for, carries it.
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=opts.depends_on if opts else None)
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=api({"name": NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "pulumi", "pod-security.kubernetes.io/enforce": "restricted"}}),
            opts=k8s_opts,
        )
        self.release = k8s.helm.v3.Release(
            "cert-manager",
            name="cert-manager",
            chart="cert-manager",
            version=CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPO),
            namespace=NAMESPACE,
            values=pulumi.Output.from_input(args.registry_server).apply(helm_values),
            atomic=True,
            cleanup_on_fail=True,
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[namespace]),
        )
        self.issuer = k8s.apiextensions.CustomResource(
            f"{name}-cluster-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=api({"name": ISSUER}),
            spec=api({
                "acme": {
                    "server": ACME_SERVERS[args.acme_server],
                    "privateKeySecretRef": {"name": f"{ISSUER}-account-key"},
                    # One solver per unit zone: cert-manager picks the one whose dnsZones suffix matches the host.
                    "solvers": [
                        {
                            "selector": {"dnsZones": [f"{unit}.{args.base_domain}"]},
                            "dns01": {
                                "azureDNS": {
                                    "subscriptionID": args.subscription_id,
                                    "resourceGroupName": args.dns_resource_group_name,
                                    "hostedZoneName": f"{unit}.{args.base_domain}",
                                    "environment": "AzurePublicCloud",
                                    "managedIdentity": {"clientID": args.identity_client_id},
                                }
                            },
                        }
                        for unit in args.units
                    ],
                }
            }),
            # The solver writes TXT records only once its identity may.
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[self.release, *grants]),
        )
        self.register_outputs({"nameServers": self.name_servers})

    def certificate(self, name: str, namespace: str, host: str, secret_name: str, parent: pulumi.Resource, depends_on: list) -> k8s.apiextensions.CustomResource:
        """A certificate for `host`, kept in `namespace`'s secret `secret_name` and renewed 30 days before it expires."""
        return k8s.apiextensions.CustomResource(
            name,
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=api({"name": secret_name, "namespace": namespace}),
            spec=api({
                "secretName": secret_name,
                "dnsNames": [host],
                "issuerRef": {"kind": "ClusterIssuer", "name": ISSUER},
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                "renewBefore": "720h",
            }),
            opts=pulumi.ResourceOptions(parent=parent, provider=self._provider, depends_on=[self.issuer, *depends_on]),
        )
