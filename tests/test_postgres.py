"""PostgresServer in both tiers: private access, Entra admin, HA and backups, Odoo parameters, tenant roles, capacity."""
import pulumi
import pytest


from components.capacity import CONNECTIONS_PER_PROCESS, CapacityError, ConnectionDemand, postgres_max_connections
from components.interfaces import Diagnostics
from components.naming import Naming, TenantNames
from components.postgres import PostgresReplica, PostgresServer, PostgresServerArgs
from components.tier import Tier
from stacks.config import ConfigError, load_config
from tools.recording import run_program

SERVER = "azure-native:dbforpostgresql:Server"
PG = "odoo-platform:postgres:PostgresServer"


def server(rec):
    return rec.one(SERVER, "psql").inputs


def test_version_and_private_access_only(stack):
    s = server(stack)
    assert s["version"] == "16"
    assert s["network"]["publicNetworkAccess"] == "Disabled"
    assert s["network"]["delegatedSubnetResourceId"].endswith("/subnets/snet-postgres")
    assert s["network"]["privateDnsZoneArmResourceId"].endswith(f"/privateDnsZones/acme-{stack.stack}.private.postgres.database.azure.com")
    link = stack.one("azure-native:privatedns:VirtualNetworkLink", "dns-postgres-link")
    assert link.urn in stack.one(SERVER, "psql").dependencies, "the server needs its DNS zone linked to the VNet first"


def test_entra_admin_group_and_password_auth_for_odoo(stack):
    s = server(stack)
    assert s["authConfig"] == {"activeDirectoryAuth": "Enabled", "passwordAuth": "Enabled", "tenantId": "00000000-0000-4000-8000-00000000aaaa"}
    assert s["administratorLoginPassword"] == "[secret]"
    admin = stack.one("azure-native:dbforpostgresql:AdministratorsMicrosoftEntra").inputs
    assert (admin["objectId"], admin["principalType"], admin["principalName"]) == ("3f2b7c1e-8a4d-4f6e-9b1a-2c3d4e5f6a7b", "group", "odoo-platform-admins")


def test_production_resilience(prod):
    s = server(prod)
    assert s["highAvailability"] == {"mode": "ZoneRedundant", "standbyAvailabilityZone": "2"} and s["availabilityZone"] == "1"
    assert s["backup"] == {"backupRetentionDays": 35, "geoRedundantBackup": "Enabled"}
    assert s["storage"]["autoGrow"] == "Enabled"
    assert s["sku"] == {"name": "Standard_D4ds_v5", "tier": "GeneralPurpose"}
    assert s["maintenanceWindow"] == {"customWindow": "Enabled", "dayOfWeek": 0, "startHour": 2, "startMinute": 0}
    assert prod.one(SERVER, "psql").protect is True
    locks = [r.inputs["scope"] for r in prod.of_type("azure-native:authorization:ManagementLockByScope")]
    assert any(scope.endswith("/flexibleServers/psql-acme-prod-weu") for scope in locks)
    # Tenant databases are protected; drill and refresh databases are scratch, emptied after every drill or refresh export.
    assert all(db.protect != db.inputs["databaseName"].endswith(("_drill", "_refresh")) for db in prod.of_type("azure-native:dbforpostgresql:Database"))


def test_non_production_is_small_and_short_lived(dev):
    s = server(dev)
    assert s["sku"]["tier"] == "Burstable"
    assert s["highAvailability"]["mode"] == "Disabled"
    assert s["backup"] == {"backupRetentionDays": 7, "geoRedundantBackup": "Disabled"}
    assert dev.one(SERVER, "psql").protect is False
    assert s["maintenanceWindow"]["dayOfWeek"] == 2 and s["maintenanceWindow"]["startHour"] == 20


def parameters(rec):
    return {r.inputs["configurationName"]: r for r in rec.of_type("azure-native:dbforpostgresql:Configuration")}


def test_odoo_server_parameters(stack):
    params = {k: r.inputs["value"] for k, r in parameters(stack).items()}
    assert params["require_secure_transport"] == "on"
    assert set(params["azure.extensions"].split(",")) == {"PG_TRGM", "UNACCENT"}
    assert params["log_connections"] == params["log_disconnections"] == params["log_lock_waits"] == "on"
    assert int(params["log_min_duration_statement"]) > 0


