"""DatabaseBootstrap: creates each tenant environment's PostgreSQL role, inside the VNet, idempotently.

Runs in its own platform namespace, not the tenant's: only this namespace's identity may read the
server admin password, so no tenant namespace ever holds it. One Job per tenant environment makes
the tenant's login role (no superuser, no CREATEDB, no CREATEROLE), sets its password from Key
Vault and hands it ownership of its database and of its drill database (DRILL_SUFFIX: the scratch database
restore drills restore into, as the tenant role, with no CREATEDB and no admin password) and nothing else.
Re-running is safe.
"""
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .kube import api, secret_provider_spec
from .naming import NameRuleError, TenantNames

NAMESPACE = "odoo-bootstrap"
SERVICE_ACCOUNT = "db-bootstrap"
SECRETS_DIR = "/mnt/secrets"
PSQL_UID = 10070  # a high UID, clear of host users

# The drill database of a tenant environment is `<tenant database>_drill` (odoo_gc_prod_drill): made by Pulumi next to
# the tenant database, owned by the tenant role like it; the stack layer and the backup jobs take the name from here.
DRILL_SUFFIX = "_drill"
MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: a longer name is truncated, not rejected


def _database_name(name: str) -> str:
    """A database name the bootstrap accepts: what TenantNames makes (lowercase letters, digits, _), at most 63 bytes."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise NameRuleError(f"database name {name!r} may contain only lowercase letters, digits and '_'")
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        raise NameRuleError(f"database name {name!r} is {len(name.encode('utf-8'))} bytes; PostgreSQL allows at most {MAX_IDENTIFIER_BYTES}")
    return name


# The refresh database of a production environment, `<tenant database>_refresh`: where ops/refresh restores a backup set
# to neutralise and mask it; owned by the tenant role, empty between refreshes, no Odoo configured for it.
REFRESH_SUFFIX = "_refresh"


def refresh_database(tenant: TenantNames) -> str:
    """`tenant`'s refresh database (odoo_<8>_<10>_refresh is at most 32 bytes)."""
    return _database_name(f"{tenant.database}{REFRESH_SUFFIX}")


def drill_database(tenant: TenantNames) -> str:
    """`tenant`'s drill database. The longest name config allows (unit 8, environment 10 characters) is
    odoo_<8>_<10>_drill, 30 bytes; anything longer than 63 bytes fails here rather than being truncated by PostgreSQL."""
    return _database_name(f"{tenant.database}{DRILL_SUFFIX}")


