"""Every Kubernetes object both stacks create: valid for the cluster's Kubernetes version, and clean under Checkov."""
import json
import os
import subprocess

import kubernetes_validate
import pytest
import yaml

from tools.manifests import kubernetes_objects, manifest, write_manifests
from tools.preview import ROOT

# CRDs validated elsewhere or without a schema here: Traefik's against the chart's CRDs (test_traefik.py);
# Cilium's, KEDA's, the Secrets Store CSI driver's and managed Prometheus' (azmonitoring.coreos.com) CRDs are installed
# by AKS add-ons, cert-manager's by its chart: none ships a schema we can read offline.
CRD_GROUPS = ("traefik.io", "cilium.io", "secrets-store.csi.x-k8s.io", "keda.sh", "cert-manager.io", "azmonitoring.coreos.com")
CHECKOV = os.environ.get("CHECKOV", os.path.join(ROOT, ".venv-checkov", "bin", "checkov"))


def core_objects(rec):
    return [o for o in kubernetes_objects(rec) if o.type.split(":")[1].split("/")[0] not in CRD_GROUPS]


def test_objects_validate_against_the_kubernetes_schema(stack, dev_settings):
    version = f"{dev_settings['kubernetesVersion']}.0"
    objects = core_objects(stack)
    assert len(objects) >= 20
    for obj in objects:
        kubernetes_validate.validate(manifest(obj), version, strict=True)


def test_the_schema_check_rejects_a_misspelt_field(dev):
    [deployment] = [o for o in core_objects(dev) if o.type.endswith(":Deployment")][:1]
    broken = manifest(deployment)
    broken["spec"] = {**broken["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.34.0", strict=True)


def skipped_checks() -> list[dict]:
    with open(os.path.join(ROOT, "tests", "checkov-skips.yaml"), encoding="utf-8") as f:
        skips = yaml.safe_load(f)["skips"] or []
    assert all(s.get("reason") for s in skips), "every skipped check needs its reason"
    return skips


def test_manifests_pass_checkov(dev, prod, tmp_path):
    if not os.path.exists(CHECKOV):
        pytest.fail(f"checkov not found at {CHECKOV}: `make test` installs it into .venv-checkov")
    for rec in (dev, prod):
        write_manifests(kubernetes_objects(rec), str(tmp_path / rec.stack))
    command = [CHECKOV, "--framework", "kubernetes", "-d", str(tmp_path), "-o", "json", "--quiet", "--compact"]
    skips = [s["id"] for s in skipped_checks()]
    if skips:
        command += ["--skip-check", ",".join(skips)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [(f["check_id"], f["resource"], f["file_path"]) for r in reports for f in r["results"]["failed_checks"]]
    assert failed == []
    assert sum(r["summary"]["passed"] for r in reports) > 1000