def test_max_connections_sized_from_the_plan(dev, prod):
    # dev (small): 7 environments, each 2 web pods x (2 workers + 1 gevent) + 1 cron pod x (1 thread + 1), 3 connections each.
    per_env = (2 * (2 + 1) + 1 * (1 + 1)) * CONNECTIONS_PER_PROCESS
    assert parameters(dev)["max_connections"].inputs["value"] == str(int(7 * per_env * 1.2) + 15)
    # prod (large): one environment, 8 web pods x (6 + 1) + 1 cron pod x (2 + 1).
    assert parameters(prod)["max_connections"].inputs["value"] == str(int((8 * 7 + 3) * CONNECTIONS_PER_PROCESS * 1.2) + 15)


def test_parameters_are_applied_one_at_a_time(stack):
    ordered = stack.of_type("azure-native:dbforpostgresql:Configuration")
    for earlier, later in zip(ordered, ordered[1:]):
        assert earlier.urn in later.dependencies


def test_one_utf8_database_per_tenant_environment(dev, prod):
    assert sorted(db.inputs["databaseName"] for db in dev.of_type("azure-native:dbforpostgresql:Database")) == sorted(
        name for k in dev.outputs["tenantEnvironments"] for name in (f"odoo_{k.replace('-', '_')}", f"odoo_{k.replace('-', '_')}_drill")
    )
    assert len(dev.of_type("azure-native:dbforpostgresql:Database")) == 14
    assert [db.inputs["databaseName"] for db in prod.of_type("azure-native:dbforpostgresql:Database")] == ["odoo_gc_prod", "odoo_gc_prod_drill", "odoo_gc_prod_refresh"]
    assert {db.inputs["charset"] for db in dev.of_type("azure-native:dbforpostgresql:Database")} == {"UTF8"}


def test_each_tenant_role_has_its_own_password_in_key_vault(stack):
    secrets = {r.inputs["secretName"]: r.inputs for r in stack.of_type("azure-native:keyvault:Secret")}
    vault = stack.one("azure-native:keyvault:Vault").inputs["vaultName"]
    for tenant, out in stack.outputs["tenantEnvironments"].items():
        assert out["databaseRole"] == out["database"] == f"odoo_{tenant.replace('-', '_')}"
        secret = secrets[out["databasePasswordSecret"]]
        assert secret["vaultName"] == vault and secret["properties"]["value"] == "[secret]"
    passwords = [r.name for r in stack.of_type("random:index/randomPassword:RandomPassword") if r.name.startswith("pg-")]
    assert sorted(passwords) == sorted(["pg-admin-password"] + [f"pg-{t}-password" for t in stack.outputs["tenantEnvironments"]])


