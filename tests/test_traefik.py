"""TraefikIngress: pinned chart, values valid for the chart's own schema, TLS, middlewares, CRD-valid objects."""
import json
import os

import jsonschema
import pytest
import yaml

from components.tier import Tier
from components.traefik import TraefikIngressArgs, helm_values

VENDOR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "vendor", "traefik-chart-41.3.0")
RELEASE = "kubernetes:helm.sh/v3:Release"

needs_vendor = pytest.mark.skipif(not os.path.isdir(VENDOR), reason="../shared/vendor/traefik-chart-41.3.0 is not beside the repository")


def crd_schemas() -> dict[str, dict]:
    schemas = {}
    for name in os.listdir(os.path.join(VENDOR, "crds")):
        with open(os.path.join(VENDOR, "crds", name), encoding="utf-8") as f:
            crd = yaml.safe_load(f)
        for version in crd["spec"]["versions"]:
            schemas[f"{crd['spec']['group']}/{version['name']}:{crd['spec']['names']['kind']}"] = version["schema"]["openAPIV3Schema"]
    return schemas


def release(rec):
    return rec.one(RELEASE, "traefik").inputs


def traefik_objects(rec):
    return [r for r in rec.resources if r.type.startswith("kubernetes:traefik.io/")]


@needs_vendor
def test_helm_values_validate_against_the_charts_schema(stack):
    with open(os.path.join(VENDOR, "values.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.validate(release(stack)["values"], schema)


@needs_vendor
def test_a_misspelt_value_is_caught_by_the_schema():
    with open(os.path.join(VENDOR, "values.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"podDisruptionBudget": {"enabled": True, "maxUnavailible": 1}}, schema)


@needs_vendor
def test_every_traefik_object_validates_against_its_crd(stack):
    schemas = crd_schemas()
    objects = traefik_objects(stack)
    assert {o.type.rsplit(":", 1)[-1] for o in objects} >= {"TLSOption", "Middleware", "IngressRoute"}
    for obj in objects:
        api_version, kind = obj.inputs["apiVersion"], obj.inputs["kind"]
        jsonschema.validate({k: v for k, v in obj.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec")}, schemas[f"{api_version}:{kind}"])


@needs_vendor
def test_crd_schema_rejects_a_wrong_field():
    schema = crd_schemas()["traefik.io/v1alpha1:TLSOption"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"spec": {"minVersion": "VersionTLS12", "sniStrict": "yes"}}, schema)


def test_chart_is_pinned_in_its_own_namespace(stack):
    r = release(stack)
    assert (r["chart"], r["version"], r["namespace"]) == ("traefik", "41.3.0", "traefik")
    assert r["repositoryOpts"] == {"repo": "https://traefik.github.io/charts"}
    ns = stack.one("kubernetes:core/v1:Namespace", "traefik-ns").inputs["metadata"]
    assert ns["name"] == "traefik" and ns["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_replicas_disruption_budget_and_zone_spread_by_tier(dev, prod):
    p, d = release(prod)["values"], release(dev)["values"]
    assert p["deployment"]["replicas"] == 2 and p["podDisruptionBudget"] == {"enabled": True, "maxUnavailable": 1}
    assert d["deployment"]["replicas"] == 1 and d["podDisruptionBudget"] == {"enabled": False}
    assert p["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert p["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule"


def test_entry_points(stack):
    ports = release(stack)["values"]["ports"]
    assert ports["web"]["http"]["redirections"]["entryPoint"] == {"to": "websecure", "scheme": "https", "permanent": True}
    timeouts = ports["websecure"]["transport"]["respondingTimeouts"]
    assert int(timeouts["readTimeout"].rstrip("s")) >= 600 and int(timeouts["writeTimeout"].rstrip("s")) >= 600
    assert ports["websecure"]["forwardedHeaders"] == {"trustedIPs": [], "insecure": False}
    values = release(stack)["values"]
    assert "--ping.entryPoint=web" in values["additionalArguments"]
    assert values["service"]["annotations"]["service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path"] == "/ping"


def test_json_logs_and_prometheus(stack):
    values = release(stack)["values"]
    assert values["log"]["format"] == "json" and values["accessLog"] == {"enabled": True, "format": "json"}
    assert values["metrics"]["prometheus"]["entryPoint"] == "metrics"


def test_load_balancer_is_public_unless_internal_is_asked():
    args = TraefikIngressArgs(
        tier=Tier.PRODUCTION, provider=None, registry_server="cr.azurecr.io",  # type: ignore[arg-type]
        admin_cidrs=["203.0.113.0/28"], trusted_proxy_cidrs=["10.30.8.0/24"],
    )
    public = helm_values(args, "cr.azurecr.io")["service"]["annotations"]
    assert "service.beta.kubernetes.io/azure-load-balancer-internal" not in public
    internal = helm_values(TraefikIngressArgs(**{**args.__dict__, "internal_load_balancer": True}), "cr.azurecr.io")["service"]["annotations"]
    assert internal["service.beta.kubernetes.io/azure-load-balancer-internal"] == "true"
    assert helm_values(args, "cr.azurecr.io")["ports"]["web"]["forwardedHeaders"]["trustedIPs"] == ["10.30.8.0/24"]
    fixed = helm_values(TraefikIngressArgs(**{**args.__dict__, "internal_load_balancer": True, "private_ip": "10.30.0.254"}), "cr.azurecr.io")
    assert fixed["service"]["annotations"]["service.beta.kubernetes.io/azure-load-balancer-ipv4"] == "10.30.0.254"


def test_the_chart_creates_its_service_account(stack):
    """Chart 41.3.0 renders its ServiceAccount only when serviceAccount.name is empty (templates/rbac/serviceaccount.yaml)."""
    with open(os.path.join(VENDOR, "templates", "rbac", "serviceaccount.yaml"), encoding="utf-8") as f:
        assert f.readline().strip() == "{{- if not .Values.serviceAccount.name -}}"
    assert not release(stack)["values"].get("serviceAccount", {}).get("name")


def test_image_from_the_platform_registry(stack):
    registry = stack.one("azure-native:containerregistry:Registry").inputs["registryName"]
    assert release(stack)["values"]["image"] == {"registry": f"{registry}.azurecr.io", "repository": "traefik"}
    [cache] = [c.inputs for c in stack.of_type("azure-native:containerregistry:CacheRule") if c.inputs["targetRepository"] == "traefik"]
    assert cache["sourceRepository"] == "docker.io/library/traefik"


def test_default_tls_option(stack):
    spec = stack.one("kubernetes:traefik.io/v1alpha1:TLSOption").inputs["spec"]
    assert spec["minVersion"] == "VersionTLS12" and spec["sniStrict"] is True


def test_shared_middlewares(stack):
    middlewares = {m.inputs["metadata"]["name"]: m.inputs["spec"] for m in stack.of_type("kubernetes:traefik.io/v1alpha1:Middleware")}
    headers = middlewares["security-headers"]["headers"]
    assert headers["stsSeconds"] >= 31536000 and headers["contentTypeNosniff"] is True
    assert headers["customFrameOptionsValue"] == "SAMEORIGIN" and headers["referrerPolicy"]
    assert middlewares["rate-limit"]["rateLimit"]["average"] > 0
    assert "compress" in middlewares["compress"]
    assert middlewares["body-limit"]["buffering"]["maxRequestBodyBytes"] >= 256 * 1024 * 1024
    assert middlewares["admin-only"]["ipAllowList"]["sourceRange"] == ["203.0.113.0/28"]


@needs_vendor
def test_managed_prometheus_scrapes_the_charts_metrics_port(stack):
    """The PodMonitor selects the pods by the chart's name label and scrapes the port the chart names `metrics`."""
    import yaml

    with open(os.path.join(VENDOR, "values.yaml"), encoding="utf-8") as f:
        ports = yaml.safe_load(f)["ports"]
    [monitor] = [r for r in stack.of_type("kubernetes:azmonitoring.coreos.com/v1:PodMonitor")]
    [endpoint] = monitor.inputs["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in ports and ports[endpoint["port"]]["port"] == 9100
    with open(os.path.join(VENDOR, "templates", "_helpers.tpl"), encoding="utf-8") as f:
        assert "app.kubernetes.io/name: {{ template \"traefik.name\" . }}" in f.read()
    assert monitor.inputs["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "traefik"}
    assert monitor.inputs["metadata"]["namespace"] == "traefik"
