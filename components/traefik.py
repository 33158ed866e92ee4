"""TraefikIngress: the pinned Traefik chart and the middlewares every Odoo route shares.

Each route serves the certificate cert-manager issued for its host (components/certificates.py); with strict
SNI there is no default certificate for unknown hosts. The image comes from the platform registry's cache of
docker.io/library/traefik. The chart creates its own ServiceAccount (`traefik`): chart 41.3.0 renders
templates/rbac/serviceaccount.yaml only when `serviceAccount.name` is empty, so the name is never set here.
"""
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .kube import api
from .tier import Tier

CHART = "traefik"
CHART_VERSION = "41.3.0"  # Traefik v3.7
CHART_REPO = "https://traefik.github.io/charts"
NAMESPACE = "traefik"
# Repository in the platform registry -> the upstream it caches.
UPSTREAM_IMAGES = {"traefik": "docker.io/library/traefik"}
WEB_PORT, WEBSECURE_PORT = 8000, 8443
# Construction drawings and scans: large uploads over slow site links.
MAX_REQUEST_BODY_BYTES = 512 * 1024 * 1024
UPLOAD_TIMEOUT = "900s"
# Odoo paths that manage whole databases: closed to everyone outside the admin CIDRs.
DATABASE_MANAGER_PATHS = ("/web/database", "/website/info", "/xmlrpc/2/db", "/jsonrpc/db")
MIDDLEWARES = ("security-headers", "rate-limit", "compress", "body-limit")
ADMIN_ONLY = "admin-only"
# Upper bounds (seconds) of Traefik's request-duration histogram. A latency objective's threshold must be one of
# them (stacks/config.py): the share of requests under it is read from that bucket. The chart's default is 0.1,0.3,1.2,5.0.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The chart names the metrics port `metrics` (values.yaml `ports.metrics`, 9100); managed Prometheus scrapes it
# through a PodMonitor of its own API group (learn.microsoft.com/azure/azure-monitor/containers/prometheus-metrics-scrape-crd).
METRICS_PORT = "metrics"


@dataclass(frozen=True)
class TraefikIngressArgs:
    tier: Tier
    provider: k8s.Provider
    # The platform registry's login server: the only registry nodes pull from.
    registry_server: pulumi.Input[str]
    admin_cidrs: Sequence[str]
    # Only these sources may set X-Forwarded-* headers (an L7 proxy inside the VNet, e.g. Application Gateway).
    trusted_proxy_cidrs: Sequence[str]
    internal_load_balancer: bool = False
    # The load balancer's fixed address: a public IP resource (name, resource group) or a private address.
    public_ip: Optional[tuple[str, str]] = None
    private_ip: Optional[str] = None
    labels: Mapping[str, str] = field(default_factory=dict)


def middleware_ref(name: str) -> dict[str, str]:
    """How an IngressRoute in another namespace refers to a shared middleware."""
    return {"name": name, "namespace": NAMESPACE}


def helm_values(args: TraefikIngressArgs, registry_server: str) -> dict[str, Any]:
    """The chart values; validated in tests against the chart's own values.schema.json."""
    production = args.tier.is_production
    zone_spread = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule" if production else "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
    }
    load_balancer_annotations = {
        "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": "/ping",
        **({"service.beta.kubernetes.io/azure-load-balancer-internal": "true"} if args.internal_load_balancer else {}),
        # A fixed address that DNS names point at (AKS docs, "Use a static public IP address and DNS label").
        **({"service.beta.kubernetes.io/azure-pip-name": args.public_ip[0],
            "service.beta.kubernetes.io/azure-load-balancer-resource-group": args.public_ip[1]} if args.public_ip else {}),
        **({"service.beta.kubernetes.io/azure-load-balancer-ipv4": args.private_ip} if args.private_ip else {}),
    }
    forwarded = {"trustedIPs": list(args.trusted_proxy_cidrs), "insecure": False}
    timeouts = {"respondingTimeouts": {"readTimeout": UPLOAD_TIMEOUT, "writeTimeout": UPLOAD_TIMEOUT, "idleTimeout": "180s"}}
    return {
        "deployment": {
            "replicas": 2 if production else 1,
            # /ping answers on the web entry point, where the Azure load balancer probes.
            "healthchecksPort": WEB_PORT,
        },
        "image": {"registry": registry_server, "repository": "traefik"},
        "additionalArguments": ["--ping.entryPoint=web"],
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1} if production else {"enabled": False},
        "topologySpreadConstraints": [zone_spread],
        # On the always-present system pool: ingress is a platform add-on, and user pools may scale to zero.
        "nodeSelector": {"workload-class": "system"},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"}],
        "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "providers": {
            # Tenant IngressRoutes use the shared middlewares and TLS option from this namespace.
            "kubernetesCRD": {"enabled": True, "allowCrossNamespace": True},
            "kubernetesIngress": {"enabled": False},
        },
        "ingressClass": {"enabled": False},
        "ports": {
            "web": {
                "http": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}}},
                "forwardedHeaders": forwarded,
            },
            "websecure": {"forwardedHeaders": forwarded, "transport": timeouts, "http": {"tls": {"enabled": True}}},
        },
        "log": {"format": "json", "level": "INFO"},
        "accessLog": {"enabled": True, "format": "json"},
        "metrics": {"prometheus": {"entryPoint": METRICS_PORT, "buckets": ",".join(map(str, LATENCY_BUCKETS))}},
        "service": {"annotations": load_balancer_annotations, "spec": {"externalTrafficPolicy": "Local"}},
    }


