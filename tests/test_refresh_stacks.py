"""Refresh wiring on both shipped stacks under the mocks (conftest's dev and prod recordings), and its configuration.

Non-production (dev): gc-uat and gc-training get an import CronJob on their schedule, an identity federated with their
own `refresh` service account, and grants on their own secrets only. Production (prod): one export CronJob per refreshed
environment, the scratch refresh database, an export identity limited to its unit's backups and exports, and the one
grant each non-production identity gets: read on its own exports prefix. The two stacks agree with each other: the
principal production grants is the identity the dev program creates; the account dev reads is the one prod creates.
"""
from __future__ import annotations

import pytest

from components.interfaces import ROLES, blob_prefix_condition
from ops.refresh import cli as refresh_cli
from stacks.config import ConfigError, load_config

CRON = "kubernetes:batch/v1:CronJob"
ROLE = "azure-native:authorization:RoleAssignment"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
FIC = "azure-native:managedidentity:FederatedIdentityCredential"
REFRESHED = {"gc-uat": "0 2 * * 6", "gc-training": "30 2 1 * *"}


def refresh_jobs(recording) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in recording.of_type(CRON) if r.inputs["metadata"]["name"].startswith("refresh-")}


def env_of(job: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]}


def identity(recording, purpose: str):
    return next(r for r in recording.of_type(IDENTITY) if r.name == f"id-{purpose}")


def principal_of(recording, purpose: str) -> str:
    from tools.mocks import stable_uuid

    return stable_uuid("principal", identity(recording, purpose).inputs["resourceName"])


def grants_to(recording, principal: str) -> list[dict]:
    return [r.inputs for r in recording.of_type(ROLE) if r.inputs.get("principalId") == principal]


def role_name(assignment: dict) -> str:
    return next(name for name, guid in ROLES.items() if assignment["roleDefinitionId"].endswith(guid))


