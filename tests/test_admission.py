"""Azure Policy for Kubernetes on every cluster: the assignments, their scope, their effect per tier, the exclusions,
and the allowed-images pattern against images the platform runs and images it must refuse."""
import re

import pytest

from components.admission import ALLOWED_IMAGES, POD_SECURITY_RESTRICTED, SYSTEM_NAMESPACES, allowed_images_regex
from components.tier import Tier, admission_effect
from tools.deploy_rules import K8S_POD_KINDS
from tools.mocks import arm_id

ASSIGNMENT = "azure-native:authorization:PolicyAssignment"
CLUSTER = "azure-native:containerservice:ManagedCluster"


def assignments(recording) -> dict[str, dict]:
    return {r.inputs["policyDefinitionId"]: r.inputs for r in recording.of_type(ASSIGNMENT)}


def values(assignment: dict) -> dict:
    return {k: v["value"] for k, v in assignment["parameters"].items()}


@pytest.mark.parametrize("stack_name, effect", [("dev", "Audit"), ("prod", "Deny")])
def test_each_cluster_gets_both_assignments_with_the_tier_effect(request, stack_name, effect):
    recording = request.getfixturevalue(stack_name)
    cluster = recording.one(CLUSTER)
    cluster_id = arm_id(CLUSTER, cluster.name, cluster.inputs)
    found = assignments(recording)
    assert set(found) == {POD_SECURITY_RESTRICTED, ALLOWED_IMAGES}
    for assignment in found.values():
        assert assignment["scope"] == cluster_id, "assigned on the cluster itself, not its group or subscription"
        assert values(assignment)["effect"] == effect
        assert assignment["enforcementMode"] == "Default"
        assert values(assignment)["excludedNamespaces"] == list(SYSTEM_NAMESPACES)
        assert len(assignment["policyAssignmentName"]) <= 64
    pod_security = values(found[POD_SECURITY_RESTRICTED])
    assert (pod_security["allowedCapabilities"], pod_security["requiredDropCapabilities"]) == (["NET_BIND_SERVICE"], ["ALL"]), "as strict as the pack"


def test_tier_helper_decides_the_effect():
    assert (admission_effect(Tier.PRODUCTION), admission_effect(Tier.NON_PRODUCTION)) == ("Deny", "Audit")


def test_system_namespaces_are_excluded_and_tenant_and_platform_job_namespaces_are_not(stack):
    excluded = values(assignments(stack)[POD_SECURITY_RESTRICTED])["excludedNamespaces"]
    # The initiative's own defaults, and the namespaces of what the platform installs.
    assert {"kube-system", "gatekeeper-system", "azure-arc", "azure-extensions-usage-system", "flux-system", "traefik", "cert-manager"} <= set(excluded)
    namespaces = {r.inputs["metadata"]["name"] for r in stack.of_type("kubernetes:core/v1:Namespace")}
    checked = namespaces - set(excluded)
    assert "odoo-bootstrap" in checked
    assert {n for n in namespaces if n.startswith("odoo-")} <= checked, "tenant namespaces must be checked at admission"


def test_allowed_images_are_the_platform_registry_only(stack):
    regex = values(assignments(stack)[ALLOWED_IMAGES])["allowedContainerImagesRegex"]
    login_server = stack.one("azure-native:containerregistry:Registry").inputs["registryName"] + ".azurecr.io"
    pods = [(r, K8S_POD_KINDS[r.type](r.inputs.get("spec") or {})) for r in stack.resources if r.type in K8S_POD_KINDS]
    platform_images = {
        c["image"]
        for r, pod in pods
        if r.inputs["metadata"].get("namespace") not in SYSTEM_NAMESPACES
        for c in [*pod.get("containers", []), *pod.get("initContainers", [])]
    }
    assert platform_images, "the stack runs pods in checked namespaces"
    for image in platform_images:
        assert re.search(regex, image), f"{image} would be refused at admission"
    refused = [
        "docker.io/library/nginx:latest",
        "nginx",
        f"{login_server}.evil.example/odoo:17",  # the server name as a prefix of another host
        f"evil.example/{login_server}/odoo:17",  # the server name inside a path
        f"{login_server.replace('.', 'x', 1)}/odoo:17",  # the dots must be literal
    ]
    for image in refused:
        assert not re.search(regex, image), f"{image} must be refused"


def test_external_registries_join_the_allow_list():
    regex = allowed_images_regex(["acrplatform.azurecr.io", "acrshared01.azurecr.io"])
    assert re.search(regex, "acrshared01.azurecr.io/odoo@sha256:" + "a" * 64)
    assert not re.search(regex, "acrshared02.azurecr.io/odoo:17")
    with pytest.raises(ValueError):
        allowed_images_regex([])


GROUPS = ("runAsGroup", "fsGroup")


def test_platform_pods_in_checked_namespaces_pass_the_users_and_groups_rule(stack):
    """The initiative's AllowedUsersGroups member: runAsNonRoot, and runAsGroup, supplementalGroups, fsGroup MustRunAs
    1-65535 (a pod without one is refused under Deny: 'attempting to run without a required securityContext/fsGroup').
    Every pod template the stack declares in a namespace the initiative checks (bootstrap, rotation, backup, refresh,
    tenant); the releases' pods are checked in tests/test_release.py."""
    excluded = set(values(assignments(stack)[POD_SECURITY_RESTRICTED])["excludedNamespaces"])
    checked = [(r, K8S_POD_KINDS[r.type](r.inputs.get("spec") or {})) for r in stack.resources
               if r.type in K8S_POD_KINDS and (r.inputs.get("metadata") or {}).get("namespace") not in excluded]
    names = {r.inputs["metadata"]["name"] for r, _ in checked}
    assert {"backup", "rotate-redis-access-key", "rotate-postgres-admin-password"} <= names
    assert all(any(n.startswith(prefix) for n in names) for prefix in ("bootstrap-", "refresh-", "rotate-db-")), sorted(names)
    for r, pod in checked:
        context = pod.get("securityContext") or {}
        assert context.get("runAsNonRoot") is True, r.name
        for key in GROUPS:
            assert 1 <= context.get(key, 0) <= 65535, f"{r.name}: {key} {context.get(key)!r}"
        groups = context.get("supplementalGroups") or []
        assert groups and all(1 <= g <= 65535 for g in groups), f"{r.name}: supplementalGroups {groups!r}"
