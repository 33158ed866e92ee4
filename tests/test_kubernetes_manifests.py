"""Every Kubernetes object both stacks create: valid for the cluster's Kubernetes version, and clean under Checkov."""
import kubernetes_validate
import pytest
import yaml

from stacks.config import load_config
from tools import release
from tools.manifests import checkov, kubernetes_objects, manifest, skipped_checks, write_manifests
from tools.plan import build_plan
from tools.preview import stack_settings

# CRDs validated elsewhere or without a schema here: Traefik's against the chart's CRDs (test_traefik.py);
# Cilium's, KEDA's, the Secrets Store CSI driver's and managed Prometheus' (azmonitoring.coreos.com) CRDs are installed
# by AKS add-ons, cert-manager's by its chart: none ships a schema we can read offline.
CRD_GROUPS = ("traefik.io", "cilium.io", "secrets-store.csi.x-k8s.io", "keda.sh", "cert-manager.io", "azmonitoring.coreos.com")


def core_objects(rec):
    return [o for o in kubernetes_objects(rec) if o.type.split(":")[1].split("/")[0] not in CRD_GROUPS]


def test_objects_validate_against_the_kubernetes_schema(stack, dev_settings):
    version = f"{dev_settings['kubernetesVersion']}.0"
    objects = core_objects(stack)
    assert len(objects) >= 20
    for obj in objects:
        kubernetes_validate.validate(manifest(obj), version, strict=True)


def test_the_schema_check_rejects_a_misspelt_field(dev):
    [job] = [o for o in core_objects(dev) if o.type.endswith(":Job")][:1]
    broken = manifest(job)
    broken["spec"] = {**broken["spec"], "backofLimit": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.34.0", strict=True)


def test_every_skipped_check_has_its_reason():
    assert all(s.get("reason") for s in skipped_checks())


def test_manifests_pass_checkov(dev, prod, tmp_path):
    """The platform's objects and the shipped releases (release/example) as Flux renders them for each environment."""
    for rec in (dev, prod):
        write_manifests(kubernetes_objects(rec), str(tmp_path / rec.stack))
        plan = build_plan(rec)
        for tenant in load_config(rec.stack, stack_settings(rec.stack)).tenants:
            folder = release.release_folder(release.EXAMPLE_REPOSITORY, tenant.unit, tenant.environment)
            for i, doc in enumerate(release.render(folder, release.release_values(plan, tenant.namespace))):
                (tmp_path / f"release-{tenant.key}-{i:02d}.yaml").write_text(yaml.safe_dump({**doc, "metadata": {**doc["metadata"], "namespace": tenant.namespace}}))
    assert checkov(str(tmp_path)) == []
