"""Every configuration rule, broken once: one message naming the key, the value and the rule."""
import pytest

from components.tier import Tier
from stacks.config import ConfigError, load_config


def problems(stack: str, raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_config(stack, raw)
    return e.value.problems


def test_shipped_stacks_are_valid(dev_settings, prod_settings):
    dev = load_config("dev", dev_settings)
    prod = load_config("prod", prod_settings)
    assert dev.tier is Tier.NON_PRODUCTION and dev.tenancy == "multi-tenant"
    assert prod.tier is Tier.PRODUCTION and prod.tenancy == "dedicated"
    assert len(dev.units) == 3


@pytest.mark.parametrize("stack,tier", [("prod", Tier.PRODUCTION), ("prod-civil", Tier.PRODUCTION), ("dev", Tier.NON_PRODUCTION), ("production", Tier.NON_PRODUCTION), ("qa-prod", Tier.NON_PRODUCTION)])
def test_tier_comes_from_the_stack_name(stack, tier):
    from components.tier import tier_for_stack

    assert tier_for_stack(stack) is tier


def test_overlapping_subnets(dev_settings):
    dev_settings["network"]["subnets"]["postgres"] = "10.20.0.16/28"
    assert problems("dev", dev_settings) == [
        'odoo-platform:network.subnets.postgres = "10.20.0.16/28": overlaps subnets.aksSystem (10.20.0.0/24); subnets must not overlap'
    ]


def test_too_small_subnet(dev_settings):
    dev_settings["network"]["subnets"]["aksUser"] = "10.20.4.0/26"
    assert problems("dev", dev_settings) == [
        'odoo-platform:network.subnets.aksUser = "10.20.4.0/26": is too small; aksUser needs at least a /24'
    ]


def test_subnet_outside_address_space(dev_settings):
    dev_settings["network"]["subnets"]["privateEndpoints"] = "10.99.1.0/26"
    [p] = problems("dev", dev_settings)
    assert p.startswith('odoo-platform:network.subnets.privateEndpoints = "10.99.1.0/26": lies outside addressSpace 10.20.0.0/16')


def test_malformed_cidr(dev_settings):
    dev_settings["network"]["addressSpace"] = "10.20.0.1/16"
    [p] = problems("dev", dev_settings)
    assert p.startswith('odoo-platform:network.addressSpace = "10.20.0.1/16": must be an IPv4 CIDR block')


def test_unknown_region(dev_settings):
    dev_settings["location"] = "westeurop"
    [p] = problems("dev", dev_settings)
    assert p.startswith('odoo-platform:location = "westeurop": unknown Azure region; use one of')


def test_duplicate_tenant(dev_settings):
    dev_settings["units"].append({"name": "civil", "displayName": "Again", "environments": ["qa"]})
    assert problems("dev", dev_settings) == ['odoo-platform:units[3].name = "civil": duplicate business unit; each unit appears once']


def test_duplicate_environment(dev_settings):
    dev_settings["units"][1]["environments"] = ["dev", "uat", "dev"]
    assert problems("dev", dev_settings) == ['odoo-platform:units[1].environments[2] = "dev": duplicate environment for unit civil']


def test_unit_name_that_azure_would_reject(dev_settings):
    dev_settings["units"][0]["name"] = "General_Contracting"
    assert problems("dev", dev_settings) == [
        'odoo-platform:units[0].name = "General_Contracting": must be 2-8 lowercase letters or digits, starting with a letter'
    ]


def test_derived_name_too_long_for_key_vault(prod_settings):
    # kv-<org>-<stack>-<region> must fit Key Vault's 24 characters.
    prod_settings["org"] = "acmeco"
    prod_settings["units"][0]["name"] = "infrast"
    [p] = problems("prod-infrast", prod_settings)
    assert p == (
        'odoo-platform:org = "acmeco": with stack \'prod-infrast\': key vault name '
        "'kv-acmeco-prod-infrast-weu' is 26 characters; Azure allows 3-24"
    )


def test_missing_required_tag(dev_settings):
    del dev_settings["tags"]["cost-center"]
    assert problems("dev", dev_settings) == ["odoo-platform:tags.cost-center: is required but not set"]


def test_bad_data_classification(dev_settings):
    dev_settings["tags"]["data-classification"] = "secret"
    [p] = problems("dev", dev_settings)
    assert p.startswith('odoo-platform:tags.data-classification = "secret": Input should be')


def test_bad_extra_tag_name(dev_settings):
    dev_settings["tags"]["site/berlin"] = "yes"
    [p] = problems("dev", dev_settings)
    assert p.startswith('odoo-platform:tags.site/berlin = "yes": tag names must be')


def test_unknown_setting_is_a_typo(dev_settings):
    dev_settings["locaton"] = "westeurope"
    assert problems("dev", dev_settings) == ["odoo-platform:locaton: unknown setting (check the spelling against Pulumi.yaml)"]


def test_production_must_be_dedicated(prod_settings):
    prod_settings["tenancy"] = "multi-tenant"
    assert problems("prod", prod_settings) == [
        "odoo-platform:tenancy = \"multi-tenant\": production stacks are dedicated to one business unit; use 'dedicated'"
    ]


def test_dedicated_serves_one_unit(prod_settings):
    prod_settings["units"].append({"name": "civil", "displayName": "Civil", "environments": ["prod"]})
    assert problems("prod", prod_settings) == ['odoo-platform:units = ["gc", "civil"]: a dedicated stack serves exactly one business unit']


def test_prod_unit_stack_must_match_its_unit(prod_settings):
    assert problems("prod-civil", prod_settings) == ["odoo-platform:units[0].name = \"gc\": stack 'prod-civil' is dedicated to unit 'civil'"]


def test_production_needs_a_dr_region(prod_settings):
    prod_settings["drLocation"] = ""
    assert problems("prod", prod_settings) == ["odoo-platform:drLocation = null: production stacks need a disaster-recovery region"]


def test_dr_region_differs_from_primary(dev_settings):
    dev_settings["drLocation"] = "westeurope"
    assert problems("dev", dev_settings) == ['odoo-platform:drLocation = "westeurope": must differ from location']


def test_environment_not_allowed_in_tier(dev_settings):
    dev_settings["units"][2]["environments"] = ["dev", "prod"]
    assert problems("dev", dev_settings) == [
        'odoo-platform:units[2].environments[1] = "prod": a non-production stack runs only dev, qa, uat, training (other names must be ephemeral: true)'
    ]


def test_several_problems_one_line_each(dev_settings):
    dev_settings["location"] = "mars"
    dev_settings["sizing"] = "huge"
    found = problems("dev", dev_settings)
    assert len(found) == 2
    assert found[0].startswith('odoo-platform:location = "mars"') and found[1].startswith('odoo-platform:sizing = "huge"')


def test_ephemeral_branch_environment(dev_settings):
    dev_settings["units"][0]["environments"].append({"name": "pr1234", "ephemeral": True})
    cfg = load_config("dev", dev_settings)
    [branch] = [t for t in cfg.tenants if t.environment == "pr1234"]
    assert branch.ephemeral and branch.key == "gc-pr1234"
    assert not any(t.ephemeral for t in cfg.tenants if t.environment != "pr1234")


def test_branch_environment_must_be_ephemeral(dev_settings):
    dev_settings["units"][0]["environments"].append({"name": "pr1234"})
    assert problems("dev", dev_settings) == [
        'odoo-platform:units[0].environments[4] = "pr1234": a non-production stack runs only dev, qa, uat, training (other names must be ephemeral: true)'
    ]


def test_production_is_never_ephemeral(prod_settings):
    prod_settings["units"][0]["environments"] = [{"name": "prod", "ephemeral": True}]
    assert problems("prod", prod_settings) == ["odoo-platform:units[0].environments[0].ephemeral = true: production environments are never ephemeral"]


def test_off_hours_rules(dev_settings, prod_settings):
    prod_settings["offHours"] = {"enabled": True}
    assert problems("prod", prod_settings) == [
        "odoo-platform:offHours.enabled = true: production never scales to zero; off-hours scaling is for non-production"
    ]
    dev_settings["offHours"] = {"enabled": True, "timezone": "Europe/Atlantis", "start": "21:00", "end": "07:00"}
    assert problems("dev", dev_settings) == ['odoo-platform:offHours.timezone = "Europe/Atlantis": must be an IANA time zone such as Europe/Berlin']
    dev_settings["offHours"]["timezone"] = "Europe/Berlin"
    assert problems("dev", dev_settings) == ['odoo-platform:offHours.end = "07:00": working hours must end after they start (21:00)']


# --- Every problem at once, each on one short line, never a traceback ---------------------------

import contextvars  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import pulumi  # noqa: E402

from stacks import config as config_module  # noqa: E402
from stacks.config import PROJECT, json_settings, raw_from_stack_file  # noqa: E402
from tools import preview, stack_file  # noqa: E402
from tools.preview import ROOT, stack_settings  # noqa: E402
from tools.recording import config_values  # noqa: E402

GUID = "3f2b7c1e-8a4d-4f6e-9b1a-2c3d4e5f6a7b"
ACR_ID = f"/subscriptions/{GUID}/resourceGroups/rg-shared/providers/Microsoft.ContainerRegistry/registries/AcmeShared"
DIGEST = "a" * 64


def dev_file_text() -> str:
    with open(os.path.join(ROOT, "Pulumi.dev.yaml"), encoding="utf-8") as f:
        return f.read()


def write(tmp_path, text, name="Pulumi.test.yaml", encoding="utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return str(path)


def preview_errors(capsys, path: str, stack: str = "dev") -> list[str]:
    """Run the preview CLI on a stack file that must be refused: exit 2, no traceback; its stderr lines."""
    assert preview.main([stack, "--config", path, "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return err.splitlines()


def test_unquoted_dates_stay_text_and_the_settings_serialise(tmp_path):
    text = dev_file_text().replace('    utcOffset: "+01:00"\n', '    utcOffset: "+01:00"\n    notAllowedDates:\n      - {start: 2026-12-21, end: 2027-01-08}\n')
    raw = stack_settings("dev", write(tmp_path, text))
    assert raw["maintenance"]["notAllowedDates"] == [{"start": "2026-12-21", "end": "2027-01-08"}]
    cfg = load_config("dev", raw)
    assert str(cfg.maintenance.not_allowed_dates[0].end) == "2027-01-08"
    # What the preview hands to the program and writes into the plan file is plain JSON.
    assert json.loads(config_values(PROJECT, raw)[f"{PROJECT}:maintenance"])["notAllowedDates"][0]["start"] == "2026-12-21"
    json.dumps(raw)


def test_config_as_a_list_is_refused(tmp_path, capsys):
    path = write(tmp_path, "config:\n  - odoo-platform:org: acme\n")
    assert preview_errors(capsys, path) == [f"error: {path}: config: must be a mapping of odoo-platform:<setting>: <value>, not a list"]


def test_non_string_keys_are_refused(tmp_path, capsys):
    text = dev_file_text().replace("config:\n", "config:\n  1: x\n  true: y\n", 1)
    path = write(tmp_path, text)
    assert preview_errors(capsys, path) == [
        f'error: {path}:3:3: key 1 is not a name; write keys as text (quote it: "1")',
        f'error: {path}:4:3: key true is not a name; write keys as text (quote it: "true")',
    ]
    # A document from elsewhere (not read by the stack file loader) is refused the same way, not with a traceback.
    with pytest.raises(ConfigError) as e:
        raw_from_stack_file({"config": {1: "x", False: "y", "odoo-platform:org": "acme"}}, "stack.yaml")
    assert e.value.problems == [
        "stack.yaml: config: key 1 is not a setting name; write odoo-platform:<setting>",
        "stack.yaml: config: key false is not a setting name; write odoo-platform:<setting>",
    ]


def _raw_settings_with(values: dict[str, str]) -> dict:
    from stacks.program import _raw_settings

    def run():
        pulumi.runtime.config.set_all_config({f"{PROJECT}:{k}": v for k, v in values.items()})
        return _raw_settings()

    return contextvars.copy_context().run(run)


def test_only_object_and_list_settings_are_json_decoded():
    raw = _raw_settings_with({"entraAdminGroupName": "[DEV] Odoo admins", "org": "{acme}", "adminCidrs": '["203.0.113.0/28"]', "network": '{"addressSpace": "10.0.0.0/16"}'})
    assert raw == {"entraAdminGroupName": "[DEV] Odoo admins", "org": "{acme}", "adminCidrs": ["203.0.113.0/28"], "network": {"addressSpace": "10.0.0.0/16"}}
    with pytest.raises(ConfigError) as e:
        _raw_settings_with({"network": "{addressSpace: 10.0.0.0/16", "units": "gc"})
    assert e.value.problems == [
        'odoo-platform:network = "{addressSpace: 10.0.0.0/16": must be an object or a list, written as YAML in the stack file '
        "(as JSON it does not parse: Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
        'odoo-platform:units = "gc": must be an object or a list, written as YAML in the stack file '
        "(as JSON it does not parse: Expecting value: line 1 column 1 (char 0))",
    ]


def test_json_settings_are_the_untyped_and_array_declarations():
    declared = stack_file.load(os.path.join(ROOT, "Pulumi.yaml"))["config"]
    assert json_settings() == {k for k, v in declared.items() if v.get("type", "array") == "array"}
    assert set(declared) == set(config_module.setting_names())


def test_duplicate_keys_at_any_depth(tmp_path, capsys):
    text = dev_file_text().replace("  odoo-platform:sizing: small\n", "  odoo-platform:sizing: small\n  odoo-platform:org: acme\n")
    text = text.replace("    cost-center: IT-4100\n", "    cost-center: IT-4100\n    owner: someone-else@example.com\n")
    path = write(tmp_path, text)
    lines = preview_errors(capsys, path)
    org_first = text.index("odoo-platform:org:")
    org_line = text[: text.index("odoo-platform:org:", org_first + 1)].count("\n") + 1
    owner_line = text[: text.index("    owner: someone-else")].count("\n") + 1
    assert lines == [
        f"error: {path}:{org_line}:3: key 'odoo-platform:org' is given twice (first on line {text[:org_first].count(chr(10)) + 1}); YAML would keep only the last, so give it once",
        f"error: {path}:{owner_line}:5: key 'owner' is given twice (first on line {owner_line - 2}); YAML would keep only the last, so give it once",
    ]


def test_several_field_and_cross_field_problems_in_one_run(dev_settings):
    dev_settings["location"] = "mars"  # field
    dev_settings["network"]["subnets"]["aksUser"] = "10.20.4.0/26"  # two subnet rules at once
    dev_settings["network"]["subnets"]["postgres"] = "10.20.0.16/28"
    dev_settings["tags"]["site/berlin"] = "a"  # two tag rules at once
    dev_settings["tags"]["Owner"] = "b"
    dev_settings["units"][0]["environments"] = ["dev", "qa"]  # room on the jobs pool for the two below
    dev_settings["units"].append({"name": "gc", "displayName": "Again", "environments": ["dev", "dev"]})  # cross-field
    dev_settings["offHours"]["start"] = "21:00"  # cross-field
    assert problems("dev", dev_settings) == [
        'odoo-platform:location = "mars": unknown Azure region; use one of westeurope, northeurope, swedencentral, germanywestcentral, francecentral',
        'odoo-platform:network.subnets.aksUser = "10.20.4.0/26": is too small; aksUser needs at least a /24',
        'odoo-platform:network.subnets.postgres = "10.20.0.16/28": overlaps subnets.aksSystem (10.20.0.0/24); subnets must not overlap',
        'odoo-platform:tags.site/berlin = "a": tag names must be 1-128 characters without < > % & \\ ? /',
        "odoo-platform:tags.Owner = \"b\": differs only by case from the tag 'owner'; Azure tag names are case-insensitive: keep one",
        'odoo-platform:units[3].name = "gc": duplicate business unit; each unit appears once',
        'odoo-platform:units[3].environments[1] = "dev": duplicate environment for unit gc',
        'odoo-platform:offHours.end = "20:00": working hours must end after they start (21:00)',
    ]


def test_several_cross_field_problems_in_one_run(prod_settings):
    prod_settings["tenancy"] = "multi-tenant"
    prod_settings["sizing"] = "small"
    prod_settings["drLocation"] = "westeurope"
    prod_settings["offHours"] = {"enabled": True}
    assert problems("prod", prod_settings) == [
        "odoo-platform:tenancy = \"multi-tenant\": production stacks are dedicated to one business unit; use 'dedicated'",
        'odoo-platform:sizing = "small": production needs medium or large (General Purpose PostgreSQL, no burstable compute, several web pods)',
        'odoo-platform:drLocation = "westeurope": must differ from location',
        "odoo-platform:offHours.enabled = true: production never scales to zero; off-hours scaling is for non-production",
    ]


def test_yaml_1_1_scalars_stay_as_written(tmp_path):
    text = dev_file_text().replace('startTime: "20:00"', "startTime: 20:00").replace("durationHours: 6", "durationHours: 1_000")
    text = text.replace("  odoo-platform:ingressInternal: false\n", "")
    text += "  odoo-platform:ingressInternal: true\n  odoo-platform:postgresVersion: 010\n"
    raw = stack_settings("dev", write(tmp_path, text))
    assert raw["maintenance"]["startTime"] == "20:00" and raw["maintenance"]["durationHours"] == "1_000"
    assert raw["ingressInternal"] is True and raw["postgresVersion"] == "010"
    assert problems("dev", raw) == [
        'odoo-platform:postgresVersion = "010": Input should be \'16\', \'17\' or \'18\'',
        'odoo-platform:maintenance.durationHours = "1_000": Input should be less than or equal to 24',
    ]
    doc = stack_file.parse("a: yes\nb: off\nc: True\nd: 0o17\ne: 0x1F\nf: 17.0\ng: ~\nh: -3\ni: 2026-12-21\n", "t.yaml")
    assert doc == {"a": "yes", "b": "off", "c": True, "d": "0o17", "e": "0x1F", "f": "17.0", "g": None, "h": -3, "i": "2026-12-21"}


def test_unquoted_time_is_valid(tmp_path):
    text = dev_file_text().replace('startTime: "20:00"', "startTime: 20:00")
    assert load_config("dev", stack_settings("dev", write(tmp_path, text))).maintenance.start_time == "20:00"


def test_null_means_not_set(tmp_path, prod_settings):
    text = dev_file_text().replace("odoo-platform:drLocation: northeurope", "odoo-platform:drLocation: null")
    raw = stack_settings("dev", write(tmp_path, text))
    assert load_config("dev", raw).dr_location is None
    assert load_config("dev", {**raw, "drLocation": None, "offHours": {"enabled": None}}).off_hours.enabled is False
    prod_settings["drLocation"] = None
    assert problems("prod", prod_settings) == ["odoo-platform:drLocation = null: production stacks need a disaster-recovery region"]


def test_yaml_syntax_error_names_file_line_and_column(tmp_path, capsys):
    path = write(tmp_path, "config:\n  odoo-platform:org: acme\n  odoo-platform:units: [gc\n")
    [line] = preview_errors(capsys, path)
    assert line.startswith(f"error: {path}:4:1: invalid YAML: while parsing a flow sequence expected ',' or ']'")


def test_non_utf8_file_names_file_line_and_column(tmp_path, capsys):
    path = write(tmp_path, "config:\n  odoo-platform:org: acm\xe9\n", encoding="latin-1")
    assert preview_errors(capsys, path) == [f"error: {path}:2:25: is not UTF-8 text (byte 0xe9); save the file as UTF-8"]


def test_missing_stack_file_is_exit_2(tmp_path, capsys):
    assert preview_errors(capsys, str(tmp_path / "nope.yaml"))[0].startswith("error: no configuration for stack 'dev'")


def test_every_line_stays_short(dev_settings, prod_settings):
    dev_settings["units"][0]["environments"] = [{"name": f"pr{i}", "ephemeral": True} for i in range(500)]
    [line] = problems("dev", dev_settings)
    assert line.startswith("odoo-platform:sizing = \"small\": workload class 'web' needs 1006 pods for 503 tenant environments (gc-pr0 2, gc-pr1 2,")
    assert "... (49" in line and len(line) < 400
    prod_settings["units"] += [{"name": f"u{i}", "displayName": "U", "environments": ["prod"]} for i in range(200)]
    [line] = problems("prod", prod_settings)
    assert line.startswith('odoo-platform:units = ["gc", "u0", "u1",') and "... (1" in line and line.endswith("more)]: a dedicated stack serves exactly one business unit")
    assert len(line) < 250
    dev_settings["units"][0]["displayName"] = "x" * 5000
    assert all(len(p) < 300 for p in problems("dev", dev_settings))


def test_end_to_end_several_problems(tmp_path, capsys):
    text = dev_file_text().replace("odoo-platform:location: westeurope", "odoo-platform:location: eastus")
    text = text.replace("    - 203.0.113.0/28\n", "    - 0.0.0.0/0\n")
    text = text.replace("odoo-platform:sizing: small", "odoo-platform:sizing: huge")
    path = write(tmp_path, text)
    assert preview_errors(capsys, path) == [
        'error: odoo-platform:location = "eastus": is not an allowed region (westeurope, northeurope, swedencentral, germanywestcentral, francecentral); '
        "the policy pack (allowed-regions) refuses every resource elsewhere",
        "error: odoo-platform:sizing = \"huge\": Input should be 'small', 'medium', 'large' or 'xlarge'",
        'error: odoo-platform:adminCidrs[0] = "0.0.0.0/0": is too wide; admin CIDRs must be /16 or narrower (the policy pack\'s aks-api-server-restricted refuses wider ones)',
    ]


# --- Accepted here, rejected by Azure ----------------------------------------------------------------


def test_too_many_tags_with_the_platform_tags(dev_settings):
    dev_settings["tags"].update({f"t{i}": "v" for i in range(44)})
    load_config("dev", dev_settings)  # 3 + 44 + the platform's 3 = 50
    dev_settings["tags"]["t44"] = "v"
    [line] = problems("dev", dev_settings)
    assert line.startswith('odoo-platform:tags = ["owner", "cost-center", "data-classification", "t0",')
    assert line.endswith("more)]: 48 tags and the platform's 3 (environment, stack, managed-by) make 51; Azure allows 50 per resource")


def test_tag_name_and_value_lengths(dev_settings):
    dev_settings["tags"]["n" * 128] = "ok"
    load_config("dev", dev_settings)
    dev_settings["tags"]["n" * 129] = "v"
    dev_settings["tags"]["site"] = "v" * 257
    found = problems("dev", dev_settings)
    assert len(found) == 2
    assert found[0].endswith(': tag names must be 1-128 characters without < > % & \\ ? /')
    assert found[1].startswith('odoo-platform:tags.site = "vvv') and found[1].endswith('..." (257 characters): tag values must be strings of at most 256 characters')


def test_tags_differing_only_by_case(dev_settings):
    dev_settings["tags"].update({"Environment": "x", "stack": "y", "Site": "a", "site": "b"})
    assert problems("dev", dev_settings) == [
        "odoo-platform:tags.Environment = \"x\": differs only by case from the tag 'environment' set by the platform (environment, stack, managed-by); "
        "Azure tag names are case-insensitive: remove it",
        'odoo-platform:tags.stack = "y": is set by the platform (environment, stack, managed-by); Azure tag names are case-insensitive: remove it',
        "odoo-platform:tags.site = \"b\": differs only by case from the tag 'Site'; Azure tag names are case-insensitive: keep one",
    ]


@pytest.mark.parametrize("name", ["password", "db-Password", "client_secret", "SAS_TOKEN", "key", "api-key", "apiKey", "storage.key", "pwd", "ConnectionString", "sql-connection-string"])
def test_tag_names_that_suggest_a_secret(dev_settings, name):
    dev_settings["tags"][name] = "x"
    assert problems("dev", dev_settings) == [
        f'odoo-platform:tags.{name} = "x": tag names must not suggest a secret (password, secret, token, key, pwd, connection string): '
        "anyone with Reader on a resource reads its tags"
    ]


@pytest.mark.parametrize("name", ["keyboard-layout", "monkey", "turkey-project", "site"])
def test_tag_names_that_merely_contain_key(dev_settings, name):
    dev_settings["tags"][name] = "x"
    load_config("dev", dev_settings)


def test_entra_admin_group_name_fits_a_postgres_role(dev_settings):
    dev_settings["entraAdminGroupName"] = "é" * 31 + "a"  # 63 bytes
    load_config("dev", dev_settings)
    dev_settings["entraAdminGroupName"] = "é" * 32  # 64 bytes, 32 characters
    assert problems("dev", dev_settings) == [
        f'odoo-platform:entraAdminGroupName = "{"é" * 32}": is 64 bytes; PostgreSQL role names are at most 63 bytes and the Entra admin group becomes one'
    ]


@pytest.mark.parametrize("version,ok", [("1.31", False), ("1.32", True), ("1.35.2", True), ("1.36", False), ("1.99", False), (1.34, True)])
def test_kubernetes_version_bounds(dev_settings, version, ok):
    dev_settings["kubernetesVersion"] = version
    if ok:
        load_config("dev", dev_settings)
    else:
        assert problems("dev", dev_settings) == [
            f'odoo-platform:kubernetesVersion = "{version}": must be a supported AKS version 1.32 to 1.35, as 1.<minor> or 1.<minor>.<patch>'
        ]


# --- Config and policy pack agree ----------------------------------------------------------------


def test_constants_equal_the_policy_packs():
    from policies.rules import aks, governance

    [rule] = [r for r in aks.RULES if r.name == "aks-api-server-restricted"]
    assert config_module.ADMIN_CIDR_MIN_PREFIX == rule.config["minPrefixLength"]["default"]
    assert list(config_module.ALLOWED_REGIONS) == [r for r in governance.DEFAULT_REGIONS if r != "global"]
    assert set(config_module.ALLOWED_REGIONS) <= set(config_module.REGION_CODES)


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "10.0.0.0/8", "172.16.0.0/12", "10.0.0.0/15"])
def test_admin_cidrs_as_narrow_as_the_pack_wants(dev_settings, cidr):
    dev_settings["adminCidrs"] = ["203.0.113.0/28", cidr]
    assert problems("dev", dev_settings) == [
        f"odoo-platform:adminCidrs[1] = \"{cidr}\": is too wide; admin CIDRs must be /16 or narrower (the policy pack's aks-api-server-restricted refuses wider ones)"
    ]
    dev_settings["adminCidrs"] = ["10.1.0.0/16"]
    load_config("dev", dev_settings)


def test_region_outside_the_packs_list(prod_settings):
    prod_settings["drLocation"] = "francesouth"
    assert problems("prod", prod_settings) == [
        'odoo-platform:drLocation = "francesouth": is not an allowed region (westeurope, northeurope, swedencentral, germanywestcentral, francecentral); '
        "the policy pack (allowed-regions) refuses every resource elsewhere"
    ]


# --- New settings ----------------------------------------------------------------------------------


def test_odoo_version(dev_settings):
    assert load_config("dev", dev_settings).odoo_version == "17.0"
    dev_settings["odooVersion"] = "18.0"
    assert problems("dev", dev_settings) == [
        'odoo-platform:odooVersion = "18.0": must be 16.0 or 17.0: the platform needs session_redis and attachment_azure from '
        "camptocamp/odoo-cloud-platform, which has branches 16.0 and 17.0 only (no 18.0)"
    ]
    dev_settings["odooVersion"] = 16.0  # written unquoted in a hand-made dict
    image = dev_settings["odooImage"]
    assert problems("dev", dev_settings) == [
        f'odoo-platform:odooImage = "{image}": its tag 17.0 is Odoo 17.0 but odooVersion is 16.0; build the image for the same Odoo major'
    ]
    dev_settings["odooImage"] = f"odoo-construction:16.0-20260101@sha256:{DIGEST}"
    assert load_config("dev", dev_settings).odoo_version == "16.0"
    dev_settings["odooImage"] = f"odoo-construction:latest-build@sha256:{DIGEST}"  # no Odoo major in the tag: nothing to compare
    load_config("dev", dev_settings)


def test_images_from_the_platform_registry(dev_settings):
    cfg = load_config("dev", dev_settings)
    odoo, psql = cfg.images["odooImage"], cfg.images["postgresClientImage"]
    assert odoo.registry is None and odoo.reference == dev_settings["odooImage"]
    assert psql.registry is None and psql.qualified("acmecr.azurecr.io") == f"acmecr.azurecr.io/{dev_settings['postgresClientImage']}"


def test_images_from_another_registry_must_be_listed(dev_settings):
    dev_settings["odooImage"] = f"acmeshared.azurecr.io/odoo/construction:17.0@sha256:{DIGEST}"
    assert problems("dev", dev_settings) == [
        f'odoo-platform:odooImage = "{dev_settings["odooImage"]}": images come from the platform\'s registry; '
        "list other registries in externalRegistries so the cluster is granted AcrPull on them"
    ]
    dev_settings["externalRegistries"] = [{"server": "acmeshared.azurecr.io", "resourceId": ACR_ID}]
    odoo = load_config("dev", dev_settings).images["odooImage"]
    assert odoo == ("acmeshared.azurecr.io", f"odoo/construction:17.0@sha256:{DIGEST}", "17.0")


def test_external_registry_entries_are_checked(dev_settings):
    dev_settings["externalRegistries"] = [
        {"server": "othername.azurecr.io", "resourceId": ACR_ID},
        {"server": "acmeshared.azurecr.io", "resourceId": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acmeshared"},
        {"server": "docker.io", "resourceId": ACR_ID},
        {"server": "acmeshared.azurecr.io", "resourceId": ACR_ID},
        {"server": "acmeshared.azurecr.io", "resourceId": ACR_ID},
    ]
    assert problems("dev", dev_settings) == [
        'odoo-platform:externalRegistries[0].server = "othername.azurecr.io": must be acmeshared.azurecr.io, the login server of the registry resourceId names',
        'odoo-platform:externalRegistries[1].resourceId = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acmeshared": '
        "must be the registry's resource id /subscriptions/<guid>/resourceGroups/<group>/providers/Microsoft.ContainerRegistry/registries/<name>",
        'odoo-platform:externalRegistries[2].server = "docker.io": must be an Azure Container Registry login server <name>.azurecr.io',
    ]
    del dev_settings["externalRegistries"][:3]
    assert problems("dev", dev_settings) == ['odoo-platform:externalRegistries[1].server = "acmeshared.azurecr.io": is listed twice (also externalRegistries[0])']


def test_image_must_be_pinned(dev_settings):
    dev_settings["postgresClientImage"] = "postgres:16-alpine"
    assert problems("dev", dev_settings) == [
        'odoo-platform:postgresClientImage = "postgres:16-alpine": must be an image pinned by digest: [<registry>/]<repository>[:<tag>]@sha256:<64 hex digits>'
    ]


def test_acme_server_and_removed_tls_certificate_name(dev_settings):
    assert load_config("dev", dev_settings).acme_server == "letsencrypt"
    dev_settings["acmeServer"] = "letsencrypt-staging"
    assert load_config("dev", dev_settings).acme_server == "letsencrypt-staging"
    dev_settings["acmeServer"] = "zerossl"
    dev_settings["tlsCertificateName"] = "odoo-platform-tls"
    assert problems("dev", dev_settings) == [
        'odoo-platform:tlsCertificateName = "odoo-platform-tls": tlsCertificateName was removed: certificates are issued by cert-manager '
        "through the stack's DNS zone; delete the setting",
        "odoo-platform:acmeServer = \"zerossl\": Input should be 'letsencrypt' or 'letsencrypt-staging'",
    ]


def test_removed_setting_through_the_cli_path():
    # The program reads removed settings too, so `pulumi up` reports them instead of ignoring them.
    raw = _raw_settings_with({"tlsCertificateName": "odoo-platform-tls"})
    assert raw == {"tlsCertificateName": "odoo-platform-tls"}


def test_runner_subnet(prod_settings, dev_settings):
    assert load_config("prod", prod_settings).network.subnets.runners == "10.30.3.0/27"
    assert load_config("dev", dev_settings).network.subnets.runners is None
    del prod_settings["network"]["subnets"]["runners"]
    assert problems("prod", prod_settings) == [
        "odoo-platform:network.subnets.runners = null: production's API server and Key Vault are private: give the deployment runner a subnet"
    ]
    prod_settings["network"]["subnets"]["runners"] = "10.30.2.0/29"
    assert problems("prod", prod_settings) == [
        'odoo-platform:network.subnets.runners = "10.30.2.0/29": is too small; runners needs at least a /28',
        'odoo-platform:network.subnets.runners = "10.30.2.0/29": overlaps subnets.postgres (10.30.2.0/28); subnets must not overlap',
    ]
