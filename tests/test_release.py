"""Releases through Git: the Flux extension and configurations on both stacks, the values Pulumi publishes, the release
base rendered for every tenant environment exactly as Flux would, and the release checker's rules (ownership, autoscaler,
images, KEDA, the pack, promotion), each with a release that passes and one that it refuses."""
import os
import shutil
import subprocess

import pytest
import yaml

from components.flux import CONTROLLERS, RELEASE_VALUES
from stacks.config import load_config
from tools import release
from tools.plan import build_plan
from tools.preview import ROOT, stack_settings

AZURE = "azure-native:kubernetesconfiguration:"
REPOSITORY = "ssh://git@github.com/acme-construction/odoo-releases.git"
OTHER_DIGEST = "sha256:" + "1" * 64


def tenants(rec):
    return rec.outputs["tenantEnvironments"]


def config_of(rec):
    return load_config(rec.stack, stack_settings(rec.stack))


@pytest.fixture(scope="module")
def plans(dev, prod):
    return {rec.stack: build_plan(rec) for rec in (dev, prod)}


@pytest.fixture(scope="module")
def rendered(dev, prod, plans):
    """Every shipped tenant environment's release from release/example, keyed by (stack, tenant key)."""
    out = {}
    for rec in (dev, prod):
        for tenant in config_of(rec).tenants:
            values = release.release_values(plans[rec.stack], tenant.namespace)
            out[rec.stack, tenant.key] = release.render(release.release_folder(release.EXAMPLE_REPOSITORY, tenant.unit, tenant.environment), values)
    return out


