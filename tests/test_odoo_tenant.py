"""OdooTenant on the real stacks: namespace guardrails, network isolation, identity, workloads, config, routes."""
import configparser
import itertools

import pytest

from tools.mocks import stable_uuid

K = "kubernetes:"


def in_namespace(rec, kind: str, namespace: str):
    return [r for r in rec.of_type(K + kind) if r.inputs.get("metadata", {}).get("namespace") == namespace]


def base_domain(rec):
    return rec.of_type("azure-native:dns:Zone")[0].inputs["zoneName"].split(".", 1)[1]


def tenants(rec):
    return rec.outputs["tenantEnvironments"]


def namespaces(rec):
    return [t["namespace"] for t in tenants(rec).values()]


def one(rec, kind, namespace, name=None):
    """The one Odoo object of `kind` in the namespace (the platform jobs' own objects, odoo-backup and odoo-refresh, aside)."""
    found = [
        r.inputs for r in in_namespace(rec, kind, namespace)
        if (name is None or r.inputs["metadata"]["name"] == name) and r.inputs["metadata"].get("labels", {}).get("app.kubernetes.io/name", "odoo") == "odoo"
    ]
    assert len(found) == 1, (kind, namespace, name, len(found))
    return found[0]


def test_namespace_labels_and_ownership(stack):
    for key, out in tenants(stack).items():
        unit, env = key.split("-")
        ns = [r.inputs["metadata"] for r in stack.of_type(K + "core/v1:Namespace") if r.inputs["metadata"]["name"] == out["namespace"]][0]
        assert ns["labels"]["odoo-platform/tenant"] == unit and ns["labels"]["odoo-platform/environment"] == env
        assert ns["labels"]["odoo-platform/tier"] == ("production" if stack.stack == "prod" else "non-production")
        assert ns["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        assert ns["annotations"]["odoo-platform/database"] == out["database"]


def test_quota_and_limit_range_from_sizing(dev):
    quota = one(dev, "core/v1:ResourceQuota", "odoo-gc-dev")["spec"]["hard"]
    # small profile: (2 web + 1 surge) x 500m + 500m cron + 500m the release's upgrade Job + 4 backup jobs x 500m
    # (components/backup.py QUOTA_ALLOWANCE); memory likewise, the upgrade Job with the web pods' 1024Mi.
    assert quota["requests.cpu"] == "4500m" and quota["requests.memory"] == "9216Mi"
    assert quota["services.loadbalancers"] == "0"
    limits = one(dev, "core/v1:LimitRange", "odoo-gc-dev")["spec"]["limits"][0]
    assert limits["type"] == "Container" and limits["defaultRequest"] == {"cpu": "500m", "memory": "1024Mi"}


def policies(rec, namespace):
    return {p["metadata"]["name"]: p["spec"] for p in (r.inputs for r in in_namespace(rec, "networking.k8s.io/v1:NetworkPolicy", namespace))}


def test_default_deny_both_directions(stack):
    for ns in namespaces(stack):
        assert policies(stack, ns)["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_ingress_only_from_traefik_to_odoo_ports(stack):
    for ns in namespaces(stack):
        ingress_rules = [rule for spec in policies(stack, ns).values() for rule in spec.get("ingress", [])]
        assert len(ingress_rules) == 1
        [peer] = ingress_rules[0]["from"]
        assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}
        assert peer["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "traefik"}}
        assert sorted(p["port"] for p in ingress_rules[0]["ports"]) == [8069, 8072]


def test_egress_only_to_dns_and_own_data_services(stack, dev_settings, prod_settings):
    subnets = (dev_settings if stack.stack == "dev" else prod_settings)["network"]["subnets"]
    for ns in namespaces(stack):
        egress = [rule for spec in policies(stack, ns).values() for rule in spec.get("egress", [])]
        destinations = set()
        for rule in egress:
            for peer in rule["to"]:
                target = peer.get("ipBlock", {}).get("cidr") or peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                destinations.update((target, p["port"]) for p in rule["ports"])
        assert destinations == {
            ("kube-system", 53),
            (subnets["postgres"], 5432),
            (subnets["privateEndpoints"], 10000),
            (subnets["privateEndpoints"], 443),
        }


def test_no_tenant_policy_admits_another_tenant(dev):
    for ns in namespaces(dev):
        for spec in policies(dev, ns).values():
            for rule in spec.get("ingress", []) + spec.get("egress", []):
                for peer in rule.get("from", []) + rule.get("to", []):
                    name = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                    assert name in (None, "traefik", "kube-system")
                    assert peer.get("namespaceSelector") != {}, "an empty namespaceSelector admits every namespace"


def test_public_egress_only_to_entra_id_by_name(stack):
    for ns in namespaces(stack):
        cilium = one(stack, "cilium.io/v2:CiliumNetworkPolicy", ns)["spec"]
        fqdns = [rule for rule in cilium["egress"] if "toFQDNs" in rule]
        assert fqdns == [{"toFQDNs": [{"matchName": "login.microsoftonline.com"}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}]


def test_service_account_bound_to_the_tenant_identity(stack):
    for key, out in tenants(stack).items():
        sa = one(stack, "core/v1:ServiceAccount", out["namespace"], "odoo")
        assert sa["metadata"]["annotations"]["azure.workload.identity/client-id"] == out["identityClientId"]
        assert out["identityClientId"] == stable_uuid("client", f"id-acme-{stack.stack}-weu-{key}")
        assert sa["automountServiceAccountToken"] is False


def test_pdb_in_production_only(dev, prod):
    [prod_ns] = namespaces(prod)
    assert one(prod, "policy/v1:PodDisruptionBudget", prod_ns)["spec"]["minAvailable"] == 1
    assert in_namespace(dev, "policy/v1:PodDisruptionBudget", "odoo-gc-dev") == []


def env_of(rec, ns):
    """Odoo's environment as the init Job receives it; the release's pods read the same from release-values."""
    return {e["name"]: e["value"] for e in one(rec, "batch/v1:Job", ns, "odoo-init")["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_sessions_in_redis_and_attachments_in_own_container(stack):
    for key, out in tenants(stack).items():
        env = env_of(stack, out["namespace"])
        published = one(stack, "core/v1:ConfigMap", out["namespace"], "release-values")["data"]
        assert all(published[k] == v for k, v in env.items() if k.startswith(("ODOO_SESSION", "AZURE_STORAGE", "RUNNING_ENV")))
        assert env["ODOO_SESSION_REDIS"] == "1" and env["ODOO_SESSION_REDIS_PREFIX"] == out["redisKeyPrefix"] == f"{key}:"
        assert env["ODOO_SESSION_REDIS_HOST"] == f"redis-acme-{stack.stack}-weu.westeurope.redis.azure.net" and env["ODOO_SESSION_REDIS_PORT"] == "10000"
        assert env["AZURE_STORAGE_USE_AAD"] == "1" and env["AZURE_STORAGE_NAME"] == out["container"]
        assert env["AZURE_STORAGE_ACCOUNT_URL"] == f"https://stacme{stack.stack}weu.blob.core.windows.net/"
        # Secrets only as paths of mounted files (*_FILE), never as values.
        assert not any("password" in name.lower() or "key" in name.lower() for name in env if not name.endswith("_FILE"))


def odoo_conf(rec, ns):
    config = configparser.ConfigParser(interpolation=None)
    config.read_string(one(rec, "core/v1:ConfigMap", ns, "odoo-config")["data"]["odoo.conf"])
    return config["options"]


def test_odoo_conf(stack):
    for key, out in tenants(stack).items():
        conf = odoo_conf(stack, out["namespace"])
        assert conf["proxy_mode"] == "True" and conf["list_db"] == "False"
        assert conf["dbfilter"] == f"^{out['database']}$" and conf["db_name"] == out["database"] and conf["db_user"] == out["databaseRole"]
        assert conf["db_host"] == f"psql-acme-{stack.stack}-weu.postgres.database.azure.com" and conf["db_sslmode"] == "require"
        assert conf["max_cron_threads"] == "0" and int(conf["workers"]) >= 2
        assert int(conf["limit_memory_soft"]) < int(conf["limit_memory_hard"])


def test_odoo_conf_holds_no_secret(stack):
    for ns in namespaces(stack):
        conf = odoo_conf(stack, ns)
        assert not {"db_password", "admin_passwd"} & set(conf)
        config_map = one(stack, "core/v1:ConfigMap", ns, "odoo-config")["data"]
        assert "mock-" not in str(config_map)


def test_secrets_come_from_key_vault_files(stack):
    for key, out in tenants(stack).items():
        spc = one(stack, "secrets-store.csi.x-k8s.io/v1:SecretProviderClass", out["namespace"])["spec"]["parameters"]
        assert spc["clientID"] == out["identityClientId"] and spc["usePodIdentity"] == "false"
        redis_key, admin = secret_name(stack, "kv-redis-access-key"), secret_name(stack, f"kv-odoo-{key}-admin-password")
        for secret, alias in ((out["databasePasswordSecret"], "db-password"), (redis_key, "redis-key"), (admin, "admin-password")):
            assert f"objectName: {secret}\n" in spc["objects"] and f"objectAlias: {alias}\n" in spc["objects"]
        # Odoo's identity reads exactly its three secrets (the bootstrap, backup, rotation and refresh identities are others).
        odoo = stable_uuid("principal", f"id-acme-{stack.stack}-weu-{key}")
        grants = [r for r in stack.of_type("azure-native:authorization:RoleAssignment") if r.inputs["principalId"] == odoo and "/secrets/" in r.inputs["scope"]]
        assert sorted(g.inputs["scope"].rsplit("/secrets/", 1)[1] for g in grants) == sorted([out["databasePasswordSecret"], redis_key, admin])


def secret_name(rec, resource_name):
    """The Azure name of a Key Vault secret: its purpose plus a generation suffix (soft-deleted names stay taken)."""
    return rec.one("azure-native:keyvault:Secret", resource_name).inputs["secretName"]


def test_services_and_route(stack):
    for key, out in tenants(stack).items():
        ns = out["namespace"]
        ports = {s["metadata"]["name"]: s["spec"]["ports"][0]["port"] for s in (r.inputs for r in in_namespace(stack, "core/v1:Service", ns))}
        assert ports == {"odoo-http": 8069, "odoo-longpolling": 8072}
        route = one(stack, "traefik.io/v1alpha1:IngressRoute", ns)["spec"]
        unit, env = key.split("-")
        host = f"{env}.{unit}.{base_domain(stack)}"
        assert out["url"] == f"https://{host}/"
        by_match = {r["match"]: r for r in route["routes"]}
        assert by_match[f"Host(`{host}`) && PathPrefix(`/websocket`)"]["services"] == [{"name": "odoo-longpolling", "port": 8072}]
        assert by_match[f"Host(`{host}`)"]["services"] == [{"name": "odoo-http", "port": 8069}]
        [manager] = [r for m, r in by_match.items() if "/web/database" in m]
        assert manager["middlewares"][0] == {"name": "admin-only", "namespace": "traefik"} and manager["priority"] > by_match[f"Host(`{host}`)"]["priority"]
        assert all({"name": "security-headers", "namespace": "traefik"} in r["middlewares"] for r in route["routes"])
        # The namespace's own certificate, issued by cert-manager for exactly this host.
        assert route["tls"] == {"secretName": "odoo-tls", "options": {"name": "default", "namespace": "traefik"}}
        certificate = one(stack, "cert-manager.io/v1:Certificate", ns)["spec"]
        assert certificate["dnsNames"] == [host] and certificate["secretName"] == "odoo-tls"
        assert certificate["issuerRef"] == {"kind": "ClusterIssuer", "name": "letsencrypt"}


def test_two_tenants_never_share_a_host(dev):
    hosts = [t["url"] for t in tenants(dev).values()]
    assert len(hosts) == len(set(hosts)) == 7


def test_bootstrap_job_per_tenant_environment(stack):
    jobs = {j.inputs["metadata"]["name"]: j.inputs for j in in_namespace(stack, "batch/v1:Job", "odoo-bootstrap")}
    assert sorted(jobs) == sorted(f"bootstrap-{k}" for k in tenants(stack))
    for key, out in tenants(stack).items():
        env = {e["name"]: e["value"] for e in jobs[f"bootstrap-{key}"]["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["TENANT_ROLE"] == out["databaseRole"] and env["TENANT_DATABASE"] == out["database"]
        assert env["PGADMIN"] == "odooplatformadmin" and env["PGHOST"].endswith(".postgres.database.azure.com")
    # No tenant namespace can read the server admin password: only identities of the bootstrap namespace's service
    # accounts (the bootstrap's, the rotation jobs') are granted it.
    admin_secret = secret_name(stack, "kv-pg-admin-password")
    admin_grants = {r.inputs["principalId"] for r in stack.of_type("azure-native:authorization:RoleAssignment") if r.inputs["scope"].endswith(f"/secrets/{admin_secret}")}
    subjects = {stable_uuid("principal", f.inputs["resourceName"]): f.inputs["subject"] for f in stack.of_type("azure-native:managedidentity:FederatedIdentityCredential")}
    assert stable_uuid("principal", f"id-acme-{stack.stack}-weu-db-bootstrap") in admin_grants
    assert all(subjects[p].startswith("system:serviceaccount:odoo-bootstrap:") for p in admin_grants)


@pytest.mark.parametrize("field", ["database", "container", "namespace", "identityClientId", "redisKeyPrefix", "url", "databaseRole"])
def test_every_pair_of_tenant_environments_is_isolated(dev, field):
    values = [t[field] for t in tenants(dev).values()]
    for a, b in itertools.combinations(values, 2):
        assert a != b


def test_ephemeral_branch_environment_end_to_end(dev_settings):
    from tools.preview import run_stack

    dev_settings["units"][0]["environments"].append({"name": "pr1234", "ephemeral": True})
    rec = run_stack("dev", dev_settings)
    out = rec.outputs["tenantEnvironments"]["gc-pr1234"]
    assert out["ephemeral"] is True and out["url"] == "https://pr1234.gc.test.erp.acme-construction.example/"
    assert rec.outputs["tenantEnvironments"]["gc-dev"]["ephemeral"] is False
    [ns] = [r.inputs["metadata"] for r in rec.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == "odoo-gc-pr1234"]
    assert ns["labels"]["odoo-platform/ephemeral"] == "true"
    assert any(r.inputs["databaseName"] == "odoo_gc_pr1234" and not r.protect for r in rec.of_type("azure-native:dbforpostgresql:Database"))


def test_database_initialised_once_before_odoo_starts(stack):
    """list_db is off and db_name fixed, so nothing else creates the schema; attachments go to Azure once it ran."""
    for key, out in tenants(stack).items():
        ns = out["namespace"]
        job = one(stack, "batch/v1:Job", ns, "odoo-init")
        pod = job["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["args"] == ["init"] and pod["serviceAccountName"] == "odoo" and pod["restartPolicy"] == "OnFailure"
        env = {e["name"]: e["value"] for e in container["env"]}
        assert (env["PGDATABASE"], env["PGUSER"]) == (out["database"], out["databaseRole"])
        assert env["ODOO_REQUIRED_MODULES"] == "base,web,session_redis,attachment_azure"
        config = one(stack, "core/v1:ConfigMap", ns, "odoo-config")["data"]
        assert "ir_attachment.location" in config["odoo-init.sh"] and 'exec /bin/sh /etc/odoo/odoo-init.sh' in config["entrypoint.sh"]
        init = next(r for r in stack.resources if r.name == f"{key}-init")
        bootstrap = next(r for r in stack.resources if r.name == f"bootstrap-{key}")
        assert bootstrap.urn in init.dependencies
        assert init.urn in next(r for r in stack.resources if r.name == f"release-{key}").dependencies