def test_server_logs_to_the_workspace(stack):
    [diag] = [d for d in stack.children(PG, "azure-native:monitor:DiagnosticSetting") if d.inputs["resourceUri"].endswith("psql-acme-" + stack.stack + "-weu")]
    assert diag.inputs["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]


def test_connection_capacity_refusal():
    demand = [ConnectionDemand("gc-dev", 8, 6, 1, 2), ConnectionDemand("civil-dev", 8, 6, 1, 2)]
    with pytest.raises(CapacityError) as e:
        postgres_max_connections("Standard_B1ms", demand)
    assert str(e.value).startswith(
        "PostgreSQL Standard_B1ms allows 50 connections but 2 tenant environments need 354 (gc-dev 177, civil-dev 177), 439 with 20% headroom and 15 reserved"
    )
    assert postgres_max_connections("Standard_D4ds_v5", demand) == 439


def test_connection_capacity_is_checked_with_the_config(dev_settings, monkeypatch):
    monkeypatch.setitem(__import__("components.capacity").capacity.POSTGRES_MAX_CONNECTIONS, "Standard_B2ms", 100)
    with pytest.raises(ConfigError) as e:
        load_config("dev", dev_settings)
    [problem] = e.value.problems
    assert problem.startswith('odoo-platform:sizing = "small": PostgreSQL Standard_B2ms allows 100 connections but 7 tenant environments need 168')


def test_production_refuses_burstable_sizing(prod_settings):
    prod_settings["sizing"] = "small"
    with pytest.raises(ConfigError) as e:
        load_config("prod", prod_settings)
    assert e.value.problems == ['odoo-platform:sizing = "small": production needs medium or large (General Purpose PostgreSQL, no burstable compute, several web pods)']


def test_dr_replica_when_asked():
    def program():
        PostgresServer(
            "pg",
            PostgresServerArgs(
                naming=Naming("acme", "prod", "westeurope"),
                tier=Tier.PRODUCTION,
                resource_group_name="rg-data",
                delegated_subnet_id="/subnets/pg",
                private_dns_zone_id="/zones/pg",
                key_vault_name="kv",
                key_vault_resource_group_name="rg-mgmt",
                diagnostics=Diagnostics("/workspaces/log"),
                sku="Standard_D4ds_v5",
                sku_tier="GeneralPurpose",
                storage_gb=256,
                version="16",
                max_connections=300,
                entra_admin_group_id="3f2b7c1e-8a4d-4f6e-9b1a-2c3d4e5f6a7b",
                entra_admin_group_name="admins",
                tenants=[TenantNames("gc", "prod")],
                replica=PostgresReplica("northeurope", "rg-dr-data", "/dr/subnets/pg", "/dr/zones/pg"),
                lock="CanNotDelete",
            ),
        )

    rec = run_program(program, "prod", {})
    primary, replica = rec.of_type(SERVER)
    assert replica.inputs["createMode"] == "Replica"
    assert replica.inputs["sourceServerResourceId"].endswith("/flexibleServers/psql-acme-prod-weu")
    assert (replica.inputs["location"], replica.inputs["serverName"]) == ("northeurope", "psql-acme-prod-neu")
    assert replica.inputs["network"]["publicNetworkAccess"] == "Disabled"
    assert replica.protect is True and primary.protect is True
    assert sum(1 for r in rec.of_type("azure-native:authorization:ManagementLockByScope") if "psql-acme-prod" in r.inputs["scope"]) == 2


def test_no_replica_with_backups_only(dev):
    assert len(dev.of_type(SERVER)) == 1


def test_password_outputs_are_secret():
    def program():
        pg = PostgresServer(
            "pg",
            PostgresServerArgs(
                naming=Naming("acme", "dev", "westeurope"), tier=Tier.NON_PRODUCTION, resource_group_name="rg", delegated_subnet_id="/s",
                private_dns_zone_id="/z", key_vault_name="kv", key_vault_resource_group_name="rg", diagnostics=Diagnostics("/w"),
                sku="Standard_B2ms", sku_tier="Burstable", storage_gb=64, version="16", max_connections=100,
                entra_admin_group_id="3f2b7c1e-8a4d-4f6e-9b1a-2c3d4e5f6a7b", entra_admin_group_name="a", tenants=[TenantNames("gc", "dev")],
            ),
        )
        pulumi.export("password", pg.tenants["gc-dev"].password)

    rec = run_program(program, "dev", {})
    assert rec.outputs["password"] == "[secret]"


def test_production_warm_standby_in_the_dr_region(prod):
    primary, standby = prod.of_type(SERVER)
    assert standby.inputs["createMode"] == "Replica" and standby.inputs["location"] == "northeurope"
    assert standby.inputs["sourceServerResourceId"].endswith("/flexibleServers/psql-acme-prod-weu")
    assert standby.inputs["network"]["delegatedSubnetResourceId"].endswith("/virtualNetworks/vnet-acme-prod-neu/subnets/snet-postgres")
    assert standby.inputs["network"]["privateDnsZoneArmResourceId"] == primary.inputs["network"]["privateDnsZoneArmResourceId"]
    dr_link = prod.one("azure-native:privatedns:VirtualNetworkLink", "dns-postgres-dr-link")
    assert dr_link.inputs["virtualNetwork"]["id"].endswith("/virtualNetworks/vnet-acme-prod-neu")
    assert standby.protect
    assert prod.one("azure-native:resources:ResourceGroup", "rg-dr").inputs["resourceGroupName"] == "rg-acme-prod-neu-dr"


def test_warm_standby_config_rules(prod_settings, dev_settings):
    del prod_settings["drNetwork"]
    with pytest.raises(ConfigError) as e:
        load_config("prod", prod_settings)
    assert e.value.problems == ["odoo-platform:drNetwork = null: a warm standby needs drLocation and drNetwork (addressSpace, postgresSubnet)"]
    prod_settings["drNetwork"] = {"addressSpace": "10.30.128.0/17", "postgresSubnet": "10.30.130.0/28"}
    with pytest.raises(ConfigError) as e:
        load_config("prod", prod_settings)
    assert e.value.problems == ['odoo-platform:drNetwork.addressSpace = "10.30.128.0/17": overlaps network.addressSpace 10.30.0.0/16']
    prod_settings["drNetwork"] = {"addressSpace": "10.31.0.0/16", "postgresSubnet": "10.32.0.0/28"}
    with pytest.raises(ConfigError) as e:
        load_config("prod", prod_settings)
    assert e.value.problems == ['odoo-platform:drNetwork.postgresSubnet = "10.32.0.0/28": lies outside addressSpace 10.31.0.0/16']