def cli_accepts(command: str, env: dict[str, str], monkeypatch) -> None:
    """The job's environment parsed by the real CLI: every required flag is set by a variable it reads."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    refresh_cli.parser().parse_args([command])


def test_dev_imports_on_schedule_with_an_identity_of_its_own(dev, prod, monkeypatch):
    jobs = refresh_jobs(dev)
    assert set(jobs) == {f"refresh-import-{key}" for key in REFRESHED}
    prod_account = next(r for r in prod.of_type("azure-native:storage:StorageAccount") if r.name == "st").inputs["accountName"]
    for key, schedule in REFRESHED.items():
        job = jobs[f"refresh-import-{key}"]
        unit, environment = key.split("-")
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        env = env_of(job)
        assert job["metadata"]["namespace"] == f"odoo-{key}" and job["spec"]["schedule"] == schedule and job["spec"]["concurrencyPolicy"] == "Forbid"
        assert pod["containers"][0]["command"] == ["python", "-m", "ops.refresh", "import"] and pod["serviceAccountName"] == "refresh"
        assert job["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0 and pod["automountServiceAccountToken"] is False
        assert env["REFRESH_TARGET"] == f"{unit}/{environment}" and env["PGDATABASE"] == f"odoo_{unit}_{environment}"
        assert env["REFRESH_EXPORTS_ACCOUNT_URL"] == f"https://{prod_account}.blob.core.windows.net/"
        assert env["REFRESH_BASE_URL"].startswith("https://") and env["REFRESH_WAIT"] == "6h"
        cli_accepts("import", {k: v for k, v in env.items() if not k.endswith("_FILE")}, monkeypatch)
        [fic] = [r.inputs for r in dev.of_type(FIC) if r.name == f"fic-{key}-refresh"]
        assert fic["subject"] == f"system:serviceaccount:odoo-{key}:refresh"
        # in its own stack: its database password and the users' password, nothing else
        grants = grants_to(dev, principal_of(dev, f"{key}-refresh"))
        assert sorted(role_name(g) for g in grants) == ["Key Vault Secrets User"] * 2
        assert {g["scope"].rsplit("/", 1)[1].rsplit("-", 1)[0] for g in grants} == {f"pg-{key}-password", f"odoo-{key}-admin-password"}
        assert dev.outputs["tenantEnvironments"][key]["refreshReader"]["principalId"] == principal_of(dev, f"{key}-refresh")
    assert "refreshReader" not in dev.outputs["tenantEnvironments"]["gc-dev"]


def test_prod_exports_each_refreshed_environment_from_its_scratch_database(prod, monkeypatch):
    jobs = refresh_jobs(prod)
    assert set(jobs) == {f"refresh-export-{key}" for key in REFRESHED}
    for key, schedule in REFRESHED.items():
        job = jobs[f"refresh-export-{key}"]
        env = env_of(job)
        assert job["metadata"]["namespace"] == "odoo-gc-prod" and job["spec"]["schedule"] == schedule
        assert env["BACKUP_TENANT"] == "gc-prod" and env["REFRESH_TARGET"] == key.replace("-", "/")
        assert env["REFRESH_SCRATCH_DATABASE"] == "odoo_gc_prod_refresh" and env["REFRESH_PROFILE"] == "odoo-construction"
        cli_accepts("export", {k: v for k, v in env.items() if not k.endswith("_FILE")} | {"REFRESH_KEY_FILE": "/dev/null"}, monkeypatch)
    database = next(r for r in prod.of_type("azure-native:dbforpostgresql:Database") if r.name == "db-gc-prod-refresh")
    assert database.inputs["databaseName"] == "odoo_gc_prod_refresh" and not database.protect
    bootstrap = next(r for r in prod.of_type("kubernetes:batch/v1:Job") if r.name == "bootstrap-gc-prod")
    env = {e["name"]: e["value"] for e in bootstrap.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TENANT_REFRESH_DATABASE"] == "odoo_gc_prod_refresh" and database.urn in bootstrap.dependencies


def test_prod_export_identity_reads_its_backups_and_writes_its_units_exports_only(prod):
    grants = grants_to(prod, principal_of(prod, "gc-prod-refresh"))
    by_container = {g["scope"].rsplit("/containers/", 1)[1]: g for g in grants if "/containers/" in g["scope"]}
    assert set(by_container) == {"backups", "exports"}
    assert role_name(by_container["backups"]) == "Storage Blob Data Reader" and by_container["backups"]["condition"] == blob_prefix_condition("gc-prod/")
    assert role_name(by_container["exports"]) == "Storage Blob Data Contributor" and by_container["exports"]["condition"] == blob_prefix_condition("gc/")
    secrets = sorted(g["scope"].rsplit("/", 1)[1].rsplit("-", 1)[0] for g in grants if "/secrets/" in g["scope"])
    assert secrets == ["pg-gc-prod-password", "refresh-masking-key"] and len(grants) == 4


def test_prod_grants_each_dev_identity_read_on_its_own_exports_prefix_and_nothing_else(dev, prod):
    for key in REFRESHED:
        unit, environment = key.split("-")
        [grant] = grants_to(prod, principal_of(dev, f"{key}-refresh"))
        assert role_name(grant) == "Storage Blob Data Reader" and grant["scope"].endswith("/blobServices/default/containers/exports")
        assert grant["condition"] == blob_prefix_condition(f"{unit}/{environment}/") and grant["conditionVersion"] == "2.0"
        assert f"refresh reader for non-production dev {unit}/{environment}" in grant["description"]


def test_dev_reaches_the_production_exports_through_a_private_endpoint_of_its_own(dev, prod):
    """Production's storage takes no public traffic: the import job reaches it through dev's network and DNS."""
    from tools.mocks import arm_id

    [account] = [r for r in prod.of_type("azure-native:storage:StorageAccount") if r.name == "st"]
    endpoints = {r.name: r.inputs for r in dev.of_type("azure-native:network:PrivateEndpoint")}
    [endpoint] = [e for name, e in endpoints.items() if name.endswith("-exports-pep")]
    [connection] = endpoint["privateLinkServiceConnections"]
    assert connection["privateLinkServiceId"] == arm_id(account.type, account.name, account.inputs) and connection["groupIds"] == ["blob"]
    assert {e["subnet"]["id"] for e in endpoints.values()} == {endpoint["subnet"]["id"]}  # the private endpoints subnet, as every other
    [group] = [r.inputs for r in dev.of_type("azure-native:network:PrivateDnsZoneGroup") if r.inputs["privateEndpointName"] == endpoint["privateEndpointName"]]
    assert group["privateDnsZoneConfigs"][0]["privateDnsZoneId"].endswith("/privateDnsZones/privatelink.blob.core.windows.net")
    assert prod.of_type("azure-native:network:PrivateEndpoint") and not [r for r in prod.of_type("azure-native:network:PrivateEndpoint") if r.name.endswith("-exports-pep")]


def test_prod_reads_the_principals_through_a_stack_reference(dev):
    """The production program takes the principal from the dev stack's outputs (here: the dev recording's)."""
    from tools import mocks
    from tools.preview import run_stack, stack_settings

    forged = {"tenantEnvironments": {k: {"refreshReader": {"principalId": f"00000000-0000-4000-8000-0000000000{i:02d}"}} for i, k in enumerate(REFRESHED)}}
    mocks.STACK_OUTPUTS["dev"] = forged
    try:
        prod = run_stack("prod", stack_settings("prod"))
    finally:
        del mocks.STACK_OUTPUTS["dev"]
    readers = {r.inputs["principalId"] for r in prod.of_type(ROLE) if "refresh reader" in (r.inputs.get("description") or "")}
    assert readers == {v["refreshReader"]["principalId"] for v in forged["tenantEnvironments"].values()}


def _settings(stack):
    from tools.preview import stack_settings

    return stack_settings(stack)


@pytest.mark.parametrize("change,expected", [
    (lambda s: s["units"][1]["environments"].__setitem__(1, {"name": "uat", "refresh": {"from": "civil", "schedule": "0 2 * * 6"}}),
     'units[1].environments[1].refresh.from = "civil": names no production stack of this project (prod) nor a unit one serves'),
    (lambda s: s["units"][0]["environments"][2]["refresh"].__setitem__("from", "prod-xy"),
     'units[0].environments[2].refresh.from = "prod-xy": names no production stack'),
    (lambda s: s["units"][0]["environments"][2]["refresh"].__setitem__("schedule", "0 25 * * *"),
     "units[0].environments[2].refresh.schedule = \"0 25 * * *\": hour field '25' is not valid cron"),
    (lambda s: s["units"][0]["environments"][2]["refresh"].__setitem__("schedule", "@weekly"),
     'refresh.schedule = "@weekly": must be a five-field cron expression'),
    (lambda s: s["units"][0]["environments"][2]["refresh"].__setitem__("masking", "everything"),
     'units[0].environments[2].refresh.masking = "everything": is not a masking profile (odoo-construction'),
])
def test_refresh_config_errors_are_one_line_each(change, expected):
    settings = _settings("dev")
    change(settings)
    with pytest.raises(ConfigError) as raised:
        load_config("dev", settings)
    assert any(expected in line for line in raised.value.problems), raised.value.problems


def test_another_units_production_and_a_production_target_are_refused():
    settings = _settings("dev")
    settings["units"][1]["environments"][1] = {"name": "uat", "refresh": {"from": "prod", "schedule": "0 2 * * 6"}}
    settings["units"][0]["environments"][2]["refresh"]["schedule"] = "99 * * * *"
    with pytest.raises(ConfigError) as raised:
        load_config("dev", settings)
    assert len(raised.value.problems) == 2  # every problem at once
    assert any("stack prod serves unit 'gc'; unit 'civil' refreshes only from its own production" in p for p in raised.value.problems)
    prod = _settings("prod")
    prod["units"][0]["environments"] = [{"name": "prod", "refresh": {"from": "prod", "schedule": "0 1 * * *"}}]
    with pytest.raises(ConfigError) as raised:
        load_config("prod", prod)
    assert any("only non-production environments are refreshed" in p for p in raised.value.problems)


def test_ops_readme_documents_every_refresh_flag_and_variable():
    import os

    from ops.backup import cli as backup_cli

    parser = refresh_cli.parser()
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ops", "README.md"), encoding="utf-8") as f:
        section = f.read().split("## `python -m ops.refresh`", 1)[1]
    flags = {a.option_strings[0] for sub in parser._subparsers._group_actions[0].choices.values() for a in sub._actions  # type: ignore[union-attr]
             if a.option_strings and a.option_strings[0] != "-h"}
    assert flags and not [f for f in flags if f"`{f}`" not in section]
    assert not [e for e in backup_cli.ENVIRONMENT.values() if f"`{e}`" not in section]


def test_odoo_scaler_pauses_the_scaled_objects_waits_for_no_replica_and_unpauses():
    """ops/refresh/kube.py against a fake API server: merge patches of KEDA's pause annotation, then GETs until the
    Deployments report no replica, then the annotation removed (null)."""
    import http.server
    import json
    import threading

    from ops.refresh.kube import PAUSE, KubeApi, OdooScaler

    seen: list[tuple[str, str, object]] = []
    replicas = {"odoo-web": 2, "odoo-cron": 1}

    class Api(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _reply(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PATCH(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(("PATCH", self.path, (self.headers["Content-Type"], body)))
            self._reply({})

        def do_GET(self):
            name = self.path.rsplit("/", 1)[1]
            seen.append(("GET", self.path, None))
            replicas[name] = max(replicas[name] - 1, 0)  # KEDA and the Deployment controller at work
            self._reply({"status": {"replicas": replicas[name]} if replicas[name] else {}})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        scaler = OdooScaler(KubeApi(f"http://127.0.0.1:{server.server_address[1]}", None), "odoo-gc-uat", ["odoo-web", "odoo-cron"],
                            ["odoo-web", "odoo-cron"], timeout_s=10, poll_s=0.01)
        scaler.stop()
        patches = [(p, b) for m, p, b in seen if m == "PATCH"]
        assert [p for p, _ in patches] == [f"/apis/keda.sh/v1alpha1/namespaces/odoo-gc-uat/scaledobjects/{n}" for n in ("odoo-web", "odoo-cron")]
        assert all(b == ("application/merge-patch+json", {"metadata": {"annotations": {PAUSE: "0"}}}) for _, b in patches)
        assert replicas == {"odoo-web": 0, "odoo-cron": 0} and any(m == "GET" for m, _, _ in seen)
        seen.clear()
        scaler.start()
        assert [b for m, _, b in seen if m == "PATCH"] == [("application/merge-patch+json", {"metadata": {"annotations": {PAUSE: None}}})] * 2
    finally:
        server.shutdown()


def test_the_export_runs_the_odoo_images_own_neutralize_scripts(prod, monkeypatch):
    """As `odoo-bin neutralize` does, every addon's data/neutralize.sql runs too: an init container of the Odoo image
    copies them into a volume the export reads as ODOO_ADDONS_DIR."""
    from components.refresh import NEUTRALIZE_DIR
    from tools.preview import stack_settings

    odoo_image = stack_settings("prod")["odooImage"]
    for key in REFRESHED:
        pod = refresh_jobs(prod)[f"refresh-export-{key}"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        [init] = pod["initContainers"]
        assert init["command"][:2] == ["python3", "-c"] and init["command"][-1] == NEUTRALIZE_DIR
        assert init["image"].endswith(".azurecr.io/" + odoo_image)  # the stack's Odoo image, from its registry
        writes = {m["name"] for m in init["volumeMounts"] if m["mountPath"] == NEUTRALIZE_DIR}
        reads = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        assert writes and all(reads[w]["mountPath"] == NEUTRALIZE_DIR and reads[w]["readOnly"] for w in writes)
        monkeypatch.setenv("REFRESH_KEY_FILE", "/dev/null")
        for name, value in env_of({"spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}}}).items():
            monkeypatch.setenv(name, value)
        assert refresh_cli.parser().parse_args(["export"]).odoo_addons_dir == NEUTRALIZE_DIR


def test_the_copy_script_finds_every_addons_neutralize_sql_where_odoo_looks(tmp_path):
    """The init container's script, run for real against a stand-in `odoo` package with two addons paths; what it
    writes is what ops/refresh/neutralize.py reads."""
    import subprocess
    import sys

    from components.refresh import COPY_NEUTRALIZE_SCRIPTS
    from ops.refresh import neutralize

    site, extra = tmp_path / "site", tmp_path / "extra-addons"
    (site / "odoo" / "addons").mkdir(parents=True)
    (site / "odoo" / "__init__.py").write_text("")
    # odoo/addons/__init__.py extends its path with the configured addons directories, as Odoo's does
    (site / "odoo" / "addons" / "__init__.py").write_text(f"__path__.append({str(extra)!r})\n")
    for root, module, sql in ((site / "odoo" / "addons", "base", "UPDATE ir_cron SET active = false;"),
                              (site / "odoo" / "addons", "web", None),
                              (extra, "construction_site", "UPDATE site_webhook SET url = 'http://invalid';")):
        (root / module / "data").mkdir(parents=True)
        if sql:
            (root / module / "data" / "neutralize.sql").write_text(sql)
    target = tmp_path / "neutralize"
    run = subprocess.run([sys.executable, "-c", COPY_NEUTRALIZE_SCRIPTS, str(target)], env={"PYTHONPATH": str(site)}, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert dict(neutralize.odoo_scripts(str(target), ["base", "web", "construction_site"])) == {
        "base": "UPDATE ir_cron SET active = false;", "construction_site": "UPDATE site_webhook SET url = 'http://invalid';"}
    # an image without any (a wrong image) fails the pod before the export starts
    empty = tmp_path / "empty"
    (empty / "odoo" / "addons").mkdir(parents=True)
    (empty / "odoo" / "__init__.py").write_text("")
    (empty / "odoo" / "addons" / "__init__.py").write_text("")
    assert subprocess.run([sys.executable, "-c", COPY_NEUTRALIZE_SCRIPTS, str(tmp_path / "none")], env={"PYTHONPATH": str(empty)}).returncode == 1