# The tenant password reaches psql on its stdin and psql's \password hashes it (SCRAM, per the server's
# password_encryption) before sending ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$...': the clear password is in
# no argv, no psql variable and no statement the server could log (log_statement, log_min_error_statement,
# log_min_duration_statement). \password reads stdin because a Job has no terminal (/dev/tty).
# No NOSUPERUSER: the Azure server admin is no superuser, cannot name that attribute, and cannot grant it either.
# PostgreSQL 16+: a role made by a non-superuser CREATEROLE role already grants its creator membership WITH
# ADMIN OPTION but INHERIT FALSE, SET FALSE; ALTER DATABASE ... OWNER TO needs SET (and INHERIT, to own the
# database on a re-run), so MEMBER is no longer the test. The GRANT ... WITH form exists from 16 only.
#
# psql variables: role, db (the tenant database), drill_db (its drill database; '' for none). Both databases get
# the same isolation from one block of SQL (_BOOTSTRAP_DATABASE_SQL, run for :db, then again for :drill_db: psql
# has no loop, and one session keeps one password prompt and one connection per database).
#
# A missing database fails the run, before any role is touched, naming the database: Pulumi creates both databases
# before this Job (stacks/shared.py tenant_environment: the Job depends on the database resources), so a missing one
# means a stack that has not made it (an older stack, a failed or deleted database), not a race worth waiting out.
# Skipping it with a NOTICE would be wrong: the Job would succeed and never run again for that spec, and a drill
# database made later by ARM would stay owned by the admin with CONNECT for PUBLIC, i.e. open to every tenant role
# on the server, while the drill job failed far from the cause. A failed Job is retried (backoffLimit), raises
# OdooDatabaseBootstrapFailed and fails `pulumi up`.
# The RAISE goes through DO and format(%L): psql does not interpolate inside dollar quotes, and USING MESSAGE takes
# no % placeholders.
_BOOTSTRAP_ROLE_SQL = r"""\set ON_ERROR_STOP on
SELECT format('DO $check$ BEGIN RAISE EXCEPTION USING MESSAGE = %L, HINT = %L; END $check$',
              format('%s "%s" does not exist', kind, name),
              'Pulumi creates the tenant database and its drill database before this Job: run pulumi up for the stack.')
  FROM (VALUES (1, 'database', :'db'), (2, 'drill database', :'drill_db'), (3, 'refresh database', :'refresh_db')) AS wanted(ord, kind, name)
 WHERE name <> '' AND NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = wanted.name)
 ORDER BY ord LIMIT 1 \gexec
SELECT :'drill_db' <> '' AS has_drill_db \gset
SELECT :'refresh_db' <> '' AS has_refresh_db \gset
SELECT current_setting('server_version_num')::int >= 160000 AS grant_has_options \gset
SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOCREATEDB NOCREATEROLE INHERIT', :'role') \gexec
SELECT :'login' <> :'role' AS second_login \gset
\if :second_login
SELECT format('CREATE ROLE %I LOGIN NOCREATEDB NOCREATEROLE INHERIT', :'login') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'login') \gexec
\password :"login"
\else
\password :"role"
\endif
\if :grant_has_options
SELECT format('GRANT %I TO %I WITH INHERIT TRUE, SET TRUE', :'role', current_user)
 WHERE NOT (pg_has_role(current_user, :'role', 'SET') AND pg_has_role(current_user, :'role', 'USAGE')) \gexec
\else
SELECT format('GRANT %I TO %I', :'role', current_user) WHERE NOT pg_has_role(current_user, :'role', 'USAGE') \gexec
\endif
\if :second_login
SELECT format('GRANT %I TO %I', :'role', :'login') WHERE NOT pg_has_role(:'login', :'role', 'USAGE') \gexec
SELECT format('ALTER ROLE %I SET role = %L', :'login', :'role') \gexec
\endif
"""

# One database, :db. A drill empties its database with DROP SCHEMA public CASCADE; CREATE SCHEMA public: if it stopped
# in between, a re-run makes schema public again (the admin may: it holds the tenant role's CREATE and may SET to it).
_BOOTSTRAP_DATABASE_SQL = r"""SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'role') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', :'db', :'role') \gexec
\connect :db
SELECT format('CREATE SCHEMA public AUTHORIZATION %I', :'role') WHERE to_regnamespace('public') IS NULL \gexec
SELECT format('ALTER SCHEMA public OWNER TO %I', :'role') \gexec
"""

BOOTSTRAP_SQL = (
    _BOOTSTRAP_ROLE_SQL
    + _BOOTSTRAP_DATABASE_SQL
    + "\\if :has_drill_db\n\\set db :drill_db\n"
    + _BOOTSTRAP_DATABASE_SQL
    + "\\endif\n"
    + "\\if :has_refresh_db\n\\set db :refresh_db\n"
    + _BOOTSTRAP_DATABASE_SQL
    + "\\endif\n"
)

# A shell function that reads the tenant database credential from a mounted Key Vault secret ($1) into db_login and
# db_password. After a rotation (ops/rotate/credential.py) the secret holds `<login>:<password>`, the login being the
# tenant role or its second login role; the first version, Pulumi's, is the bare password of the tenant role ($2).
READ_DB_CREDENTIAL_SH = r"""read_db_credential() {
  db_credential="$(cat "$1")"
  case "$db_credential" in
    *:*) db_login="${db_credential%%:*}"; db_password="${db_credential#*:}" ;;
    *) db_login="$2"; db_password="$db_credential" ;;
  esac
  case "$db_login" in
    "" | *[!a-z0-9_]*) echo "the database credential in $1 names no valid login role" >&2; return 1 ;;
  esac
}
"""


