"""Neutralisation, as `odoo-bin neutralize` does it, run INSIDE the restore's own transaction.

Odoo's neutralize (odoo/cli/neutralize.py -> odoo/modules/neutralize.py) runs, for every module in state installed /
to upgrade / to remove, the module's `data/neutralize.sql`: base deactivates every mail server and inserts a dummy one
(host `invalid`), deactivates every cron but base.autovacuum_job, sets `database.is_neutralized` and rewrites webhook
URLs; payment sets providers out of production; delivery, fetchmail, IAP, ... do the same for their own records.

odoo/odoo#286532: Odoo's own restore-with-neutralize let cron workers see the database before it was neutralised.
Here the restore script, the built-in statements below and the installed modules' own neutralize.sql files are ONE
transaction (`psql --single-transaction`): no other session sees a row of the copy before its crons are off, and
the copy lives in a database Odoo is not configured for (`db_name` and `dbfilter` name the tenant's database only).
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Optional

# The built-in part: Odoo 16-18's base, mail/fetchmail, payment and delivery neutralize.sql, each statement guarded
# so that a module that is not installed (its table or column absent) is skipped.
BUILTIN_SQL = r"""SET search_path = public, pg_catalog;
DO $neutralize$
DECLARE
  cols text;
BEGIN
  IF to_regclass('public.ir_cron') IS NOT NULL THEN
    IF to_regclass('public.ir_model_data') IS NOT NULL THEN
      UPDATE ir_cron SET active = false WHERE active AND id NOT IN (
        SELECT res_id FROM ir_model_data WHERE model = 'ir.cron' AND name = 'autovacuum_job' AND module = 'base');
    ELSE
      UPDATE ir_cron SET active = false WHERE active;
    END IF;
  END IF;
  IF to_regclass('public.ir_mail_server') IS NOT NULL THEN
    UPDATE ir_mail_server SET active = false WHERE active;
    -- the dummy server keeps Odoo from falling back to an SMTP server given on its command line
    SELECT string_agg(quote_ident(attname), ', ') INTO cols FROM pg_attribute
     WHERE attrelid = to_regclass('public.ir_mail_server') AND attnum > 0 AND NOT attisdropped
       AND attname IN ('name', 'smtp_port', 'smtp_host', 'smtp_encryption', 'active', 'smtp_authentication');
    IF NOT EXISTS (SELECT 1 FROM ir_mail_server WHERE smtp_host = 'invalid') THEN
      EXECUTE format('INSERT INTO ir_mail_server (%s) SELECT %s FROM (VALUES (''neutralization - disable emails'', 1025, ''invalid'', ''none'', true, ''login''))'
                     ' AS v(name, smtp_port, smtp_host, smtp_encryption, active, smtp_authentication)', cols, cols);
    ELSE
      UPDATE ir_mail_server SET active = true WHERE smtp_host = 'invalid';
    END IF;
  END IF;
  IF to_regclass('public.fetchmail_server') IS NOT NULL THEN
    UPDATE fetchmail_server SET active = false WHERE active;
  END IF;
  IF to_regclass('public.payment_provider') IS NOT NULL THEN
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('public.payment_provider') AND attname = 'is_live' AND NOT attisdropped) THEN
      EXECUTE 'UPDATE payment_provider SET is_live = false WHERE is_live';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('public.payment_provider') AND attname = 'state' AND NOT attisdropped) THEN
      EXECUTE 'UPDATE payment_provider SET state = ''test'' WHERE state = ''enabled''';
    END IF;
  END IF;
  IF to_regclass('public.delivery_carrier') IS NOT NULL
     AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('public.delivery_carrier') AND attname = 'prod_environment' AND NOT attisdropped) THEN
    EXECUTE 'UPDATE delivery_carrier SET prod_environment = false WHERE prod_environment';
  END IF;
  IF to_regclass('public.ir_act_server') IS NOT NULL
     AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('public.ir_act_server') AND attname = 'webhook_url' AND NOT attisdropped) THEN
    EXECUTE 'UPDATE ir_act_server SET webhook_url = ''neutralization - disable webhook'' WHERE state = ''webhook''';
  END IF;
  IF to_regclass('public.ir_config_parameter') IS NOT NULL THEN
    INSERT INTO ir_config_parameter (key, value) VALUES ('database.is_neutralized', 'true')
      ON CONFLICT (key) DO UPDATE SET value = 'true';
  END IF;