def tls_option() -> dict[str, Any]:
    """The default TLSOption: TLS 1.2+, strict SNI (no certificate for unknown hosts)."""
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "TLSOption",
        "metadata": {"name": "default", "namespace": NAMESPACE},
        "spec": {
            "minVersion": "VersionTLS12",
            "sniStrict": True,
            "cipherSuites": [
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
            ],
        },
    }


def middlewares(admin_cidrs: Sequence[str]) -> list[dict[str, Any]]:
    """The middlewares shared by every Odoo route, as Traefik CRD objects."""

    def middleware(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware", "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}

    return [
        middleware(
            "security-headers",
            {
                "headers": {
                    "stsSeconds": 31536000,
                    "stsIncludeSubdomains": True,
                    "stsPreload": True,
                    # Odoo frames its own pages (website editor, PDF previews): same origin only.
                    "customFrameOptionsValue": "SAMEORIGIN",
                    "contentTypeNosniff": True,
                    "referrerPolicy": "strict-origin-when-cross-origin",
                    "browserXssFilter": True,
                }
            },
        ),
        middleware("rate-limit", {"rateLimit": {"average": 100, "period": "1s", "burst": 200}}),
        middleware("compress", {"compress": {"minResponseBodyBytes": 1024}}),
        middleware("body-limit", {"buffering": {"maxRequestBodyBytes": MAX_REQUEST_BODY_BYTES, "memRequestBodyBytes": 2 * 1024 * 1024}}),
        middleware(ADMIN_ONLY, {"ipAllowList": {"sourceRange": list(admin_cidrs)}}),
    ]


class TraefikIngress(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: TraefikIngressArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:traefik:TraefikIngress", name, None, opts)
        if not args.admin_cidrs:
            raise ValueError("admin_cidrs must name who may reach Odoo's database manager")
        # A component's depends_on does not reach its children: the namespace, which everything here waits for, carries it.
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=opts.depends_on if opts else None)
        labels = {"app.kubernetes.io/managed-by": "pulumi", **args.labels}
        self.namespace = k8s.core.v1.Namespace(
            "traefik-ns",
            metadata=api({
                "name": NAMESPACE,
                "labels": {**labels, "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"},
            }),
            opts=k8s_opts,
        )
        self.release = k8s.helm.v3.Release(
            "traefik",
            name="traefik",
            chart=CHART,
            version=CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPO),
            namespace=NAMESPACE,
            values=pulumi.Output.from_input(args.registry_server).apply(lambda server: helm_values(args, server)),
            atomic=True,
            cleanup_on_fail=True,
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[self.namespace]),
        )
        after_release = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[self.release])
        for obj in [tls_option(), *middlewares(args.admin_cidrs)]:
            k8s.apiextensions.CustomResource(
                f"traefik-{obj['kind'].lower()}-{obj['metadata']['name']}",
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                metadata=api({**obj["metadata"], "labels": labels}),
                spec=obj["spec"],
                opts=after_release,
            )
        k8s.apiextensions.CustomResource(
            "traefik-podmonitor",
            api_version="azmonitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata=api({"name": "traefik", "namespace": NAMESPACE, "labels": labels}),
            spec=pod_monitor_spec(),
            opts=after_release,
        )
        self.register_outputs({"namespace": NAMESPACE, "chartVersion": CHART_VERSION})


def pod_monitor_spec() -> dict[str, Any]:
    """Managed Prometheus scrapes Traefik's pods (the chart's selector label) on the metrics port every 30 s."""
    return {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
        "namespaceSelector": {"matchNames": [NAMESPACE]},
        "podMetricsEndpoints": [{"port": METRICS_PORT, "path": "/metrics", "interval": "30s"}],
    }