# Environment: PGHOST, PGADMIN, TENANT_ROLE, TENANT_DATABASE, TENANT_DRILL_DATABASE (the Job always sets it; unset or
# empty: the tenant database only), TENANT_PASSWORD_FILE; ADMIN_PASSWORD_FILE and BOOTSTRAP_SQL have the Job's defaults.
# PGPORT and PGSSLMODE exist for the tests (a local server without TLS); the Job sets neither.
# printf is a builtin of every sh (dash, busybox ash, bash): the password is never an argument of a process.
BOOTSTRAP_SH = (
    r"""#!/bin/sh
set -eu
"""
    + READ_DB_CREDENTIAL_SH
    + r""": "${TENANT_ROLE:?}" "${TENANT_DATABASE:?}"
PGPASSWORD="$(cat "${ADMIN_PASSWORD_FILE:-/mnt/secrets/admin-password}")"
export PGPASSWORD
read_db_credential "$TENANT_PASSWORD_FILE" "$TENANT_ROLE"
printf '%s\n%s\n' "$db_password" "$db_password" |
  psql -X "host=$PGHOST port=${PGPORT:-5432} dbname=postgres user=$PGADMIN sslmode=${PGSSLMODE:-require}" \
    -v role="$TENANT_ROLE" -v login="$db_login" -v db="$TENANT_DATABASE" -v drill_db="${TENANT_DRILL_DATABASE:-}" -v refresh_db="${TENANT_REFRESH_DATABASE:-}" \
    -f "${BOOTSTRAP_SQL:-/etc/bootstrap/bootstrap.sql}"
"""
)


# The Odoo database initialisation step: Odoo runs with list_db = False and a fixed db_name, so nothing
# else ever creates its schema. Run inside the Odoo image, as the tenant role, before Odoo starts (the
# platform's entrypoint has rendered the final odoo.conf at ODOO_CONF_PATH). It installs the modules once,
# then makes sure attachments go to Azure Blob storage: camptocamp's attachment_azure (odoo-cloud-platform
# 17.0) stores there only when installed and when the system parameter ir_attachment.location is `azure`
# (ir.attachment._storage() reads it from ir_config_parameter). A re-run is a no-op but for that parameter.
# Environment: PGHOST, PGPORT (5432), PGDATABASE, PGUSER, DB_PASSWORD_FILE, PGSSLMODE (require),
# ODOO_REQUIRED_MODULES (comma-separated, e.g. ODOO_REQUIRED_MODULES below); ODOO_BIN (odoo) for tests.
ODOO_CONF_PATH = "/run/odoo/odoo.conf"
ODOO_REQUIRED_MODULES = "base,web,session_redis,attachment_azure"
ODOO_ATTACHMENT_LOCATION = "azure"

# Prints t when ir_module_module exists and every module of :'modules' is 'installed', f otherwise.
ODOO_INIT_CHECK_SQL = r"""SELECT to_regclass('ir_module_module') IS NOT NULL AS has_module_table \gset
\if :has_module_table
SELECT coalesce(bool_and(m.state IS NOT DISTINCT FROM 'installed'), false)
  FROM unnest(string_to_array(:'modules', ',')) AS wanted(name)
  LEFT JOIN ir_module_module AS m ON m.name = wanted.name;
\else
SELECT false;
\endif
"""

