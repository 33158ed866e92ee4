"""The plan file follows DESIGN.md and never holds a secret; the preview CLI's exit codes."""
import json
import os
import subprocess
import sys

import pulumi
import yaml
from pulumi_azure_native import keyvault

from tools.plan import build_plan, render_tree, write_plan
from tools.recording import run_program

from tools.preview import ROOT


def secret_program():
    value = pulumi.Output.secret("hunter2-very-secret")
    secret = keyvault.Secret(
        "db-password",
        resource_group_name="rg",
        vault_name="kv",
        secret_name="pg-gc-dev",
        properties=keyvault.SecretPropertiesArgs(value=value),
        opts=pulumi.ResourceOptions(protect=True),
    )
    pulumi.export("password", value)
    pulumi.export("secretId", secret.id)


def test_plan_keys_and_hidden_secrets(tmp_path):
    rec = run_program(secret_program, "dev", {})
    path = tmp_path / "plan.json"
    write_plan(str(path), build_plan(rec, {"pack": "p", "policies": 1, "violations": []}))
    text = path.read_text()
    assert "hunter2" not in text
    plan = json.loads(text)
    assert {"project", "stack", "resources", "policy", "summary"} <= set(plan)
    [secret] = [r for r in plan["resources"] if r["type"] == "azure-native:keyvault:Secret"]
    assert set(secret) == {"urn", "type", "name", "custom", "parent", "provider", "dependencies", "protect", "ignoreChanges", "inputs"}
    assert secret["inputs"]["properties"]["value"] == "[secret]"
    assert secret["protect"] is True and secret["custom"] is True
    assert secret["urn"] == "urn:pulumi:dev::odoo-platform::pulumi:pulumi:Stack$azure-native:keyvault:Secret::db-password"
    assert plan["outputs"]["password"] == "[secret]"
    assert plan["outputs"]["secretId"].endswith("/providers/Microsoft.KeyVault/vaults/kv/secrets/pg-gc-dev")
    assert plan["summary"] == {"resources": 2, "by_type": {"azure-native:keyvault:Secret": 1, "pulumi:pulumi:Stack": 1}}


def test_tree_marks_protected_resources():
    tree = render_tree(run_program(secret_program, "dev", {}))
    assert "└─ azure-native:keyvault:Secret" in tree and "db-password  [protected]" in tree
    assert "2 to create (1 protected)" in tree


def preview(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "tools.preview", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_overlapping_subnet_exits_2_with_one_line(tmp_path):
    with open(os.path.join(ROOT, "Pulumi.dev.yaml")) as f:
        doc = yaml.safe_load(f)
    doc["config"]["odoo-platform:network"]["subnets"]["postgres"] = "10.20.4.0/28"
    bad = tmp_path / "overlap.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = preview("dev", "--config", str(bad), "--json", str(tmp_path / "plan.json"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        'error: odoo-platform:network.subnets.postgres = "10.20.4.0/28": overlaps subnets.aksUser (10.20.4.0/22); subnets must not overlap'
    ]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "plan.json").exists(), "nothing is written for an invalid configuration"


def test_missing_stack_file_exits_2(tmp_path):
    result = preview("staging")
    assert result.returncode == 2
    assert "no configuration for stack 'staging'" in result.stderr and "Traceback" not in result.stderr


def test_preview_writes_a_plan_that_loads(tmp_path, dev):
    out = tmp_path / "plan-dev.json"
    result = preview("dev", "--json", str(out))
    assert result.returncode == 0, result.stderr
    plan = json.loads(out.read_text())
    assert plan["project"] == "odoo-platform" and plan["stack"] == "dev"
    assert plan["summary"]["resources"] == len(plan["resources"]) == len(dev.resources)
    assert "azure-native:keyvault:Vault" in result.stdout and "Resources by type:" in result.stdout
