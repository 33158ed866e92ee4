"""The offline preview's policy runner against a small pack made here, over the Analyzer gRPC protocol."""
import textwrap

import pytest

from tools.plan import build_plan
from tools.policy_runner import PolicyPack, PolicyPackError

PACK = '''
from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, PolicyPack, ResourceValidationPolicy,
                           StackValidationPolicy)


def vault_not_public(args, report):
    if args.resource_type != "azure-native:keyvault:Vault":
        return
    if args.props["properties"].get("publicNetworkAccess") != "Disabled":
        report("public network access is " + str(args.props["properties"].get("publicNetworkAccess")))


def few_groups(args, report):
    groups = [r for r in args.resources if r.resource_type == "azure-native:resources:ResourceGroup"]
    if len(groups) > args.get_config()["maxGroups"]:
        report(f"{len(groups)} resource groups", groups[0].urn)


PolicyPack("test-pack", [
    ResourceValidationPolicy(name="vault-not-public", description="Key Vault public access is off.",
                             validate=vault_not_public, enforcement_level=EnforcementLevel.MANDATORY),
    StackValidationPolicy(name="few-groups", description="At most maxGroups resource groups.",
                          validate=few_groups, enforcement_level=EnforcementLevel.ADVISORY,
                          config_schema=PolicyConfigSchema(properties={"maxGroups": {"type": "integer", "default": 3}})),
])
'''


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    path = tmp_path_factory.mktemp("pack")
    (path / "__main__.py").write_text(textwrap.dedent(PACK))
    with PolicyPack(str(path)) as running:
        yield running


def analyze(pack, recording, config=None):
    return pack.analyze(build_plan(recording)["resources"], recording.project, recording.stack, config)


def test_analyzer_info_lists_the_policies(pack):
    info = pack.info()
    assert info.name == "test-pack"
    assert [p.name for p in info.policies] == ["vault-not-public", "few-groups"]


def test_resource_and_stack_violations_with_levels_and_urns(pack, dev):
    result = analyze(pack, dev)
    by_policy = {v.policy: v for v in result.violations}
    assert set(by_policy) == {"vault-not-public", "few-groups"}
    vault = dev.one("azure-native:keyvault:Vault")
    assert by_policy["vault-not-public"].level == "mandatory"
    assert by_policy["vault-not-public"].urn == vault.urn
    assert by_policy["vault-not-public"].message.endswith("public network access is Enabled")
    assert by_policy["few-groups"].level == "advisory" and by_policy["few-groups"].message.endswith("4 resource groups")
    assert [v.policy for v in result.mandatory] == ["vault-not-public"]


def test_compliant_stack_has_no_resource_violation(pack, prod):
    assert [v.policy for v in analyze(pack, prod).violations] == ["few-groups"]


def test_pack_config_overrides_levels_and_schema_defaults(pack, dev):
    result = analyze(pack, dev, {"vault-not-public": "advisory", "few-groups": {"maxGroups": 10}})
    assert [(v.policy, v.level) for v in result.violations] == [("vault-not-public", "advisory")]
    assert analyze(pack, dev, {"all": "disabled"}).violations == []
    result = analyze(pack, dev, {"all": "mandatory"})
    assert {v.level for v in result.violations} == {"mandatory"}


def test_unknown_policy_in_config_is_an_error(pack, dev):
    with pytest.raises(PolicyPackError, match="unknown policies: no-such-policy"):
        analyze(pack, dev, {"no-such-policy": "advisory"})


def test_a_pack_that_cannot_start_is_reported(tmp_path):
    (tmp_path / "__main__.py").write_text("raise SystemExit('broken pack')\n")
    with pytest.raises(PolicyPackError, match="broken pack"):
        PolicyPack(str(tmp_path))
