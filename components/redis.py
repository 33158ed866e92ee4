"""RedisCache: Azure Managed Redis (redisenterprise) as Odoo's shared session store.

Azure Cache for Redis is retiring; Azure Managed Redis is its successor. Odoo's session store
authenticates with a password, so database access keys stay on: the key goes to Key Vault only
and reaches pods through the CSI driver. Tenants are separated by key prefix (`<unit>-<env>:`);
a prefix is a namespace, not an access boundary: every tenant on a shared cache holds the same key.
"""
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
from pulumi_azure_native import keyvault, redisenterprise

from .interfaces import Diagnostics, PrivateAccess, diagnostic_setting, key_vault_secret, management_lock, private_endpoint
from .naming import Naming, TenantNames
from .rotation import REDIS_ACCESS_KEY, SecretLifetime, default_lifetime
from .tier import LockLevel, Tier, protect_for

TLS_PORT = 10000
ACCESS_KEY_SECRET = "redis-access-key"


@dataclass(frozen=True)
class RedisCacheArgs:
    naming: Naming
    tier: Tier
    resource_group_name: pulumi.Input[str]
    sku: str
    private_access: PrivateAccess
    key_vault_name: pulumi.Input[str]
    key_vault_resource_group_name: pulumi.Input[str]
    diagnostics: Diagnostics
    tenants: Sequence[TenantNames]
    tags: Mapping[str, str] = field(default_factory=dict)
    lock: Optional[LockLevel] = None
    access_key_lifetime: SecretLifetime = default_lifetime(REDIS_ACCESS_KEY)


class RedisCache(pulumi.ComponentResource):
    cluster: redisenterprise.RedisEnterprise
    database: redisenterprise.Database
    host_name: pulumi.Output[str]
    port: int
    key_prefixes: dict[str, str]
    access_key_secret: keyvault.Secret

    def __init__(self, name: str, args: RedisCacheArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:redis:RedisCache", name, None, opts)
        naming, tier = args.naming, args.tier
        production = tier.is_production
        tags = dict(args.tags)
        # With persistence the cache holds state worth protecting (sessions survive a restart).
        stateful = pulumi.ResourceOptions(parent=self, protect=protect_for(tier))

        self.cluster = redisenterprise.RedisEnterprise(
            "redis",
            cluster_name=naming.redis(),
            resource_group_name=args.resource_group_name,
            location=naming.location,
            sku=redisenterprise.SkuArgs(name=args.sku),
            high_availability="Enabled" if production else "Disabled",
            minimum_tls_version="1.2",
            public_network_access="Disabled",
            tags=tags,
            opts=stateful,
        )
        self.database = redisenterprise.Database(
            "redis-db",
            database_name="default",
            cluster_name=self.cluster.name,
            resource_group_name=args.resource_group_name,
            client_protocol="Encrypted",
            port=TLS_PORT,
            # One endpoint for a client that does not speak Redis Cluster (Odoo's session store).
            clustering_policy="EnterpriseCluster",
            eviction_policy="VolatileLRU",
            access_keys_authentication="Enabled",
            persistence=redisenterprise.PersistenceArgs(aof_enabled=True, aof_frequency="1s") if production else None,
            opts=stateful,
        )
        management_lock("redis", self.cluster.id, args.lock, self)
        diagnostic_setting("redis", self.cluster.id, args.diagnostics, self)
        private_endpoint(naming.redis(), self.cluster.id, "redisEnterprise", args.private_access, tags, self)

        keys = redisenterprise.list_database_keys_output(
            cluster_name=self.cluster.name, database_name=self.database.name, resource_group_name=args.resource_group_name
        )
        self.access_key_secret = key_vault_secret(
            "kv-redis-access-key", ACCESS_KEY_SECRET, keys.primary_key, args.key_vault_name, args.key_vault_resource_group_name, self,
            lifetime=args.access_key_lifetime,
        )
        self.host_name = self.cluster.host_name
        self.port = TLS_PORT
        self.key_prefixes = {t.key: t.redis_prefix for t in args.tenants}
        self.register_outputs({"hostName": self.host_name, "port": self.port, "keyPrefixes": self.key_prefixes})
