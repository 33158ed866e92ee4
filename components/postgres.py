"""PostgresServer: a private Flexible Server tuned for Odoo, one database and login role per tenant environment.

Odoo cannot refresh Entra tokens, so tenants log in with passwords: one role per tenant environment
(never the server admin), its password generated here and kept only in Key Vault. The role itself is
created inside the database by an in-cluster bootstrap job; this component exposes what that job needs.
"""
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_random as random
from pulumi_azure_native import authorization, dbforpostgresql, keyvault

from .db_bootstrap import drill_database, refresh_database
from .interfaces import Diagnostics, diagnostic_setting, key_vault_secret, management_lock
from .naming import Naming, TenantNames
from .rotation import POSTGRES_ADMIN_PASSWORD, TENANT_DB_PASSWORD, SecretLifetime, default_lifetime
from .tier import LockLevel, Tier, protect_for

DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
# Extensions Odoo modules use (unaccent for search, pg_trgm for trigram indexes).
ODOO_EXTENSIONS = "PG_TRGM,UNACCENT"
PASSWORD_SPECIALS = "-_.~"
ADMIN_LOGIN = "odooplatformadmin"  # safe in connection strings and odoo.conf without quoting


@dataclass(frozen=True)
class PostgresReplica:
    """A warm standby in the disaster-recovery region (read replica, promotable)."""

    location: str
    resource_group_name: pulumi.Input[str]
    delegated_subnet_id: pulumi.Input[str]
    private_dns_zone_id: pulumi.Input[str]


@dataclass(frozen=True)
class PostgresServerArgs:
    naming: Naming
    tier: Tier
    resource_group_name: pulumi.Input[str]
    delegated_subnet_id: pulumi.Input[str]
    private_dns_zone_id: pulumi.Input[str]
    key_vault_name: pulumi.Input[str]
    key_vault_resource_group_name: pulumi.Input[str]
    diagnostics: Diagnostics
    sku: str
    sku_tier: str
    storage_gb: int
    version: str
    max_connections: int
    entra_admin_group_id: str
    entra_admin_group_name: str
    tenants: Sequence[TenantNames]
    maintenance_day: str = "Sunday"
    maintenance_hour: int = 1
    replica: Optional[PostgresReplica] = None
    # Resources the server must wait for (e.g. the private DNS zone's VNet link).
    depends_on: Sequence[pulumi.Resource] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    lock: Optional[LockLevel] = None
    admin_password_lifetime: SecretLifetime = default_lifetime(POSTGRES_ADMIN_PASSWORD)
    tenant_password_lifetime: SecretLifetime = default_lifetime(TENANT_DB_PASSWORD)


@dataclass(frozen=True)
class TenantDatabaseOutputs:
    database: str
    role: str
    password_secret: keyvault.Secret
    password: pulumi.Output[str]  # secret
    # The Azure database resource: whatever uses the database waits for it.
    resource: dbforpostgresql.Database
    # Where restore drills restore to (ops/backup drill): the tenant role owns it too, and it is empty between drills.
    drill_database: str
    drill_resource: dbforpostgresql.Database
    # Production only: where ops/refresh restores a set to neutralise and mask it (components/refresh.py), empty between runs.
    refresh_database: Optional[str] = None
    refresh_resource: Optional[dbforpostgresql.Database] = None


