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


# --- the proxy built on access (tools.policy_runner.on_access_proxy) against the SDK's eager one -------------------

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi_policy.proxy.UNKNOWN_STRING_VALUE
PROPS = {
    "name": "vault",
    "properties": {"publicNetworkAccess": "Disabled", "rules": [{"ip": "10.0.0.0/8"}, {"ip": UNKNOWN}], "id": UNKNOWN},
    "tags": {},
    "zones": ["1", "2", ["nested", {"deep": UNKNOWN}]],
    "count": 3,
    "ports": [80, UNKNOWN],
}


def _outcome(read, props):
    """What a policy reading `props` this way sees: the value (proxies as plain data) or the error and its path."""
    from pulumi_policy.proxy import UnknownValueError

    def plain(value):
        if isinstance(value, str):
            return value
        if hasattr(value, "keys"):
            return {k: plain(value[k]) if not _is_unknown_at(value, k) else ("unknown", k) for k in value}
        if hasattr(value, "__len__") and hasattr(value, "__getitem__"):
            return [plain(value[i]) if not _is_unknown_at(value, i) else ("unknown", i) for i in range(len(value))]
        return value

    try:
        return ("value", plain(read(props)))
    except UnknownValueError as e:
        return ("unknown", e.message, e.props)
    except Exception as e:
        return (type(e).__name__,)


def _is_unknown_at(container, key):
    from pulumi_policy.proxy import UnknownValueError

    try:
        container[key]
        return False
    except UnknownValueError:
        return True


READS = {
    "a leaf": lambda p: p["name"],
    "a nested dict": lambda p: p["properties"],
    "a known list item": lambda p: p["properties"]["rules"][0]["ip"],
    "an unknown list item's field": lambda p: p["properties"]["rules"][1]["ip"],
    "an unknown value": lambda p: p["properties"]["id"],
    "get of an unknown value": lambda p: p["properties"].get("id"),
    "get of a missing key": lambda p: p["properties"].get("missing", "default"),
    "a missing key": lambda p: p["missing"],
    "in on an unknown value": lambda p: "id" in p["properties"],
    "a negative index": lambda p: p["zones"][-1][1]["deep"],
    "an index out of range": lambda p: p["zones"][7],
    "a slice": lambda p: p["zones"][1:],
    "a slice over an unknown": lambda p: p["ports"][0:],
    "items": lambda p: [k for k, _ in p["properties"]["rules"][0].items()],
    "iteration and len": lambda p: (list(p), len(p), len(p["zones"])),
    "values through an unknown": lambda p: list(p["properties"].values()),
    "__target of a dict": lambda p: p["properties"]["__target"],
    "__target of a list": lambda p: p["zones"]["__target"],
}


@pytest.mark.parametrize("read", READS, ids=list(READS))
def test_the_on_access_proxy_reads_as_the_sdk_proxy(read):
    from pulumi_policy.proxy import unknown_checking_proxy

    from tools.policy_runner import on_access_proxy

    on_access = on_access_proxy()
    assert on_access is not None
    eager = _outcome(READS[read], unknown_checking_proxy(PROPS))
    assert _outcome(READS[read], on_access(PROPS)) == eager
    if read.startswith(("an unknown", "a negative")):
        assert eager[0] == "unknown"  # the case checks the error and its path, not a value


def test_the_on_access_proxy_keeps_each_policys_writes_its_own():
    """The SDK hands every policy its own proxy: what one writes into it, the next one does not see."""
    from pulumi_policy.deserialize import serialize_properties
    from pulumi_policy.proxy import unknown_checking_proxy

    from tools.policy_runner import on_access_proxy

    on_access = on_access_proxy()
    source = {"properties": {"rules": [{"ip": "a"}]}, "tags": {"x": "1"}}
    first = on_access(source)
    rules = first["properties"]["rules"]
    first["tags"] = {"changed": "yes"}
    first["properties"]["added"] = 1
    assert first["tags"] == {"changed": "yes"} and first["properties"]["added"] == 1
    second = on_access(source)
    assert second["tags"]["x"] == "1" and "added" not in second["properties"] and second["properties"]["rules"] is not rules
    assert source == {"properties": {"rules": [{"ip": "a"}]}, "tags": {"x": "1"}}
    # what the SDK serializes back (a remediation's result) is the same from either proxy
    assert serialize_properties(on_access(source)) == serialize_properties(unknown_checking_proxy(source))
    assert serialize_properties(first) == serialize_properties(
        {"properties": {"rules": [{"ip": "a"}], "added": 1}, "tags": {"changed": "yes"}})