def objects(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


# --- Pulumi's side ---------------------------------------------------------------------------------------------------


def test_flux_extension_runs_only_the_controllers_used_with_multi_tenancy(stack):
    [ext] = stack.of_type(AZURE + "Extension")
    i = ext.inputs
    assert (i["extensionType"], i["clusterResourceName"], i["clusterRp"]) == ("microsoft.flux", "managedClusters", "Microsoft.ContainerService")
    assert i["configurationSettings"] == {**CONTROLLERS, "multiTenancy.enforce": "true"}
    enabled = {k.split(".")[0] for k, v in i["configurationSettings"].items() if v == "true" and k.endswith(".enabled")}
    assert enabled == {"source-controller", "kustomize-controller"}
    assert i["scope"] == {"cluster": {"releaseNamespace": "flux-system"}}
    # AKS takes one operation at a time: the extension waits for the cluster's last one.
    cluster = stack.one("azure-native:containerservice:ManagedCluster")
    assert i["clusterName"] == cluster.inputs["resourceName"]
    assert any(d.startswith("urn:") and ("AgentPool" in d or "MaintenanceConfiguration" in d) for d in ext.dependencies)


def test_one_namespace_scoped_configuration_per_tenant_environment(stack):
    configurations = {r.inputs["namespace"]: r for r in stack.of_type(AZURE + "FluxConfiguration")}
    outputs = tenants(stack)
    assert set(configurations) == {t["namespace"] for t in outputs.values()}
    for key, out in outputs.items():
        r = configurations[out["namespace"]]
        i = r.inputs
        unit, environment = key.split("-", 1)
        assert (i["scope"], i["sourceKind"], i["fluxConfigurationName"]) == ("namespace", "GitRepository", out["namespace"])
        assert i["gitRepository"]["url"] == REPOSITORY and i["gitRepository"]["repositoryRef"] == {"branch": "main"}
        assert "localAuthRef" not in i["gitRepository"] and "configurationProtectedSettings" not in i  # Flux's own key
        [(name, k)] = i["kustomizations"].items()
        assert k["path"] == f"units/{unit}/{environment}" and k["prune"] is True and k["wait"] is True
        assert k["postBuild"] == {"substituteFrom": [{"kind": "ConfigMap", "name": RELEASE_VALUES, "optional": False}]}
        # The release waits for the namespace's values and the database's first initialisation.
        values = next(x for x in stack.resources if x.name == f"{key}-release-values")
        init = next(x for x in stack.resources if x.name == f"{key}-init")
        assert {values.urn, init.urn} <= set(r.dependencies)
        assert out["releaseDeployKey"] is not None


def test_pulumi_no_longer_creates_the_release_objects(stack):
    """Flux owns Odoo's Deployments and scalers: Pulumi creating them too would fight over every field."""
    for kind in ("apps/v1:Deployment", "autoscaling/v2:HorizontalPodAutoscaler", "keda.sh/v1alpha1:ScaledObject"):
        assert [r.name for r in stack.of_type("kubernetes:" + kind) if r.inputs["metadata"].get("namespace", "").startswith("odoo-")] == []


def test_release_values_publish_what_a_release_needs(stack, plans):
    for key, out in tenants(stack).items():
        values = release.release_values(plans[stack.stack], out["namespace"])
        assert all(isinstance(v, str) for v in values.values())
        assert (values["DB_NAME"], values["DB_USER"], values["IDENTITY_CLIENT_ID"]) == (out["database"], out["databaseRole"], out["identityClientId"])
        assert out["url"] == f"https://{values['HOST']}/"
        assert values["ODOO_SESSION_REDIS_PREFIX"] == out["redisKeyPrefix"] and values["AZURE_STORAGE_NAME"] == out["container"]
        assert values["ODOO_IMAGE_REPOSITORY"].endswith(".azurecr.io/odoo-construction")
        assert not any(word in name.lower() for name in values for word in ("password", "secret", "key"))


# --- the release, rendered as Flux renders it -------------------------------------------------------------------------


def test_every_variable_of_the_base_is_substituted(rendered):
    for (stack, key), docs in rendered.items():
        for doc in docs:
            if not release._substitution_disabled(doc):
                assert "${" not in yaml.safe_dump(doc), (stack, key, doc["metadata"]["name"])


def test_web_and_cron_run_the_release_image_on_their_pools(rendered):
    for (stack, key), docs in rendered.items():
        deployments = objects(docs, "Deployment")
        assert set(deployments) == {"odoo-web", "odoo-cron"}
        for component, pool in (("web", "web"), ("cron", "jobs")):
            pod = deployments[f"odoo-{component}"]["spec"]["template"]["spec"]
            assert pod["nodeSelector"] == {"workload-class": pool} and pod["tolerations"][0]["value"] == pool
            assert "replicas" not in deployments[f"odoo-{component}"]["spec"]
            digest = release.released_digest(release.release_folder(release.EXAMPLE_REPOSITORY, *key.split("-", 1)))
            for container in [*pod["initContainers"], *pod["containers"]]:
                assert container["image"].endswith(f".azurecr.io/odoo-construction@{digest}")
                assert container["securityContext"]["allowPrivilegeEscalation"] is False and container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert pod["securityContext"]["runAsUser"] == 10101 and pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            assert pod["containers"][0]["envFrom"][0] == {"configMapRef": {"name": RELEASE_VALUES}}
            assert pod["serviceAccountName"] == "odoo" and pod["automountServiceAccountToken"] is False
        cron = deployments["odoo-cron"]["spec"]["template"]["spec"]["containers"][0]
        assert cron["args"][0] == "--workers=0" and cron["args"][1].startswith("--max-cron-threads=")


def test_pods_start_only_once_the_upgrade_job_has_run(rendered):
    for docs in rendered.values():
        for deployment in objects(docs, "Deployment").values():
            [gate] = deployment["spec"]["template"]["spec"]["initContainers"]
            assert gate["command"][-4:] == ["/etc/odoo-release/upgrade.py", "wait", "--timeout", "3600"]
        job = objects(docs, "Job")["odoo-upgrade"]
        assert job["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/force"] == "enabled"
        assert "initContainers" not in job["spec"]["template"]["spec"]
        assert job["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "apply"
        modules = objects(docs, "ConfigMap")
        [release_cm] = [cm for name, cm in modules.items() if name.startswith("odoo-release-") and "ODOO_MODULES" in cm.get("data", {})]
        assert job["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [{"configMapRef": {"name": n}} for n in (RELEASE_VALUES, release_cm["metadata"]["name"])]


def test_autoscaling_by_tier(rendered):
    dev_web = objects(rendered["dev", "gc-dev"], "ScaledObject")["odoo-web"]["spec"]
    assert dev_web["minReplicaCount"] == 0 and dev_web["maxReplicaCount"] == 2
    assert dev_web["triggers"][0] == {"type": "cron", "metadata": {"timezone": "Europe/Berlin", "start": "30 6 * * 1-5", "end": "0 20 * * 1-5", "desiredReplicas": "1"}}
    assert dev_web["triggers"][1]["type"] == "cpu"
    prod_web = objects(rendered["prod", "gc-prod"], "ScaledObject")["odoo-web"]["spec"]
    assert (prod_web["minReplicaCount"], prod_web["maxReplicaCount"]) == (3, 8)
    assert prod_web["triggers"][0]["metadata"]["desiredReplicas"] == "3"
    assert objects(rendered["prod", "gc-prod"], "ScaledObject")["odoo-cron"]["spec"]["minReplicaCount"] == 1
    spread = {stack: objects(docs, "Deployment")["odoo-web"]["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["whenUnsatisfiable"]
              for (stack, _), docs in rendered.items()}
    assert spread == {"dev": "ScheduleAnyway", "prod": "DoNotSchedule"}


def quantity(value: str) -> int:
    """CPU in millicores, memory in MiB."""
    return int(value[:-1]) if value.endswith("m") else int(value[:-2]) if value.endswith("Mi") else int(value) * 1000


def test_a_release_at_full_scale_fits_its_namespace_quota(dev, prod, rendered):
    """The web pods at their maximum plus a rolling update's surge, cron, and the upgrade Job beside them."""
    for rec in (dev, prod):
        for key, out in tenants(rec).items():
            docs = rendered[rec.stack, key]
            quota = next(r.inputs for r in rec.of_type("kubernetes:core/v1:ResourceQuota") if r.inputs["metadata"]["namespace"] == out["namespace"])["spec"]["hard"]
            web_max = objects(docs, "ScaledObject")["odoo-web"]["spec"]["maxReplicaCount"]
            pods = [(objects(docs, "Deployment")["odoo-web"], web_max + 1), (objects(docs, "Deployment")["odoo-cron"], 1), (objects(docs, "Job")["odoo-upgrade"], 1)]
            for resource in ("cpu", "memory"):
                needed = sum(count * quantity(w["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"][resource]) for w, count in pods)
                assert needed <= quantity(quota[f"requests.{resource}"]), (rec.stack, key, resource)


# --- Flux's substitution -----------------------------------------------------------------------------------------------


def test_substitution_follows_flux():
    values = {"A": "x", "N": "7", "M": "line\nbreak"}
    assert release.substitute("a: ${A}\nb: $${A}\nc: ${B:=d}\nd: $A\ne: ${M}", values, "t") == "a: x\nb: ${A}\nc: d\nd: $A\ne: linebreak"
    with pytest.raises(release.ReleaseError, match="no value for B"):
        release.substitute("b: ${B}", values, "t")
    with pytest.raises(release.ReleaseError, match="not a variable"):
        release.substitute("b: ${A^^}", values, "t")


def test_a_value_that_breaks_the_yaml_fails_the_render(tmp_path):
    """Flux substitutes into plain YAML: `value: ${X}` with X = "a: b" no longer parses, and X = "7" becomes a number."""
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (folder / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: \"${X}\"}\n")
    with pytest.raises(release.ReleaseError, match="not YAML once substituted"):
        release.render(str(folder), {"X": "a: b"})
    assert release.render(str(folder), {"X": "7"})[0]["data"] == {"k": 7}


# --- the checker: the shipped releases pass, each rule refuses what it encodes ---------------------------------------


def test_the_shipped_releases_pass_every_check(dev, prod, plans):
    for rec in (dev, prod):
        assert release.check(config_of(rec), release.EXAMPLE_REPOSITORY, plans[rec.stack]) == []


@pytest.fixture()
def repository(tmp_path):
    """A copy of the example release repository (its base a real directory), as a Git work tree with one commit."""
    repo = tmp_path / "releases"
    shutil.copytree(release.EXAMPLE_REPOSITORY, repo, symlinks=False)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first releases")
    return repo


def git(repo, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env)


def set_digest(repo, unit, environment, digest):
    path = repo / "units" / unit / environment / "kustomization.yaml"
    path.write_text(path.read_text().replace(release.released_digest(str(path.parent)), digest))


def rules(findings):
    return {f.rule for f in findings}


def add_to_base(repo, filename, document):
    base = repo / "base"
    (base / filename).write_text(yaml.safe_dump(document))
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    kustomization["resources"].append(filename)
    (base / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))


def patch_base(repo, filename, edit):
    path = repo / "base" / filename
    documents = list(yaml.safe_load_all(path.read_text()))
    edit(documents)
    path.write_text(yaml.safe_dump_all(documents))


@pytest.mark.parametrize("change, rule", [
    (lambda repo: add_to_base(repo, "svc.yaml", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "odoo-http"}, "spec": {"ports": [{"port": 80}]}}), "release-kinds"),
    (lambda repo: add_to_base(repo, "cm.yaml", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odoo-config"}, "data": {"odoo.conf": "[options]"}}), "platform-owned"),
    (lambda repo: add_to_base(repo, "cm.yaml", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "kube-system"}}), "own-namespace"),
    (lambda repo: patch_base(repo, "web.yaml", lambda d: d[0]["spec"].update(replicas=2)), "replicas-to-autoscaler"),
    (lambda repo: patch_base(repo, "scaling.yaml", lambda d: d[1]["spec"]["triggers"][0]["metadata"].update(desiredReplicas="${WEB_MIN_REPLICAS}")), "keda-metadata-strings"),
    (lambda repo: patch_base(repo, "pod.yaml", lambda d: d[0]["spec"]["template"]["spec"]["containers"][0].update(image="docker.io/odoo:17")), "image-pinned-in-platform-registry"),
    (lambda repo: patch_base(repo, "web.yaml", lambda d: d[0]["spec"]["template"]["spec"]["containers"][0].update(imagePullPolicyy="Always")), "kubernetes-schema"),
    (lambda repo: patch_base(repo, "web.yaml", lambda d: d[0]["spec"]["template"]["spec"].update(hostNetwork=True)), "policy:k8s-no-host-namespaces"),
    (lambda repo: patch_base(repo, "pod.yaml", lambda d: d[0]["spec"]["template"]["spec"].update(serviceAccountName="refresh")), "odoo-service-account"),
    (lambda repo: patch_base(repo, "web.yaml", lambda d: d[0]["spec"]["template"]["spec"]["containers"][0]["resources"].update(requests={"cpu": "${WEB_CPUS}"})), "render"),
])
def test_the_checker_refuses(prod, plans, repository, change, rule):
    change(repository)
    assert rule in rules(release.check(config_of(prod), str(repository), plans["prod"]))


def test_production_takes_only_a_digest_released_to_uat_first(dev, prod, plans, repository):
    cfg = config_of(prod)
    # uat moves on to a newer image; production still runs the digest uat had before: in uat's history, accepted.
    set_digest(repository, "gc", "uat", OTHER_DIGEST)
    git(repository, "commit", "-qam", "uat: next image")
    assert list(release.promotion_findings(cfg, str(repository))) == []
    # A digest uat never had is refused, with the digest named.
    skipped = "sha256:" + "2" * 64
    set_digest(repository, "gc", "prod", skipped)
    [finding] = release.promotion_findings(cfg, str(repository))
    assert finding.rule == "promotion" and skipped in finding.message and "uat" in finding.message
    # Promoted through uat, it passes.
    set_digest(repository, "gc", "uat", skipped)
    git(repository, "commit", "-qam", "uat: the skipped image")
    assert list(release.promotion_findings(cfg, str(repository))) == []


def test_the_command_line_exits_non_zero_on_a_finding(prod, plans, repository, tmp_path):
    plan_path = tmp_path / "plan-prod.json"
    plan_path.write_text(__import__("json").dumps(plans["prod"]))
    run = lambda: subprocess.run(  # noqa: E731
        [os.path.join(ROOT, ".venv", "bin", "python"), "-m", "tools.release", "check", "--stack", "prod", "--repo", str(repository), "--plan", str(plan_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    clean = run()
    assert clean.returncode == 0 and "0 findings" in clean.stdout, clean.stdout + clean.stderr
    set_digest(repository, "gc", "prod", OTHER_DIGEST)
    refused = run()
    assert refused.returncode == 1 and "[promotion] gc-prod" in refused.stdout and "Traceback" not in refused.stderr


# --- config ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("releases, expected", [
    ({"repository": "https://user:token@github.com/a/b.git"}, 'releases.repository = "https://user:token@github.com/a/b.git": must be an ssh://git@'),
    ({"repository": "git@github.com:a/b.git"}, "releases.repository"),
    ({"repository": REPOSITORY, "syncIntervalSeconds": 5}, "releases.syncIntervalSeconds = 5"),
    ({"repository": REPOSITORY, "promotion": {"prod": "uat", "uat": "prod"}}, "not go round: prod -> uat -> prod"),
    (None, "releases: is required"),
])
def test_bad_release_config_is_one_line_naming_the_key(dev_settings, releases, expected):
    from stacks.config import ConfigError

    if releases is None:
        del dev_settings["releases"]
    else:
        dev_settings["releases"] = releases
    with pytest.raises(ConfigError) as e:
        load_config("dev", dev_settings)
    assert any(expected in p and "\n" not in p for p in e.value.problems), e.value.problems
