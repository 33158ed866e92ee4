"""Backup wiring per tenant environment: CronJobs that the real ops/backup CLI accepts, an identity scoped to the
environment's own data, quota room, schedules and targets by tier; Azure Backup in production."""
import os
import re
from unittest import mock

import pytest

from components.backup import COMMANDS, QUOTA_ALLOWANCE, backup_plan
from components.interfaces import blob_prefix_condition
from components.tier import Tier
from ops.backup import cli
from tools.mocks import arm_id, stable_uuid

CRON = "kubernetes:batch/v1:CronJob"
ROLE = "azure-native:authorization:RoleAssignment"
SPC = "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass"


def tenants(recording) -> list[str]:
    from tools.preview import stack_settings

    return [f"{u['name']}-{e if isinstance(e, str) else e['name']}" for u in stack_settings(recording.stack)["units"] for e in u["environments"]]


def cron_jobs(recording, tenant: str) -> dict[str, dict]:
    jobs = [r.inputs for r in recording.of_type(CRON) if r.inputs["metadata"]["namespace"] == f"odoo-{tenant}"
            and r.inputs["metadata"]["labels"].get("app.kubernetes.io/name") == "odoo-backup"]
    return {j["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["name"]: j for j in jobs}


def test_every_environment_has_its_four_jobs_on_the_jobs_pool(stack):
    for tenant in tenants(stack):
        jobs = cron_jobs(stack, tenant)
        assert set(jobs) == set(COMMANDS), tenant
        for command, job in jobs.items():
            pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            assert job["spec"]["concurrencyPolicy"] == "Forbid" and job["spec"]["timeZone"] == "Etc/UTC"
            assert pod["nodeSelector"] == {"workload-class": "jobs"} and pod["serviceAccountName"] == "backup"
            assert pod["containers"][0]["command"] == ["python", "-m", "ops.backup", command]
            # Named so that the failed-job alert (components/prometheus_rules.py DATA_JOBS) matches their Jobs.
            assert re.fullmatch(r"(backup|drill|restore).*", job["metadata"]["name"])


def _environment(job: dict) -> dict[str, str]:
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: str(e["value"]) for e in container["env"]}


@pytest.mark.parametrize("command", COMMANDS)
def test_the_real_cli_accepts_each_jobs_environment(stack, command):
    """Every variable a CronJob sets is one ops/backup reads, and with only those the CLI parses (required flags met)."""
    job = cron_jobs(stack, tenants(stack)[0])[command]
    env = _environment(job)
    cli.parser()
    read = set(cli.ENVIRONMENT.values())
    assert set(env) - {"HOME"} <= read, set(env) - {"HOME"} - read
    with mock.patch.dict(os.environ, env, clear=True):
        parsed = cli.parser().parse_args([command])
    assert parsed.tenant == tenants(stack)[0]


def test_schedules_and_targets_follow_the_tier(dev, prod):
    prod_drill = _environment(cron_jobs(prod, "gc-prod")["drill"])
    dev_drill = _environment(cron_jobs(dev, "gc-dev")["drill"])
    assert (prod_drill["DRILL_RPO_TARGET"], prod_drill["DRILL_RTO_TARGET"]) == ("7h", "4h")
    assert (dev_drill["DRILL_RPO_TARGET"], dev_drill["DRILL_RTO_TARGET"]) == ("26h", "8h")
    assert cron_jobs(prod, "gc-prod")["backup"]["spec"]["schedule"] == "15 */6 * * *"
    assert cron_jobs(dev, "gc-dev")["drill"]["spec"]["schedule"] == "30 3 * * 6"
    prune = _environment(cron_jobs(prod, "gc-prod")["prune"])
    assert [prune[f"BACKUP_KEEP_{p}"] for p in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")] == ["7", "4", "12", "7"]


def test_configured_schedules_and_targets_replace_the_defaults():
    plan = backup_plan(Tier.PRODUCTION, {"drill": "0 2 * * 0", "rpo": 2.0}, {"daily": 7}, 2555)
    assert plan.schedules["drill"] == "0 2 * * 0" and plan.schedules["backup"] == "15 */6 * * *"
    assert (plan.rpo_hours, plan.rto_hours) == (2.0, 4.0)


def test_drills_restore_into_the_environments_own_scratch(stack):
    for tenant in tenants(stack):
        env = _environment(cron_jobs(stack, tenant)["drill"])
        database = "odoo_" + tenant.replace("-", "_")
        assert env["DRILL_SCRATCH_DATABASE"] == f"{database}_drill" and env["DRILL_PGUSER"] == database
        assert env["DRILL_SCRATCH_CONTAINER"] == f"{tenant}-drill"
    drill_databases = {d.inputs["databaseName"] for d in stack.of_type("azure-native:dbforpostgresql:Database")}
    assert {"odoo_" + t.replace("-", "_") + "_drill" for t in tenants(stack)} <= drill_databases


def test_backup_identity_reaches_only_its_own_data(stack):
    """Per environment: its own prefix of the shared backup container, read on its attachments, its scratch container,
    its database password; no grant on another environment's containers."""
    for tenant in tenants(stack):
        identity = next(r for r in stack.of_type("azure-native:managedidentity:UserAssignedIdentity") if r.inputs["resourceName"].endswith(f"-{tenant}-backup"))
        principal = stable_uuid("principal", identity.inputs["resourceName"])
        grants = [(r.inputs["scope"], r.inputs["description"].removeprefix("odoo-platform: "), r.inputs.get("condition")) for r in stack.of_type(ROLE) if r.inputs["principalId"] == principal]
        containers = {scope.rsplit("/containers/", 1)[1]: (role, condition) for scope, role, condition in grants if "/containers/" in scope}
        assert containers == {
            "backups": ("Storage Blob Data Contributor", blob_prefix_condition(f"{tenant}/")),
            tenant: ("Storage Blob Data Reader", None),
            f"{tenant}-drill": ("Storage Blob Data Contributor", None),
        }
        secrets = [scope for scope, role, _ in grants if "/secrets/" in scope]
        assert len(secrets) == 1 and f"pg-{tenant}-password" in secrets[0]
        assert all("/containers/" in s or "/secrets/" in s for s, _, _ in grants), "nothing at account or vault scope"


def test_prefix_condition_names_the_prefix_for_paths_and_listings():
    condition = blob_prefix_condition("gc-prod/")
    assert condition.count("StringStartsWith 'gc-prod/'") == 2
    assert "blobs:path]" in condition and "blobs:prefix]" in condition and "SubOperationMatches{'Blob.List'}" in condition


def test_quota_keeps_room_for_the_backup_jobs(dev):
    quota = next(r for r in dev.of_type("kubernetes:core/v1:ResourceQuota") if r.inputs["metadata"]["namespace"] == "odoo-gc-dev")
    web_pods = 2 + 1  # small profile: 2 web pods at most, +1 surge
    assert quota.inputs["spec"]["hard"]["pods"] == str(web_pods + 3 + QUOTA_ALLOWANCE[0])


def test_backup_pods_reach_only_dns_data_services_entra_and_offsite(dev):
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in dev.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.inputs["metadata"]["namespace"] == "odoo-gc-dev"}
    data = policies["backup-allow-data-services"]
    assert data["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "odoo-backup"}}
    assert {(p["ports"][0]["port"]) for p in data["egress"]} == {5432, 443}
    [fqdn] = [r.inputs["spec"] for r in dev.of_type("kubernetes:cilium.io/v2:CiliumNetworkPolicy") if r.inputs["metadata"]["name"] == "backup-allow-egress-by-name" and r.inputs["metadata"]["namespace"] == "odoo-gc-dev"]
    assert [h["matchName"] for h in fqdn["egress"][1]["toFQDNs"]] == ["login.microsoftonline.com"]


def test_offsite_copy_adds_keys_endpoint_and_lock(dev_settings):
    from tools.preview import run_stack

    dev_settings["units"] = [dev_settings["units"][0] | {"environments": ["dev"]}]
    dev_settings["budgets"].pop("units", None)  # budgets of the units just removed
    dev_settings["backups"] = {"offsite": {"endpoint": "https://s3.sovereign.example", "bucket": "acme-odoo-offsite",
                                            "accessKeySecret": "offsite-access-key", "secretKeySecret": "offsite-secret-key", "objectLockDays": 90}}
    recording = run_stack("dev", dev_settings)
    env = _environment(cron_jobs(recording, "gc-dev")["backup"])
    assert env["OFFSITE_S3_BUCKET"] == "acme-odoo-offsite" and env["OFFSITE_S3_RETAIN_DAYS"] == "90"
    assert env["OFFSITE_S3_ACCESS_KEY_ID_FILE"].startswith("/mnt/secrets/")
    [fqdn] = [r.inputs["spec"] for r in recording.of_type("kubernetes:cilium.io/v2:CiliumNetworkPolicy") if r.inputs["metadata"]["name"] == "backup-allow-egress-by-name"]
    assert [h["matchName"] for h in fqdn["egress"][1]["toFQDNs"]] == ["login.microsoftonline.com", "s3.sovereign.example"]
    vault = arm_id("azure-native:keyvault:Vault", "kv", next(r.inputs for r in recording.of_type("azure-native:keyvault:Vault")))
    scopes = {r.inputs["scope"] for r in recording.of_type(ROLE)}
    assert {f"{vault}/secrets/offsite-access-key", f"{vault}/secrets/offsite-secret-key"} <= scopes
    provider = next(r for r in recording.of_type(SPC) if r.inputs["metadata"]["name"] == "backup-secrets")
    assert "offsite-secret-access-key" in provider.inputs["spec"]["parameters"]["objects"]


def test_production_backs_up_to_azure_backup_too(dev, prod):
    assert dev.of_type("azure-native:dataprotection:BackupVault") == []
    vault = prod.one("azure-native:dataprotection:BackupVault")
    assert vault.protect
    instances = {i.inputs["properties"]["dataSourceInfo"]["datasourceType"] for i in prod.of_type("azure-native:dataprotection:BackupInstance")}
    assert instances == {"Microsoft.DBforPostgreSQL/flexibleServers", "Microsoft.Storage/storageAccounts/blobServices"}


def test_production_retention_floor_is_a_config_error(prod_settings):
    from stacks.config import ConfigError, load_config

    prod_settings["backups"] = {"retention": {"yearly": 3, "monthly": 200}}
    with pytest.raises(ConfigError) as e:
        load_config("prod", prod_settings)
    assert e.value.problems == [
        "odoo-platform:backups.retention.monthly = 200: Input should be less than or equal to 120",
    ]
    prod_settings["backups"] = {"retention": {"yearly": 3}}
    with pytest.raises(ConfigError) as e:
        load_config("prod", prod_settings)
    assert e.value.problems == ["odoo-platform:backups.retention.yearly = 3: production keeps at least 7 yearly backup sets (construction records are kept 7-10 years)"]


def test_the_job_image_pins_what_the_tests_ran():
    """ops/Dockerfile installs the same versions of the tool's dependencies as requirements.txt (what the tests ran)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "ops", "Dockerfile"), encoding="utf-8") as f:
        image = dict(re.findall(r'"?([A-Za-z0-9_.-]+)(?:\[[a-z,]+\])?==([0-9.]+)"?', f.read()))
    with open(os.path.join(root, "requirements.txt"), encoding="utf-8") as f:
        tested = dict(re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[a-z,]+\])?==([0-9.]+)", f.read(), re.M))
    assert image and all(tested.get(name) == version for name, version in image.items()), (image, tested)