# Odoo 17's ir_config_parameter: key varchar unique (key_uniq), value text; uid 1 is Odoo's superuser;
# Odoo keeps create/write dates as UTC timestamps without time zone.
ODOO_INIT_PARAMETER_SQL = r"""INSERT INTO ir_config_parameter AS p (key, value, create_uid, create_date, write_uid, write_date)
VALUES (:'key', :'value', 1, now() AT TIME ZONE 'UTC', 1, now() AT TIME ZONE 'UTC')
ON CONFLICT (key) DO UPDATE SET value = excluded.value, write_uid = excluded.write_uid, write_date = excluded.write_date
WHERE p.value IS DISTINCT FROM excluded.value;
"""

ODOO_INIT_SH = (
    r"""#!/bin/sh
set -eu
"""
    + READ_DB_CREDENTIAL_SH
    + r""": "${PGHOST:?}" "${PGDATABASE:?}" "${PGUSER:?}" "${DB_PASSWORD_FILE:?}" "${ODOO_REQUIRED_MODULES:?}"
case "$ODOO_REQUIRED_MODULES" in
  *[!a-z0-9_,]* | ,* | *, | *,,*) echo "odoo-init: ODOO_REQUIRED_MODULES must be module names separated by commas" >&2; exit 2 ;;
esac
PGPORT="${PGPORT:-5432}"
PGSSLMODE="${PGSSLMODE:-require}"
read_db_credential "$DB_PASSWORD_FILE" "$PGUSER"
PGUSER="$db_login"
PGPASSWORD="$db_password"
export PGHOST PGPORT PGDATABASE PGUSER PGSSLMODE PGPASSWORD

initialised() {
  psql -X -q -A -t -v ON_ERROR_STOP=1 -v modules="$ODOO_REQUIRED_MODULES" <<'SQL'
"""
    + ODOO_INIT_CHECK_SQL
    + r"""SQL
}

# an assignment, so that a failing psql (unreachable server, wrong password) stops the script here
ready="$(initialised)"
if [ "$ready" = t ]; then
  echo "odoo-init: $PGDATABASE already has $ODOO_REQUIRED_MODULES installed"
else
  echo "odoo-init: installing $ODOO_REQUIRED_MODULES in $PGDATABASE"
  if ! "${ODOO_BIN:-odoo}" -c """
    + ODOO_CONF_PATH
    + r""" -d "$PGDATABASE" -i "$ODOO_REQUIRED_MODULES" --stop-after-init --without-demo=all; then
    echo "odoo-init: odoo failed to install $ODOO_REQUIRED_MODULES in $PGDATABASE" >&2
    exit 1
  fi
  # odoo only warns about a module it cannot find, and exits 0
  ready="$(initialised)"
  if [ "$ready" != t ]; then
    echo "odoo-init: after odoo -i, $PGDATABASE still lacks some of $ODOO_REQUIRED_MODULES" >&2
    exit 1
  fi
  installed_now=1
fi

psql -X -q -v ON_ERROR_STOP=1 -v key=ir_attachment.location -v value="""
    + ODOO_ATTACHMENT_LOCATION
    + r""" <<'SQL'
"""
    + ODOO_INIT_PARAMETER_SQL
    + r"""SQL
echo "odoo-init: ir_attachment.location is """
    + ODOO_ATTACHMENT_LOCATION
    + r""""
# What the install itself stored went to the local filestore (the parameter did not exist yet): move it now.
# force_storage() is base_attachment_object_storage's move to the object store; `odoo shell` executes a
# non-terminal stdin as the superuser and rolls back what is not committed (odoo/cli/shell.py, Shell.console).
if [ -n "${installed_now:-}" ]; then
  printf '%s\n' "env['ir.attachment'].sudo().force_storage()" "env.cr.commit()" \
    | "${ODOO_BIN:-odoo}" shell -c """
    + ODOO_CONF_PATH
    + r""" -d "$PGDATABASE"
fi
"""
)


@dataclass(frozen=True)
class DatabaseBootstrapArgs:
    provider: k8s.Provider
    image: pulumi.Input[str]
    identity_client_id: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    key_vault_name: pulumi.Input[str]
    admin_secret_name: pulumi.Input[str]
    admin_login: str
    postgres_fqdn: pulumi.Input[str]
    postgres_cidr: str
    environments: int = 1  # tenant environments of the stack: the namespace's quota grows with them
    labels: Mapping[str, str] = field(default_factory=dict)


