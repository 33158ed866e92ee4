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
