"""TraefikIngress: pinned chart, values valid for the chart's own schema, TLS, middlewares, CRD-valid objects."""
import json
import os

import jsonschema
import pytest
import yaml

from components.tier import Tier
from components.traefik import TraefikIngressArgs, helm_values
from tools.mocks import stable_uuid

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
    return rec.one(RELEASE).inputs


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
        tier=Tier.PRODUCTION, provider=None, identity_client_id="id", tenant_id="t", key_vault_name="kv",  # type: ignore[arg-type]
        certificate_name="cert", admin_cidrs=["203.0.113.0/28"], trusted_proxy_cidrs=["10.30.8.0/24"],
    )
    public = helm_values(args, "id")["service"]["annotations"]
    assert "service.beta.kubernetes.io/azure-load-balancer-internal" not in public
    internal = helm_values(TraefikIngressArgs(**{**args.__dict__, "internal_load_balancer": True}), "id")["service"]["annotations"]
    assert internal["service.beta.kubernetes.io/azure-load-balancer-internal"] == "true"
    assert helm_values(args, "id")["ports"]["web"]["forwardedHeaders"]["trustedIPs"] == ["10.30.8.0/24"]


def test_tls_from_key_vault_through_the_csi_driver(stack):
    values = release(stack)["values"]
    assert values["tlsStore"] == {"default": {"defaultCertificate": {"secretName": "platform-tls"}}}
    client_id = stable_uuid("client", f"id-acme-{stack.stack}-weu-traefik")
    assert values["serviceAccountAnnotations"]["azure.workload.identity/client-id"] == client_id
    spc = stack.one("kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass", "traefik-tls-provider").inputs
    assert spc["spec"]["secretObjects"][0] == {
        "secretName": "platform-tls",
        "type": "kubernetes.io/tls",
        "data": [{"objectName": "odoo-platform-tls", "key": "tls.key"}, {"objectName": "odoo-platform-tls", "key": "tls.crt"}],
    }
    grants = [r for r in stack.of_type("azure-native:authorization:RoleAssignment") if r.name == "traefik-tls-role"]
    assert grants[0].inputs["scope"].endswith("/secrets/odoo-platform-tls")


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