# What one bootstrap Job's container reserves (requests, limits): CPU in millicores, memory in MiB.
JOB_RESOURCES = ((50, 64), (200, 128))


def quota(environments: int) -> dict[str, str]:
    """Room for everything this namespace may run at once: each environment's bootstrap Job (a `pulumi up`) and password
    rotation, and the stack-wide rotations (components/rotation_jobs.py), all of which fall due the same night."""
    from .rotation_jobs import CPU_M, MEMORY_MIB, PLATFORM_KINDS

    rotation = ((CPU_M, MEMORY_MIB), (5 * CPU_M, MEMORY_MIB))
    pods = [JOB_RESOURCES, rotation] * environments + [rotation] * len(PLATFORM_KINDS)
    hard = {"pods": str(max(20, len(pods)))}
    for i, kind in enumerate(("requests", "limits")):
        hard[f"{kind}.cpu"] = f"{sum(p[i][0] for p in pods)}m"
        hard[f"{kind}.memory"] = f"{sum(p[i][1] for p in pods)}Mi"
    return hard


class DatabaseBootstrap(pulumi.ComponentResource):
    def __init__(self, name: str, args: DatabaseBootstrapArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("odoo-platform:odoo:DatabaseBootstrap", name, None, opts)
        self._args = args
        self._labels = {"app.kubernetes.io/part-of": "odoo-platform", "app.kubernetes.io/managed-by": "pulumi", **args.labels}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=api({
                "name": NAMESPACE,
                "labels": {**self._labels, "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"},
            }),
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        self._opts = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[self.namespace])
        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=api({**self._meta(SERVICE_ACCOUNT), "annotations": {"azure.workload.identity/client-id": args.identity_client_id}}),
            automount_service_account_token=False,
            opts=self._opts,
        )
        self.script = k8s.core.v1.ConfigMap(
            f"{name}-script", metadata=self._meta("db-bootstrap"), data={"bootstrap.sql": BOOTSTRAP_SQL, "bootstrap.sh": BOOTSTRAP_SH}, opts=self._opts
        )
        bootstrap_pods = {"matchLabels": {"app.kubernetes.io/name": "db-bootstrap"}}
        policies: dict[str, Any] = {
            "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            "allow-dns-and-postgres": {
                "podSelector": bootstrap_pods,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    },
                    {"to": [{"ipBlock": {"cidr": args.postgres_cidr}}], "ports": [{"protocol": "TCP", "port": 5432}]},
                ],
            },
        }
        for policy_name, spec in policies.items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{policy_name}", metadata=self._meta(policy_name), spec=api(spec), opts=self._opts)
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=self._meta("bootstrap-quota"),
            spec=api({"hard": quota(args.environments)}),
            opts=self._opts,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=self._meta("bootstrap-limits"),
            spec=api({"limits": [{"type": "Container", "defaultRequest": {"cpu": f"{JOB_RESOURCES[0][0]}m", "memory": f"{JOB_RESOURCES[0][1]}Mi"},
                                  "default": {"cpu": f"{JOB_RESOURCES[1][0]}m", "memory": f"{JOB_RESOURCES[1][1]}Mi"}}]}),
            opts=self._opts,
        )
        self.register_outputs({"namespace": NAMESPACE})

    def _meta(self, object_name: str) -> Any:
        return {"name": object_name, "namespace": NAMESPACE, "labels": self._labels}

    def job(
        self,
        tenant: TenantNames,
        password_secret_name: pulumi.Input[str],
        depends_on: Sequence[pulumi.Resource] = (),
        drill_database_name: Optional[str] = None,
        refresh_database_name: Optional[str] = None,
    ) -> k8s.batch.v1.Job:
        """The Job that makes `tenant`'s role own `tenant`'s database and its drill database (default
        `drill_database(tenant)`). Both databases must exist before it runs: put both in `depends_on`."""
        args = self._args
        drill = _database_name(drill_database(tenant) if drill_database_name is None else drill_database_name)
        if drill == tenant.database:
            raise NameRuleError(f"the drill database of {tenant.key} must not be its database {tenant.database!r}")
        provider_class = k8s.apiextensions.CustomResource(
            f"bootstrap-{tenant.key}-secrets",
            api_version="secrets-store.csi.x-k8s.io/v1",
            kind="SecretProviderClass",
            metadata=self._meta(f"bootstrap-{tenant.key}"),
            spec=secret_provider_spec(
                args.identity_client_id,
                args.key_vault_name,
                args.tenant_id,
                [(args.admin_secret_name, "admin-password"), (password_secret_name, "tenant-password")],
            ),
            opts=self._opts,
        )
        labels = {**self._labels, "app.kubernetes.io/name": "db-bootstrap", "odoo-platform/tenant-environment": tenant.key}
        return k8s.batch.v1.Job(
            f"bootstrap-{tenant.key}",
            metadata=api({**self._meta(f"bootstrap-{tenant.key}"), "labels": labels}),
            spec=api({
                "backoffLimit": 6,
                "template": {
                    "metadata": {"labels": {**labels, "azure.workload.identity/use": "true"}},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "serviceAccountName": SERVICE_ACCOUNT,
                        "automountServiceAccountToken": False,
                        "nodeSelector": {"workload-class": "jobs"},
                        "tolerations": [{"key": "workload-class", "operator": "Equal", "value": "jobs", "effect": "NoSchedule"}],
                        # fsGroup and supplementalGroups: Azure Policy's restricted initiative wants every group set (admission.py).
                        "securityContext": {
                            "runAsNonRoot": True, "runAsUser": PSQL_UID, "runAsGroup": PSQL_UID, "fsGroup": PSQL_UID, "supplementalGroups": [PSQL_UID],
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "psql",
                                "image": args.image,
                                "imagePullPolicy": "IfNotPresent",
                                "command": ["/bin/sh", "/etc/bootstrap/bootstrap.sh"],
                                "env": [
                                    {"name": "HOME", "value": "/tmp"},
                                    {"name": "PGHOST", "value": args.postgres_fqdn},
                                    {"name": "PGADMIN", "value": args.admin_login},
                                    {"name": "TENANT_ROLE", "value": tenant.role},
                                    {"name": "TENANT_DATABASE", "value": tenant.database},
                                    {"name": "TENANT_DRILL_DATABASE", "value": drill},
                                    {"name": "TENANT_REFRESH_DATABASE", "value": _database_name(refresh_database_name) if refresh_database_name else ""},
                                    {"name": "TENANT_PASSWORD_FILE", "value": f"{SECRETS_DIR}/tenant-password"},
                                ],
                                "resources": {kind: {"cpu": f"{cpu}m", "memory": f"{mib}Mi"} for kind, (cpu, mib) in zip(("requests", "limits"), JOB_RESOURCES)},
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "runAsNonRoot": True,
                                    "runAsUser": PSQL_UID,
                                    "capabilities": {"drop": ["ALL"]},
                                    "seccompProfile": {"type": "RuntimeDefault"},
                                },
                                "volumeMounts": [
                                    {"name": "script", "mountPath": "/etc/bootstrap", "readOnly": True},
                                    {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True},
                                    {"name": "tmp", "mountPath": "/tmp"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "script", "configMap": {"name": "db-bootstrap", "defaultMode": 0o555}},
                            {"name": "secrets", "csi": {"driver": "secrets-store.csi.k8s.io", "readOnly": True, "volumeAttributes": {"secretProviderClass": f"bootstrap-{tenant.key}"}}},
                            {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
                        ],
                    },
                },
            }),
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[self.namespace, self.script, provider_class, *depends_on]),
        )
