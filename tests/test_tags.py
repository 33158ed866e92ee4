"""Governance tags reach every Azure resource that takes tags, and cannot be overridden."""
import pytest
import pulumi
from pulumi_azure_native import resources, storage

from components.tagging import merge_tags, tag_everything
from tools.recording import run_program

REQUIRED = ("owner", "cost-center", "data-classification", "environment", "stack", "managed-by")


def taggable(recording):
    return [r for r in recording.resources if r.type.startswith("azure-native:") and "tags" in r.inputs]


def test_every_taggable_azure_resource_carries_the_governance_tags(stack):
    tagged = taggable(stack)
    assert len(tagged) >= 20
    for r in tagged:
        missing = [t for t in REQUIRED if t not in r.inputs["tags"]]
        assert not missing, f"{r.name} ({r.type}) lacks {missing}"
        assert r.inputs["tags"]["stack"] == stack.stack


def test_tier_tag(dev, prod):
    assert {r.inputs["tags"]["environment"] for r in taggable(dev)} == {"non-production"}
    assert {r.inputs["tags"]["environment"] for r in taggable(prod)} == {"production"}


def test_configured_extra_tags_pass_through(prod):
    assert {r.inputs["tags"].get("business-unit") for r in taggable(prod)} == {"gc"}


def test_types_without_tags_get_none():
    """The transformation must not invent a `tags` input on a type that has none (Azure would reject it)."""

    def program():
        tag_everything({"owner": "me"})
        resources.ResourceGroup("rg", resource_group_name="rg-x", location="westeurope")
        storage.BlobContainer("c", account_name="st", resource_group_name="rg-x", container_name="c")

    rec = run_program(program, "dev", {})
    assert rec.one("azure-native:resources:ResourceGroup").inputs["tags"] == {"owner": "me"}
    assert "tags" not in rec.one("azure-native:storage:BlobContainer").inputs


@pytest.mark.parametrize("own,expected", [(None, {"owner": "gov"}), ({"owner": "me", "unit": "gc"}, {"owner": "gov", "unit": "gc"})])
def test_governance_tags_win_over_a_resources_own(own, expected):
    assert merge_tags({"owner": "gov"}, own) == expected


def test_sdk_type_aliases_are_dropped_and_own_aliases_kept():
    from components.aliases import drop_sdk_type_aliases

    def program(drop: bool):
        def run():
            if drop:
                drop_sdk_type_aliases()
            resources.ResourceGroup("rg", resource_group_name="rg-x", location="westeurope")
            resources.ResourceGroup("rg2", resource_group_name="rg-y", location="westeurope", opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="old")]))

        return run

    with_sdk = run_program(program(False), "dev", {})
    assert with_sdk.one("azure-native:resources:ResourceGroup", "rg").aliases >= 3
    dropped = run_program(program(True), "dev", {})
    assert dropped.one("azure-native:resources:ResourceGroup", "rg").aliases == 0
    assert dropped.one("azure-native:resources:ResourceGroup", "rg2").aliases == 1


def test_real_stacks_register_without_sdk_aliases(stack):
    assert all(r.aliases == 0 for r in stack.resources if r.type.startswith("azure-native:"))