class PostgresServer(pulumi.ComponentResource):
    server: dbforpostgresql.Server
    fqdn: pulumi.Output[str]
    tenants: dict[str, TenantDatabaseOutputs]
    admin_secret: keyvault.Secret
    # The last operation on the server: anything else that changes it must wait for this one.
    last_operation: pulumi.Resource

    def __init__(self, name: str, args: PostgresServerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:postgres:PostgresServer", name, None, opts)
        naming, tier = args.naming, args.tier
        production = tier.is_production
        tags = dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output()
        self.max_connections = args.max_connections
        self.replica: Optional[dbforpostgresql.Server] = None

        # Password auth needs a server admin; it is a break-glass account kept in Key Vault, never given to Odoo.
        admin_password = random.RandomPassword("pg-admin-password", length=32, special=True, override_special=PASSWORD_SPECIALS, opts=child)
        self.admin_secret = key_vault_secret(
            "kv-pg-admin-password", "pg-admin-password", admin_password.result, args.key_vault_name, args.key_vault_resource_group_name, self,
            lifetime=args.admin_password_lifetime,
        )

        self.server = dbforpostgresql.Server(
            "psql",
            server_name=naming.postgres(),
            resource_group_name=args.resource_group_name,
            location=naming.location,
            version=args.version,
            sku=dbforpostgresql.SkuArgs(name=args.sku, tier=args.sku_tier),
            storage=dbforpostgresql.StorageArgs(storage_size_gb=args.storage_gb, auto_grow="Enabled"),
            administrator_login=ADMIN_LOGIN,
            administrator_login_password=pulumi.Output.secret(admin_password.result),
            auth_config=dbforpostgresql.AuthConfigArgs(active_directory_auth="Enabled", password_auth="Enabled", tenant_id=client.tenant_id),
            network=dbforpostgresql.NetworkArgs(
                delegated_subnet_resource_id=args.delegated_subnet_id,
                private_dns_zone_arm_resource_id=args.private_dns_zone_id,
                public_network_access="Disabled",
            ),
            # Production: primary and standby in different zones.
            availability_zone="1" if production else None,
            high_availability=dbforpostgresql.HighAvailabilityArgs(mode="ZoneRedundant", standby_availability_zone="2")
            if production
            else dbforpostgresql.HighAvailabilityArgs(mode="Disabled"),
            backup=dbforpostgresql.BackupArgs(
                backup_retention_days=35 if production else 7,
                geo_redundant_backup="Enabled" if production else "Disabled",
            ),
            maintenance_window=dbforpostgresql.MaintenanceWindowArgs(
                custom_window="Enabled", day_of_week=DAYS.index(args.maintenance_day), start_hour=args.maintenance_hour, start_minute=0
            ),
            tags=tags,
            # After creation the admin password is the rotation job's (ops/rotate): an update must not set the first one back.
            opts=pulumi.ResourceOptions(
                parent=self, protect=protect_for(tier), depends_on=list(args.depends_on), ignore_changes=["administratorLoginPassword"]
            ),
        )
        self.fqdn = self.server.fully_qualified_domain_name
        management_lock("psql", self.server.id, args.lock, self)
        diagnostic_setting("psql", self.server.id, args.diagnostics, self, log_category_groups=["allLogs"])

        # Flexible Server takes one change at a time (a second concurrent one fails with ServerBusy; Terraform's
        # provider locks per server for the same reason): the admin, every parameter, every database and the
        # replica are created one after another. tools/deploy_rules.py checks the chain.
        self.last_operation = dbforpostgresql.AdministratorsMicrosoftEntra(
            "psql-entra-admin",
            server_name=self.server.name,
            resource_group_name=args.resource_group_name,
            object_id=args.entra_admin_group_id,
            principal_name=args.entra_admin_group_name,
            principal_type=dbforpostgresql.PrincipalType.GROUP,
            tenant_id=client.tenant_id,
            opts=child,
        )

        for parameter, value in self.server_parameters(args.max_connections).items():
            self.last_operation = dbforpostgresql.Configuration(
                f"psql-{parameter.replace('.', '-').replace('_', '-')}",
                configuration_name=parameter,
                server_name=self.server.name,
                resource_group_name=args.resource_group_name,
                value=value,
                source="user-override",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.last_operation]),
            )

        self.tenants = {}
        for tenant in args.tenants:
            database = dbforpostgresql.Database(
                f"db-{tenant.key}",
                database_name=tenant.database,
                server_name=self.server.name,
                resource_group_name=args.resource_group_name,
                charset="UTF8",
                collation="en_US.utf8",
                opts=pulumi.ResourceOptions(parent=self, protect=protect_for(tier), depends_on=[self.last_operation]),
            )
            # Scratch databases: emptied after every drill (and, in production, every refresh export), nothing to protect.
            drill = self._scratch_database(f"db-{tenant.key}-drill", drill_database(tenant), args, database)
            refresh = self._scratch_database(f"db-{tenant.key}-refresh", refresh_database(tenant), args, drill) if tier.is_production else None
            self.last_operation = refresh or drill
            secret_name = f"pg-{tenant.key}-password"
            password = random.RandomPassword(secret_name, length=32, special=True, override_special=PASSWORD_SPECIALS, opts=child)
            secret = key_vault_secret(
                f"kv-{secret_name}", secret_name, password.result, args.key_vault_name, args.key_vault_resource_group_name, self,
                lifetime=args.tenant_password_lifetime,
            )
            self.tenants[tenant.key] = TenantDatabaseOutputs(
                tenant.database, tenant.role, secret, pulumi.Output.secret(password.result), database, drill_database(tenant), drill,
                refresh_database(tenant) if refresh else None, refresh,
            )

        if args.replica is not None:
            replica = args.replica
            self.replica = dbforpostgresql.Server(
                "psql-replica",
                server_name=naming.for_region(replica.location).postgres(),
                resource_group_name=replica.resource_group_name,
                location=replica.location,
                create_mode="Replica",
                source_server_resource_id=self.server.id,
                sku=dbforpostgresql.SkuArgs(name=args.sku, tier=args.sku_tier),
                storage=dbforpostgresql.StorageArgs(storage_size_gb=args.storage_gb, auto_grow="Enabled"),
                network=dbforpostgresql.NetworkArgs(
                    delegated_subnet_resource_id=replica.delegated_subnet_id,
                    private_dns_zone_arm_resource_id=replica.private_dns_zone_id,
                    public_network_access="Disabled",
                ),
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, protect=protect_for(tier), depends_on=[self.last_operation]),
            )
            self.last_operation = self.replica
            management_lock("psql-replica", self.replica.id, args.lock, self)
            diagnostic_setting("psql-replica", self.replica.id, args.diagnostics, self, log_category_groups=["allLogs"])

        self.register_outputs(
            {
                "fqdn": self.fqdn,
                "databases": {t: o.database for t, o in self.tenants.items()},
                "passwordSecretNames": {t: o.password_secret.name for t, o in self.tenants.items()},
            }
        )

    def _scratch_database(self, name: str, database_name: str, args: PostgresServerArgs, after: pulumi.Resource) -> dbforpostgresql.Database:
        """An unprotected database next to a tenant's (drill, refresh), created after `after`: one operation at a time."""
        return dbforpostgresql.Database(
            name,
            database_name=database_name,
            server_name=self.server.name,
            resource_group_name=args.resource_group_name,
            charset="UTF8",
            collation="en_US.utf8",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[after]),
        )

    @staticmethod
    def server_parameters(max_connections: int) -> dict[str, str]:
        """Server parameters Odoo needs. Odoo connects directly on 5432: the built-in PgBouncer pools per
        transaction, which breaks the LISTEN/NOTIFY that Odoo's bus and cron rely on, so it stays off."""
        return {
            "require_secure_transport": "on",
            "max_connections": str(max_connections),
            "log_min_duration_statement": "2000",
            "log_connections": "on",
            "log_disconnections": "on",
            "log_lock_waits": "on",
            "azure.extensions": ODOO_EXTENSIONS,
        }
