"""ops.refresh against real servers: PostgreSQL 17 (tests/postgres_servers.py) and Azurite (tests/object_servers.py).

A production tenant (an Odoo-like database with partners, bank accounts, employees, payroll, mail, crons, mail servers,
payment providers, API keys: ops/odoo_sample.py) is backed up with ops.backup; `export` restores, neutralises, masks
and exports it; `import` swaps it into a uat database. Proven: no production identifier anywhere after the refresh
(every value of production searched for, not just the job's sample); the same source value -> the same pseudonym
across tables and across refreshes (and another key -> other pseudonyms); row counts and foreign keys hold; crons off
but autovacuum and mail servers inactive at every moment another session could look; a failed export or a corrupt
export leaves the target on its previous data.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
import threading
import time
import uuid
from typing import Any, Optional

import pytest

from ops import odoo_sample
from ops.backup import cli as backup_cli
from ops.refresh import cli, masking
from ops.refresh.importer import PARAMETER_PREFIX
from tests.object_servers import Azurite, azurite  # noqa: F401  (fixture)
from tests.postgres_servers import AZURE_ADMIN, PostgresServer, server

MAJOR = 17
SIZE = odoo_sample.SampleSize(partners=120, moves=300, lines_per_move=4, messages=300, tasks=60, attachments=0, attachment_bytes=0)
PASSWORD = "tenant-password-for-tests"
USER_PASSWORD = "uat-login-password"
KEY = "masking-key-0123456789abcdef"
OTHER_KEY = "another-masking-key-9876543210"


@dataclasses.dataclass
class Refresh:
    pg: PostgresServer
    azurite: Azurite
    prod_role: str
    uat_role: str
    backups: str
    exports: str
    work: str

    @property
    def refresh_db(self) -> str:
        return f"{self.prod_role}_refresh"

    def file(self, name: str, text: str) -> str:
        path = os.path.join(self.work, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def storage(self, container: str) -> list[str]:
        return ["--block-mib", "1", "--retries", "0", "--timeout", "20", "--progress-interval", "0.5"]

    def export_args(self, *extra: str, key: str = KEY) -> list[str]:
        return ["export", "--target", "gc/uat", "--tenant", "gc-prod", "--azure-connection-string", self.azurite.connection_string(),
                "--azure-container", self.backups, "--exports-connection-string", self.azurite.connection_string(),
                "--exports-container", self.exports, "--scratch-host", "127.0.0.1", "--scratch-port", str(self.pg.port),
                "--scratch-user", self.prod_role, "--scratch-password-file", self.file("prod-password", PASSWORD),
                "--scratch-database", self.refresh_db, "--scratch-sslmode", "disable", "--key-file", self.file(f"key-{key[:6]}", key),
                *self.storage(self.exports), *extra]

    def import_args(self, *extra: str) -> list[str]:
        return ["import", "--target", "gc/uat", "--exports-connection-string", self.azurite.connection_string(), "--exports-container", self.exports,
                "--db-host", "127.0.0.1", "--db-port", str(self.pg.port), "--db-user", self.uat_role, "--db-name", self.uat_role,
                "--db-password-file", self.file("uat-password", PASSWORD), "--db-sslmode", "disable", "--base-url", "https://gc-uat.test.example",
                "--user-password-file", self.file("user-password", USER_PASSWORD), *self.storage(self.exports), *extra]

    def sql(self, statement: str, db: Optional[str] = None) -> str:
        return self.pg.sql(statement, db=db or self.uat_role)

    def rows(self, statement: str, db: Optional[str] = None) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.pg.superuser_conninfo(db or self.uat_role)) as conn:
            return conn.execute(statement).fetchall()  # type: ignore[arg-type]


def run(argv: list[str], main=cli.main) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    lines = out.getvalue().splitlines()
    return code, (json.loads(lines[-1]) if lines else {}), err.getvalue()


@pytest.fixture(scope="module")
def env(request, azurite, tmp_path_factory) -> Refresh:  # noqa: F811
    import psycopg

    pg = server(MAJOR, request.config)
    pg.azure_admin()
    suffix = uuid.uuid4().hex[:6]
    prod, uat = f"p{suffix}", f"u{suffix}"
    for role in (prod, uat):
        pg.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        pg.sql(f"CREATE DATABASE {role} OWNER {role}")
        pg.sql(f"REVOKE ALL ON DATABASE {role} FROM PUBLIC")
    pg.sql(f"CREATE DATABASE {prod}_refresh OWNER {prod}")
    pg.sql(f"REVOKE ALL ON DATABASE {prod}_refresh FROM PUBLIC")
    work = str(tmp_path_factory.mktemp("refresh"))
    refresh = Refresh(pg, azurite, prod, uat, f"backups-{suffix}", f"exports-{suffix}", work)
    for container in (refresh.backups, refresh.exports):
        azurite.service().create_container(container)
    with psycopg.connect(host="127.0.0.1", port=pg.port, user=prod, password=PASSWORD, dbname=prod, sslmode="disable") as conn:
        odoo_sample.create(conn, SIZE)
        odoo_sample.create_personal(conn)
    with psycopg.connect(host="127.0.0.1", port=pg.port, user=uat, password=PASSWORD, dbname=uat, sslmode="disable") as conn:
        odoo_sample.create(conn, odoo_sample.SampleSize(partners=20, moves=50, messages=20, tasks=10, attachments=0, attachment_bytes=0), seed=3)
    code, record, stderr = run(["backup", "--tenant", "gc-prod", "--azure-connection-string", azurite.connection_string(), "--azure-container",
                                refresh.backups, "--db-host", "127.0.0.1", "--db-port", str(pg.port), "--db-user", prod, "--db-name", prod,
                                "--db-password-file", refresh.file("prod-password", PASSWORD), "--db-sslmode", "disable", "--retries", "0"],
                               main=backup_cli.main)
    assert code == 0, stderr
    return refresh


@pytest.fixture(scope="module")
def exported(env: Refresh) -> dict:
    code, record, stderr = run(env.export_args())
    assert code == 0, stderr
    return record


@pytest.fixture(scope="module")
def imported(env: Refresh, exported: dict) -> dict:
    code, record, stderr = run(env.import_args())
    assert code == 0, stderr
    return record


def production_values(env: Refresh) -> dict[str, set[str]]:
    """EVERY identifying value of production (not the job's sample): names, e-mails, phones, IBANs, VATs, IDs."""
    queries = {
        "name": "SELECT name FROM res_partner UNION SELECT name FROM hr_employee UNION SELECT acc_holder_name FROM res_partner_bank",
        "email": "SELECT email FROM res_partner UNION SELECT work_email FROM hr_employee UNION SELECT private_email FROM hr_employee",
        "phone": "SELECT phone FROM res_partner UNION SELECT mobile FROM res_partner UNION SELECT private_phone FROM hr_employee",
        "iban": "SELECT acc_number FROM res_partner_bank UNION SELECT sanitized_acc_number FROM res_partner_bank",
        "vat": "SELECT vat FROM res_partner",
        "identifier": "SELECT identification_id FROM hr_employee UNION SELECT ssnid FROM hr_employee UNION SELECT passport_id FROM hr_employee",
        "secret": "SELECT smtp_pass FROM ir_mail_server UNION SELECT stripe_secret_key FROM payment_provider UNION SELECT key FROM res_users_apikeys "
                  "UNION SELECT value FROM ir_config_parameter WHERE key IN ('database.secret', 'bank_sync.api_token')",
    }
    return {kind: {r[0] for r in env.rows(q, env.prod_role) if r[0]} for kind, q in queries.items()}


def all_text(env: Refresh, db: str) -> str:
    """Every text value of every table of `db`, one per line (lower case)."""
    lines: list[str] = []
    columns = env.rows("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
                       "AND data_type IN ('text', 'character varying', 'character', 'jsonb') "
                       "AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema = 'public')", db)
    for table, column in columns:
        lines += [str(r[0]).lower() for r in env.rows(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL', db)]
    return "\n".join(lines)


def test_export_neutralises_masks_verifies_and_leaves_no_scratch_copy(env: Refresh, exported: dict) -> None:
    assert exported["verdict"] == "pass", exported
    checks = {c["name"]: c for c in exported["checks"]}
    assert checks["neutralized"]["ok"] and checks["no_production_identifiers"]["ok"] and checks["foreign_keys"]["ok"]
    assert checks["no_production_identifiers"]["sampled"] > 300
    assert exported["masking"]["rows_changed"] > 1000
    names = {b.name: b.size for b in env.azurite.service().get_container_client(env.exports).list_blobs()}
    export_id = exported["export_id"]
    assert {f"gc/uat/{export_id}/db.dump", f"gc/uat/{export_id}/manifest.json"} <= set(names)
    manifest = json.loads(env.azurite.service().get_container_client(env.exports).download_blob(f"gc/uat/{export_id}/manifest.json").readall())
    assert manifest["source"]["set_id"] == exported["set_id"] and manifest["profile"]["name"] == "odoo-construction"
    assert manifest["objects"]["db.dump"]["size"] == names[f"gc/uat/{export_id}/db.dump"]
    # the raw copy is gone: the refresh database holds no table
    assert env.sql("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')", env.refresh_db) == "0"


def test_after_refresh_no_production_identifier_is_anywhere(env: Refresh, imported: dict) -> None:
    assert imported["verdict"] == "pass" and imported["imported"], imported
    text = all_text(env, env.uat_role)
    for kind, values in production_values(env).items():
        found = [v for v in values if len(v) >= 5 and (re.search(rf"(?<!\w){re.escape(v.lower())}(?!\w)", text) if kind == "name" else v.lower() in text)]
        assert not found, f"{len(found)} production {kind} values in the refreshed database, e.g. {sorted(found)[:3]}"
    # attachments' contents are placeholders, and no blob of production's storage is referenced
    assert env.sql("SELECT count(*) FROM ir_attachment WHERE store_fname IS NOT NULL") == "0"


def test_row_counts_and_foreign_keys_hold(env: Refresh, imported: dict) -> None:
    emptied = {"res_users_apikeys"}
    tables = [r[0] for r in env.rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", env.prod_role)]
    added = {"database.is_neutralized", "web.base.url.freeze", *(PARAMETER_PREFIX + k for k in ("export", "source_set", "source_tenant", "snapshot_time", "profile", "at"))}
    assert {r[0] for r in env.rows("SELECT key FROM ir_config_parameter")} == {r[0] for r in env.rows("SELECT key FROM ir_config_parameter", env.prod_role)} | added
    for table in set(tables) - {"ir_config_parameter"}:
        expected = 0 if table in emptied else int(env.sql(f'SELECT count(*) FROM "{table}"', env.prod_role))
        expected += 1 if table == "ir_mail_server" else 0  # the neutralisation's dummy server
        assert int(env.sql(f'SELECT count(*) FROM "{table}"')) == expected, table
    assert int(env.sql("SELECT count(*) FROM pg_constraint WHERE contype = 'f'")) == int(env.sql("SELECT count(*) FROM pg_constraint WHERE contype = 'f'", env.prod_role))
    import psycopg

    with psycopg.connect(env.pg.superuser_conninfo(env.uat_role)) as conn:
        assert masking.foreign_key_orphans(conn) == []
    assert env.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'refresh_previous'") == "0"


def test_same_source_value_same_pseudonym_across_tables(env: Refresh, imported: dict) -> None:
    pairs = env.rows("SELECT e.name, p.name, b.acc_holder_name FROM hr_employee e JOIN res_partner p ON p.id = e.work_contact_id "
                     "JOIN res_partner_bank b ON b.partner_id = p.id")
    assert pairs and all(e == p == b for e, p, b in pairs)
    assert all(not e.startswith("Partner ") for e, _, _ in pairs)
    # the display name "Partner 3, Supplier" maps part by part: its first part is the partner's own pseudonym
    assert all(d.split(", ")[0] == n for n, d in env.rows("SELECT name, display_name FROM res_partner"))
    # a sender "Name <address>" uses the same name and address pseudonyms as the partner
    senders = env.rows("SELECT m.email_from, p.name, p.email FROM mail_message m JOIN res_partner p ON p.id = m.author_id WHERE m.email_from IS NOT NULL")
    assert senders and all(f == f'"{n}" <{e}>' for f, n, e in senders)
    # the employee's work e-mail was the partner's e-mail: same pseudonym
    assert all(w == e for w, e in env.rows("SELECT e.work_email, p.email FROM hr_employee e JOIN res_partner p ON p.id = e.work_contact_id"))


def test_masked_values_keep_their_format(env: Refresh, imported: dict) -> None:
    for spaced, sanitized in env.rows("SELECT acc_number, sanitized_acc_number FROM res_partner_bank"):
        assert spaced.replace(" ", "") == sanitized and re.fullmatch(r"BE\d{14}", sanitized)
        assert odoo_sample.iban_check_digits(sanitized[:2], sanitized[4:]) == sanitized[2:4]
    for (vat,) in env.rows("SELECT vat FROM res_partner WHERE vat IS NOT NULL"):
        assert re.fullmatch(r"BE0\d{9}", vat) and 97 - int(vat[2:10]) % 97 == int(vat[10:])
    for (phone,) in env.rows("SELECT phone FROM res_partner"):
        assert re.fullmatch(r"\+32 \d{9}", phone)
    for (email,) in env.rows("SELECT email FROM res_partner"):
        assert re.fullmatch(r"[a-z]+\.[a-z]+\.[0-9a-f]{6}@[a-z]+\.example", email)
    # payroll replaced, distribution kept: every wage moved, the mean within the noise
    prod = dict(env.rows("SELECT id, wage FROM hr_contract", env.prod_role))
    uat = dict(env.rows("SELECT id, wage FROM hr_contract"))
    assert sum(1 for i in prod if prod[i] != uat[i]) >= len(prod) * 0.9
    assert abs(sum(uat.values()) / sum(prod.values()) - 1) < 0.15


def test_neutralised_and_marked_and_passwords_reset(env: Refresh, imported: dict, exported: dict) -> None:
    assert env.sql("SELECT string_agg(cron_name, ',') FROM ir_cron WHERE active") == "Base: Auto-vacuum internal data"
    assert env.sql("SELECT string_agg(smtp_host, ',') FROM ir_mail_server WHERE active") == "invalid"
    assert env.sql("SELECT count(*) FROM ir_mail_server WHERE smtp_pass IS NOT NULL OR smtp_user IS NOT NULL") == "0"
    assert env.sql("SELECT count(*) FROM payment_provider WHERE state = 'enabled' OR stripe_secret_key IS NOT NULL") == "0"
    params = dict(env.rows("SELECT key, value FROM ir_config_parameter"))
    assert params["database.is_neutralized"] == "true" and params["web.base.url"] == "https://gc-uat.test.example"
    assert params[PARAMETER_PREFIX + "export"] == exported["export_id"] and params[PARAMETER_PREFIX + "source_set"] == exported["set_id"]
    assert params[PARAMETER_PREFIX + "profile"].startswith("odoo-construction@")
    assert params["bank_sync.api_token"] == "" and params["database.secret"] != dict(env.rows("SELECT key, value FROM ir_config_parameter", env.prod_role))["database.secret"]
    for share, password in env.rows("SELECT share, password FROM res_users"):
        if share:
            assert password is None
        else:
            _, scheme, rounds, salt, checksum = password.split("$")
            decode = lambda s: base64.b64decode(s.replace(".", "+") + "=" * (-len(s) % 4))  # noqa: E731
            assert scheme == "pbkdf2-sha512" and hashlib.pbkdf2_hmac("sha512", USER_PASSWORD.encode(), decode(salt), int(rounds)) == decode(checksum)
    assert env.sql("SELECT count(*) FROM res_users_apikeys") == "0"
    # every Odoo worker reloads its registry and caches: the signaling sequences moved past production's values
    assert int(env.sql("SELECT last_value FROM base_registry_signaling")) > 42 and int(env.sql("SELECT last_value FROM base_cache_signaling")) > 7


def test_up_to_date_import_changes_nothing(env: Refresh, imported: dict) -> None:
    before = env.sql("SELECT md5(string_agg(name, ',' ORDER BY id)) FROM res_partner")
    code, record, stderr = run(env.import_args())
    assert code == 0 and record.get("up_to_date") and not record["imported"], stderr
    assert env.sql("SELECT md5(string_agg(name, ',' ORDER BY id)) FROM res_partner") == before


def test_crons_never_active_where_another_session_can_look(env: Refresh, imported: dict) -> None:
    """An observer polls the scratch database (export) and the target (import) the whole time: it never sees an active
    cron other than autovacuum, nor an active real mail server. The restore and the neutralisation are one transaction."""
    seen: list[tuple[str, int]] = []
    stop = threading.Event()

    def observe(db: str) -> None:
        import psycopg

        while not stop.is_set():
            try:
                with psycopg.connect(env.pg.superuser_conninfo(db), autocommit=True) as conn:
                    crons = conn.execute("SELECT count(*) FROM ir_cron WHERE active AND cron_name NOT LIKE 'Base: Auto-vacuum%'").fetchone()[0]
                    mail = conn.execute("SELECT count(*) FROM ir_mail_server WHERE active AND smtp_host <> 'invalid'").fetchone()[0]
                    seen.append((db, crons + mail))
            except psycopg.Error:
                pass  # no tables yet (being restored) or the schema being swapped
            time.sleep(0.005)

    for db, argv in ((env.refresh_db, env.export_args()), (env.uat_role, env.import_args("--force"))):
        stop.clear()
        watcher = threading.Thread(target=observe, args=(db,))
        watcher.start()
        try:
            code, _, stderr = run(argv)
        finally:
            stop.set()
            watcher.join()
        assert code == 0, stderr
        looks = [n for d, n in seen if d == db]
        assert looks and not any(looks), (db, len(looks))


def test_same_pseudonyms_across_refreshes_and_another_key_changes_them(env: Refresh, imported: dict) -> None:
    names = env.rows("SELECT id, name, email FROM res_partner ORDER BY id")
    code, record, stderr = run(env.export_args())
    assert code == 0, stderr
    code, record, stderr = run(env.import_args())
    assert code == 0 and record["imported"], stderr
    assert env.rows("SELECT id, name, email FROM res_partner ORDER BY id") == names
    code, _, stderr = run(env.export_args(key=OTHER_KEY))
    assert code == 0, stderr
    code, record, stderr = run(env.import_args())
    assert code == 0 and record["imported"], stderr
    other = env.rows("SELECT id, name, email FROM res_partner ORDER BY id")
    assert sum(1 for a, b in zip(names, other) if a[1] != b[1]) >= len(names) * 0.9


def _state(env: Refresh) -> tuple:
    return (env.sql("SELECT md5(string_agg(name || coalesce(email, ''), ',' ORDER BY id)) FROM res_partner"),
            env.sql(f"SELECT value FROM ir_config_parameter WHERE key = '{PARAMETER_PREFIX}export'"),
            env.sql("SELECT count(*) FROM account_move_line"))


def test_a_failed_masking_step_leaves_the_target_on_its_previous_data(env: Refresh, imported: dict) -> None:
    before = _state(env)
    exports_before = {b.name for b in env.azurite.service().get_container_client(env.exports).list_blobs()}
    broken = env.file("broken.yaml", "name: broken\nextends: odoo-construction\ntables:\n  res_partner:\n    city: {method: text, where: \"no_such_column = 1\"}\n")
    code, record, stderr = run(env.export_args("--profile", broken))
    assert code != 0 and record["verdict"] == "fail", stderr
    assert {b.name for b in env.azurite.service().get_container_client(env.exports).list_blobs()} == exports_before
    assert env.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", env.refresh_db) == "0"
    code, record, stderr = run(env.import_args("--wait", "1", "--poll", "0.2"))
    assert code == 1 and not record["imported"] and "no export newer" in record["error"], stderr
    assert _state(env) == before


def test_a_corrupt_export_is_refused_before_its_transaction_commits(env: Refresh, imported: dict) -> None:
    before = _state(env)
    container = env.azurite.service().get_container_client(env.exports)
    newest = max(b.name.split("/")[2] for b in container.list_blobs(name_starts_with="gc/uat/") if b.name.endswith("manifest.json"))
    manifest = json.loads(container.download_blob(f"gc/uat/{newest}/manifest.json").readall())
    dump = bytearray(container.download_blob(f"gc/uat/{newest}/db.dump").readall())
    dump[len(dump) // 2] ^= 0xFF  # one flipped byte in the middle
    forged = "29990101T000000Z"
    manifest["export_id"] = forged
    container.upload_blob(f"gc/uat/{forged}/db.dump", bytes(dump), overwrite=True)
    container.upload_blob(f"gc/uat/{forged}/manifest.json", json.dumps(manifest).encode(), overwrite=True)
    try:
        code, record, stderr = run(env.import_args())
        assert code != 0 and record["export_id"] == forged and not record["imported"], stderr
        assert _state(env) == before
        assert env.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'refresh_previous'") == "0"
    finally:
        container.delete_blobs(f"gc/uat/{forged}/db.dump", f"gc/uat/{forged}/manifest.json")


def test_sql_pseudonyms_are_rfc2104_hmac_and_check_digits_are_valid(env: Refresh) -> None:
    import psycopg

    key = KEY.encode()
    with psycopg.connect(env.pg.superuser_conninfo(env.uat_role)) as conn:
        masking.install(conn, key)
        assert bytes(conn.execute("SELECT pg_temp.mask_hmac('name:anna')").fetchone()[0]) == masking.reference_hmac(key, "name:anna")
        # the statement log never holds the key
        assert KEY not in env.pg.log() and masking.ipad_opad(key)[0].hex() not in env.pg.log()
        for source in ("DE89 3704 0044 0532 0130 00", "FR1420041010050500013M02606", "NL91ABNA0417164300"):
            masked = conn.execute("SELECT pg_temp.mask_iban(%s)", (source,)).fetchone()[0]
            norm = masked.replace(" ", "")
            assert norm[:2] == source[:2] and len(norm) == len(source.replace(" ", "")) and (" " in masked) == (" " in source)
            assert odoo_sample.iban_check_digits(norm[:2], norm[4:]) == norm[2:4] and norm != source.replace(" ", "")
        assert re.fullmatch(r"\+49 \(\d\)\d\d \d{3}-\d{4}", conn.execute("SELECT pg_temp.mask_phone('+49 (0)30 123-4567')").fetchone()[0])
        assert conn.execute("SELECT pg_temp.mask_name('Anna Smith, Site')").fetchone()[0] == ", ".join(
            conn.execute("SELECT pg_temp.mask_name('Anna Smith'), pg_temp.mask_name('Site')").fetchone())
        conn.rollback()


def test_the_scan_finds_production_values_as_whole_words_in_any_text_column(env: Refresh) -> None:
    import psycopg

    from ops.refresh.masking import Needle

    iban = env.rows("SELECT acc_number FROM res_partner_bank WHERE partner_id = 9", env.prod_role)[0][0]
    needles = [Needle("name", "res_partner.name", "Partner 9"), Needle("email", "res_partner.email", "partner9@example.com"),
               Needle("iban", "res_partner_bank.acc_number", iban), Needle("name", "res_partner.name", "Partner 1234567")]
    with psycopg.connect(env.pg.superuser_conninfo(env.prod_role)) as conn:
        found = {(f["table"], f["column"], f["kind"]) for f in masking.scan(conn, needles)}
        assert {("res_partner", "name", "name"), ("res_partner", "display_name", "name"), ("mail_message", "email_from", "email"),
                ("mail_message", "email_from", "name"), ("hr_employee", "work_email", "email"), ("res_partner_bank", "acc_number", "iban"),
                ("res_partner_bank", "acc_holder_name", "name")} <= found
        # whole words: a part of a word is not a hit, and a value nobody has is found nowhere
        assert masking.scan(conn, [Needle("name", "res_partner.name", "artner 9"), Needle("email", "res_partner.email", "artner9@example.co")]) == []
    assert len({k for _, _, k in found}) == 3


def test_the_scan_finds_values_in_long_text_and_json_in_any_case_and_punctuation_and_nothing_else(env: Refresh) -> None:
    """The scan looks at candidate values first (those holding one token of a needle): a value is still found deep in
    a long text, in json and jsonb, in another case, between punctuation; a value with some of a needle's tokens but
    not all of them in order is not."""
    import psycopg

    from ops.refresh.masking import Needle

    needles = [Needle("name", "t.name", "Anna-Lena Vermeulen"), Needle("email", "t.email", "Anna.Vermeulen@Example.BE"),
               Needle("iban", "t.iban", "BE71 0961 2345 6769"), Needle("phone", "t.phone", "+32 470 12 34 56")]
    filler = "progress billing for the works, " * 4000
    with psycopg.connect(env.pg.superuser_conninfo(env.prod_role)) as conn:
        for table in ("scan_probe", "scan_decoy"):
            conn.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, note text, data jsonb, raw json, code varchar(40), label character(40))")
        conn.execute("INSERT INTO scan_probe (note, data, raw, code, label) VALUES (%s, %s, %s, '(+32 470 12 34 56)', NULL)",
                     (filler + "Contact:ANNA-LENA   VERMEULEN, thanks. " + filler, '{"iban": "be71 0961 2345 6769"}',
                      '{"to": ["<anna.vermeulen@example.be>"]}'))
        conn.execute("INSERT INTO scan_decoy (note, data, raw, code, label) VALUES (%s, %s, %s, '+32 470 12 34 57', 'Vermeulen Anna-Lena')",
                     (filler + "Anna-Lena Vermeulens; vermeulen anna-lena", '{"iban": "be71 0961 2345 6768", "bic": "be71"}',
                      '{"to": "anna.vermeulen@example.be.invalid"}'))
        found = {(f["table"], f["column"], f["kind"]) for f in masking.scan(conn, needles)}
        conn.rollback()
    assert found == {("scan_probe", "note", "name"), ("scan_probe", "data", "iban"), ("scan_probe", "raw", "email"), ("scan_probe", "code", "phone")}


def test_a_phone_pseudonym_is_never_a_production_number(env: Refresh) -> None:
    """Phone numbers are dense, so a pseudonym can be another person's real number (at a million partners the
    verification met one). A number whose first pseudonym is a production number gets another, the same every time."""
    import psycopg

    from ops.refresh.masking import ColumnPlan, TableWork
    from ops.refresh.profile import Rule

    source = "+32 470 11 22 33"
    with psycopg.connect(env.pg.superuser_conninfo(env.prod_role)) as conn:
        masking.install(conn, KEY.encode())
        first = conn.execute("SELECT pg_temp.mask_phone(%s)", (source,)).fetchone()[0]
        # production also holds `first`, written another way
        conn.execute("CREATE TABLE public.phone_probe (phone text)")
        conn.execute("INSERT INTO public.phone_probe VALUES (%s), (%s), (NULL)", (source, re.sub(r"\D", "", first)))
        work = [TableWork("phone_probe", False, [ColumnPlan("phone", "text", False, (Rule("phone"),))])]
        assert masking.reserve_phones(conn, work) == 2
        again = [conn.execute("SELECT pg_temp.mask_phone(%s)", (source,)).fetchone()[0] for _ in range(2)]
        conn.rollback()
    assert again[0] == again[1] and re.sub(r"\D", "", again[0]) not in {re.sub(r"\D", "", first), re.sub(r"\D", "", source)}
    assert re.fullmatch(r"\+32 \d{3} \d\d \d\d \d\d", again[0])