END
$neutralize$;
"""

NEUTRALIZE_STATES = ("installed", "to upgrade", "to remove")  # odoo/modules/neutralize.py get_installed_modules


def odoo_scripts(addons_dir: Optional[str], modules: Iterable[str]) -> list[tuple[str, str]]:
    """(module, SQL) of each module's own `data/neutralize.sql` under `addons_dir` (the Odoo image's addons, copied
    into the job by an init container), in the order given; none without a directory."""
    if not addons_dir:
        return []
    found = []
    for module in modules:
        path = os.path.join(addons_dir, module, "data", "neutralize.sql")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                text = f.read().strip()
            if text:
                found.append((module, text))
    return found


def script(addons_dir: Optional[str], modules: Iterable[str]) -> str:
    """The SQL run after the restore, in its transaction: Odoo's own files first (when given), then the built-in part,
    which also covers a file that is missing."""
    parts = ["SET search_path = public, pg_catalog;"]
    for module, text in odoo_scripts(addons_dir, modules):
        parts.append(f"-- {module}/data/neutralize.sql\n{text.rstrip().rstrip(';')};")
    parts.append(BUILTIN_SQL)
    return "\n".join(parts) + "\n"


def problems(conn: Any) -> list[dict[str, Any]]:
    """What could still act on the outside world: active crons but autovacuum, active mail servers but the dummy,
    live payment providers, a missing neutralisation flag."""
    found: list[dict[str, Any]] = []

    def exists(table: str) -> bool:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",)).fetchone()[0]

    def has_column(table: str, column: str) -> bool:
        return conn.execute("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped)",
                            (f"public.{table}", column)).fetchone()[0]

    if exists("ir_cron"):
        autovacuum = ("SELECT res_id FROM ir_model_data WHERE model = 'ir.cron' AND name = 'autovacuum_job' AND module = 'base'"
                      if exists("ir_model_data") else "SELECT NULL::int WHERE false")
        active = conn.execute(f"SELECT count(*) FROM ir_cron WHERE active AND id NOT IN ({autovacuum})").fetchone()[0]  # type: ignore[arg-type]
        if active:
            found.append({"check": "crons", "active": active})
    if exists("ir_mail_server"):
        active = conn.execute("SELECT count(*) FROM ir_mail_server WHERE active AND smtp_host IS DISTINCT FROM 'invalid'").fetchone()[0]
        if active:
            found.append({"check": "mail_servers", "active": active})
    if exists("fetchmail_server"):
        active = conn.execute("SELECT count(*) FROM fetchmail_server WHERE active").fetchone()[0]
        if active:
            found.append({"check": "fetchmail_servers", "active": active})
    if exists("payment_provider"):
        conditions = [c for c, ok in (("is_live", has_column("payment_provider", "is_live")), ("state = 'enabled'", has_column("payment_provider", "state"))) if ok]
        if conditions:
            live = conn.execute(f"SELECT count(*) FROM payment_provider WHERE {' OR '.join(conditions)}").fetchone()[0]  # type: ignore[arg-type]
            if live:
                found.append({"check": "payment_providers", "live": live})
    if exists("ir_config_parameter"):
        flag = conn.execute("SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'").fetchone()
        if not flag or str(flag[0]).lower() != "true":
            found.append({"check": "is_neutralized", "value": flag[0] if flag else None})
    return found
