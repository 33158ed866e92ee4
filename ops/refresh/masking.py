"""Masking in the database, in plain SQL and PL/pgSQL (no extension), inside one transaction.

Why not PostgreSQL Anonymizer (`anon`)? It is allowed on Azure Flexible Server, but its pseudonymising functions
are seeded by a salt in a database setting and produce values from its own dictionaries, with no format-preserving
IBAN or VAT and no way to test it here (the embedded test servers do not ship it). Keyed HMAC-SHA256 in SQL gives the
same guarantees with nothing to install: the same source value -> the same pseudonym in every table and every refresh
(same key), and without the key a pseudonym cannot be linked back to its source.

The key never appears in a statement: it is loaded with COPY into a temporary table (COPY data is not logged by
log_statement), and the functions read it from session settings set from that table. Every function lives in
pg_temp: it disappears with the session and is never part of the export.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import time
from typing import Any, Iterable, Optional

from ops.backup.database import quote_ident

from .profile import IDENTIFYING, Profile, Rule

# Pseudonym vocabulary: common first names (not identifying on their own) and surnames built from syllables (not a
# real family name, so a pseudonym never equals a real person's full name).
FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Katja", "Lukas", "Marie", "Noah",
    "Olga", "Paul", "Quentin", "Rosa", "Sven", "Tara", "Ugo", "Vera", "Wim", "Xenia", "Yann", "Zoe", "Aline", "Bruno",
    "Chloe", "Dario", "Emma", "Finn", "Gina", "Henri", "Ida", "Jan", "Lea", "Marc", "Nina", "Oscar", "Pia", "Rene",
    "Sara", "Tom", "Ute", "Victor", "Wanda", "Yara", "Alba", "Boris", "Carla", "Dirk", "Eva", "Frank", "Hanna", "Igor",
    "Julia", "Karl", "Lina", "Milan", "Nora", "Otto", "Petra", "Ralf",
)
SYLLABLES = (
    "bar", "del", "kor", "ven", "mal", "tis", "ron", "gal", "fer", "lin", "dor", "sel", "mar", "kel", "vin", "tar",
    "bel", "nor", "rim", "vas", "hol", "dan", "pel", "ser", "zan", "mor", "quel", "tor", "lan", "wen", "gor", "fin",
)

FUNCTIONS_SQL = r"""
CREATE FUNCTION pg_temp.mask_hmac(v text) RETURNS bytea LANGUAGE sql STABLE AS
$f$ SELECT sha256(decode(current_setting('odoo_refresh.opad'), 'hex') || sha256(decode(current_setting('odoo_refresh.ipad'), 'hex') || convert_to(v, 'UTF8'))) $f$;

-- PL/pgSQL throughout the per-row path: it keeps each expression's plan for the session (a non-inlined SQL function
-- per row measured 0.3 ms a call); the vocabulary is constant text parsed once per call.
CREATE FUNCTION pg_temp.mask_word(h bytea, i int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE syl text[] := '{syllables}'; n int := array_length(syl, 1);
BEGIN
  RETURN initcap(syl[1 + (get_byte(h, i % 32) * 256 + get_byte(h, (i + 1) % 32)) % n] || syl[1 + (get_byte(h, (i + 2) % 32) * 256 + get_byte(h, (i + 3) % 32)) % n]
                 || syl[1 + (get_byte(h, (i + 4) % 32) * 256 + get_byte(h, (i + 5) % 32)) % n]);
END $f$;

CREATE FUNCTION pg_temp.mask_first(h bytea, i int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE names text[] := '{first_names}';
BEGIN
  RETURN names[1 + (get_byte(h, i % 32) * 256 + get_byte(h, (i + 1) % 32)) % array_length(names, 1)];
END $f$;

CREATE FUNCTION pg_temp.mask_person(v text) RETURNS text LANGUAGE plpgsql STABLE AS $f$
DECLARE h bytea := pg_temp.mask_hmac('name:' || lower(btrim(v)));
BEGIN
  RETURN pg_temp.mask_first(h, 0) || ' ' || pg_temp.mask_word(h, 2);
END $f$;

-- "Parent, Child" (Odoo's display name of a contact) maps part by part, so it matches the parts' own pseudonyms.
CREATE FUNCTION pg_temp.mask_name(v text) RETURNS text LANGUAGE plpgsql STABLE AS $f$
DECLARE part text; out text := NULL;
BEGIN
  IF v IS NULL OR btrim(v) = '' THEN RETURN v; END IF;
  FOREACH part IN ARRAY string_to_array(v, ', ') LOOP
    out := CASE WHEN out IS NULL THEN '' ELSE out || ', ' END || pg_temp.mask_person(part);
  END LOOP;
  RETURN out;
END $f$;

CREATE FUNCTION pg_temp.mask_chars(v text, h bytea) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE out text := ''; c text; b int;
BEGIN
  IF v IS NULL THEN RETURN NULL; END IF;
  FOR i IN 1..length(v) LOOP
    c := substr(v, i, 1);
    b := get_byte(h, i % 32);
    out := out || CASE WHEN c BETWEEN '0' AND '9' THEN chr(48 + b % 10)
                       WHEN c BETWEEN 'A' AND 'Z' THEN chr(65 + b % 26)
                       WHEN c BETWEEN 'a' AND 'z' THEN chr(97 + b % 26)
                       ELSE c END;
  END LOOP;
  RETURN out;
END $f$;

CREATE FUNCTION pg_temp.mask_address(a text) RETURNS text LANGUAGE plpgsql STABLE AS $f$
DECLARE h bytea := pg_temp.mask_hmac('email:' || lower(btrim(a)));
BEGIN
  IF position('@' IN a) = 0 THEN RETURN 'user-' || substr(encode(h, 'hex'), 1, 10); END IF;
  RETURN lower(pg_temp.mask_first(h, 0)) || '.' || lower(pg_temp.mask_word(h, 2)) || '.' || substr(encode(h, 'hex'), 1, 6) || '@'
         || lower(pg_temp.mask_word(h, 8)) || '.example';
END $f$;

CREATE FUNCTION pg_temp.mask_email_one(v text) RETURNS text LANGUAGE plpgsql STABLE AS $f$
DECLARE m text[];
BEGIN
  IF v IS NULL OR btrim(v) = '' THEN RETURN v; END IF;
  IF position('<' IN v) = 0 THEN RETURN pg_temp.mask_address(btrim(v)); END IF;
  m := regexp_match(v, '^\s*"?([^"<]*?)"?\s*<([^>]*)>\s*$');
  IF m IS NOT NULL THEN
    RETURN CASE WHEN btrim(m[1]) = '' THEN '' ELSE '"' || pg_temp.mask_name(btrim(m[1])) || '" ' END || '<' || pg_temp.mask_address(m[2]) || '>';
  END IF;
  RETURN pg_temp.mask_address(btrim(v));
END $f$;

CREATE FUNCTION pg_temp.mask_email(v text) RETURNS text LANGUAGE plpgsql STABLE AS $f$
DECLARE part text; out text := NULL;
BEGIN
  IF v IS NULL OR btrim(v) = '' THEN RETURN v; END IF;
  IF v !~ '[,;]' THEN RETURN pg_temp.mask_email_one(v); END IF;
  FOREACH part IN ARRAY regexp_split_to_array(v, '\s*[,;]\s*') LOOP
    out := CASE WHEN out IS NULL THEN '' ELSE out || ', ' END || pg_temp.mask_email_one(part);
  END LOOP;
  RETURN out;
END $f$;

-- Keeps "+CC" (or "00CC", or a leading trunk 0) and every separator; the other digits come from the HMAC of the digits.
-- Phone numbers are dense: a pseudonym can be somebody's real number, which the verification then rightly reports. So a
-- pseudonym whose digits are a production number (refresh_real_phones, filled by reserve_phones()) is drawn again,
-- from the HMAC of the digits and the attempt: still one pseudonym per number, and never a real one.
CREATE TEMP TABLE refresh_real_phones (digits text PRIMARY KEY) ON COMMIT PRESERVE ROWS;
CREATE FUNCTION pg_temp.mask_phone(v text) RETURNS text LANGUAGE plpgsql STABLE AS $f$
DECLARE digits text := regexp_replace(coalesce(v, ''), '\D', '', 'g'); h bytea; out text; c text; n int; keep int;
BEGIN
  IF v IS NULL OR digits = '' THEN RETURN v; END IF;
  keep := coalesce(length(substring(v FROM '^\s*(?:\+|00)\d{1,3}')), length(substring(v FROM '^\s*0')), 0);
  FOR attempt IN 0..99 LOOP
    h := pg_temp.mask_hmac('phone:' || digits || CASE WHEN attempt = 0 THEN '' ELSE ':' || attempt END);
    out := ''; n := 0;
    FOR i IN 1..length(v) LOOP
      c := substr(v, i, 1);
      IF i > keep AND c BETWEEN '0' AND '9' THEN out := out || chr(48 + get_byte(h, n % 32) % 10); n := n + 1; ELSE out := out || c; END IF;
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM refresh_real_phones WHERE refresh_real_phones.digits = regexp_replace(out, '\D', '', 'g')) THEN RETURN out; END IF;
  END LOOP;
  RAISE EXCEPTION 'no phone pseudonym outside the production numbers after 100 draws';
END $f$;

-- ISO 13616 check digits: 98 - (BBAN || country || '00', letters as 10..35) mod 97, the remainder carried digit by
-- digit (a loop: the SQL form splitting into rows took 20 us a call, over half of an IBAN's masking).
CREATE FUNCTION pg_temp.iban_check(country text, bban text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE s text := upper(bban || country || '00'); r int := 0; c int;
BEGIN
  FOR i IN 1..length(s) LOOP
    c := ascii(substr(s, i, 1));
    r := CASE WHEN c BETWEEN 48 AND 57 THEN (r * 10 + c - 48) % 97 ELSE (r * 100 + c - 55) % 97 END;
  END LOOP;
  RETURN lpad((98 - r)::text, 2, '0');
END $f$;

CREATE FUNCTION pg_temp.mask_iban(v text) RETURNS text LANGUAGE plpgsql STABLE AS $f$
DECLARE norm text := upper(regexp_replace(coalesce(v, ''), '[^A-Za-z0-9]', '', 'g')); h bytea; bban text; res text;
BEGIN
  IF v IS NULL OR norm = '' THEN RETURN v; END IF;
  h := pg_temp.mask_hmac('iban:' || norm);
  IF norm !~ '^[A-Z]{2}[0-9]{2}[A-Z0-9]{8,30}$' THEN
    RETURN pg_temp.mask_chars(v, h);  -- a national account number: same shape
  END IF;
  bban := pg_temp.mask_chars(substr(norm, 5), h);
  res := substr(norm, 1, 2) || pg_temp.iban_check(substr(norm, 1, 2), bban) || bban;
  IF v ~ '\s' THEN res := btrim(regexp_replace(res, '(.{4})', '\1 ', 'g')); END IF;
  RETURN res;
END $f$;

-- Country prefix kept, digits replaced; a Belgian enterprise number (BE + 10 digits) keeps a valid check:
-- the last two digits are 97 - (the first eight mod 97).
CREATE FUNCTION pg_temp.mask_vat(v text) RETURNS text LANGUAGE plpgsql STABLE AS $f$
DECLARE norm text := upper(regexp_replace(coalesce(v, ''), '[^A-Za-z0-9]', '', 'g')); h bytea; prefix text; body text;
BEGIN
  IF v IS NULL OR norm = '' THEN RETURN v; END IF;
  h := pg_temp.mask_hmac('vat:' || norm);
  IF norm ~ '^BE[01][0-9]{9}$' THEN
    body := substr(norm, 3, 1) || pg_temp.mask_chars('1234567', h);
    RETURN 'BE' || body || lpad((97 - body::bigint % 97)::text, 2, '0');
  END IF;
  prefix := coalesce(substring(v FROM '^[A-Za-z]{2}'), '');
  RETURN prefix || pg_temp.mask_chars(substr(v, length(prefix) + 1), h);
END $f$;

CREATE FUNCTION pg_temp.mask_identifier(v text) RETURNS text LANGUAGE plpgsql STABLE AS $f$
BEGIN
  IF v IS NULL OR v = '' THEN RETURN v; END IF;
  RETURN pg_temp.mask_chars(v, pg_temp.mask_hmac('id:' || btrim(v)));
END $f$;

CREATE FUNCTION pg_temp.mask_street(v text) RETURNS text LANGUAGE plpgsql STABLE AS $f$
DECLARE h bytea;
BEGIN
  IF v IS NULL OR btrim(v) = '' THEN RETURN v; END IF;
  h := pg_temp.mask_hmac('street:' || lower(btrim(v)));
  RETURN pg_temp.mask_word(h, 0) || 'weg ' || (1 + get_byte(h, 9) % 199)::text;
END $f$;

CREATE FUNCTION pg_temp.mask_filename(v text) RETURNS text LANGUAGE plpgsql STABLE AS $f$
BEGIN
  IF v IS NULL OR v = '' THEN RETURN v; END IF;
  RETURN 'document-' || substr(encode(pg_temp.mask_hmac('file:' || v), 'hex'), 1, 10) || coalesce(substring(v FROM '\.[A-Za-z0-9]{1,8}$'), '');
END $f$;

CREATE FUNCTION pg_temp.mask_factor(v text, ratio numeric) RETURNS numeric LANGUAGE sql STABLE AS
$f$ SELECT 1 + ratio * ((('x' || encode(substring(pg_temp.mask_hmac('amount:' || v) FROM 1 FOR 2), 'hex'))::bit(16)::int / 65535.0) * 2 - 1) $f$;

CREATE FUNCTION pg_temp.mask_days(v text, days int) RETURNS int LANGUAGE sql STABLE AS
$f$ SELECT (('x' || encode(substring(pg_temp.mask_hmac('date:' || v) FROM 1 FOR 2), 'hex'))::bit(16)::int % (2 * days + 1)) - days $f$;
"""

TEXT_TYPES = ("text", "character varying", "character", "jsonb", "json")


@dataclasses.dataclass
class ColumnPlan:
    column: str
    data_type: str  # format_type()
    not_null: bool
    rules: tuple[Rule, ...]


@dataclasses.dataclass
class TableWork:
    table: str
    delete: bool
    columns: list[ColumnPlan]


def ipad_opad(key: bytes) -> tuple[bytes, bytes]:
    """RFC 2104's inner and outer padded keys (SHA-256, 64-byte blocks): HMAC(k, m) = H(opad || H(ipad || m))."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def reference_hmac(key: bytes, value: str) -> bytes:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()


def install(conn: Any, key: bytes) -> None:
    """The masking functions for this session. The key goes through COPY, never through a statement's text."""
    if len(key) < 16:
        raise ValueError("the refresh key must be at least 16 bytes")
    ipad, opad = ipad_opad(key)
    conn.execute("CREATE TEMP TABLE refresh_key (ipad text NOT NULL, opad text NOT NULL) ON COMMIT PRESERVE ROWS")
    with conn.cursor().copy("COPY refresh_key FROM STDIN") as copy:
        copy.write_row((ipad.hex(), opad.hex()))
    conn.execute("SELECT set_config('odoo_refresh.ipad', ipad, false), set_config('odoo_refresh.opad', opad, false) FROM refresh_key")
    conn.execute("DROP TABLE refresh_key")
    conn.execute(FUNCTIONS_SQL.replace("{first_names}", _array(FIRST_NAMES)).replace("{syllables}", _array(SYLLABLES)))  # type: ignore[arg-type]


def _array(words: Iterable[str]) -> str:
    return "{" + ",".join(words) + "}"


def columns_of(conn: Any) -> dict[str, dict[str, tuple[str, bool]]]:
    """table -> column -> (type, NOT NULL), for the ordinary tables of schema public."""
    rows = conn.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"
    ).fetchall()
    found: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, column, data_type, not_null in rows:
        found.setdefault(table, {})[column] = (data_type, not_null)
    return found


def reserve_phones(conn: Any, work: list[TableWork]) -> int:
    """Every production phone number in a column the profile masks as a phone, by its digits, before masking: what
    no pseudonym may be (mask_phone). Returns how many distinct numbers."""
    for item in work:
        for column in item.columns:
            if any(r.method == "phone" for r in column.rules):
                col = quote_ident(column.column)
                conn.execute(f"INSERT INTO refresh_real_phones SELECT DISTINCT regexp_replace({col}::text, '\\D', '', 'g') "  # type: ignore[arg-type]
                             f"FROM public.{quote_ident(item.table)} WHERE {col} IS NOT NULL ON CONFLICT DO NOTHING")
    conn.execute("ANALYZE refresh_real_phones")
    return conn.execute("SELECT count(*) FROM refresh_real_phones").fetchone()[0]


def key_columns(conn: Any) -> set[tuple[str, str]]:
    """(table, column) of every primary and foreign key column: never masked (the references must hold)."""
    rows = conn.execute(
        "SELECT c.relname, a.attname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey) "
        "WHERE n.nspname = 'public' AND k.contype IN ('p', 'f')"
    ).fetchall()
    return {(t, c) for t, c in rows}


def plan(conn: Any, profile: Profile) -> tuple[list[TableWork], list[str], list[str]]:
    """What the profile changes in this database: (work, skipped 'table[.column]' not present, problems)."""
    present = columns_of(conn)
    keys = key_columns(conn)
    work: list[TableWork] = []
    skipped: list[str] = []
    problems: list[str] = []
    for table, table_plan in sorted(profile.tables.items()):
        if table not in present:
            skipped.append(table)
            continue
        columns: list[ColumnPlan] = []
        for column, rules in sorted(table_plan.columns.items()):
            if column not in present[table]:
                skipped.append(f"{table}.{column}")
                continue
            data_type, not_null = present[table][column]
            if (table, column) in keys:
                problems.append(f"{table}.{column}: a key column is never masked (references would break)")
                continue
            for rule in rules:
                problem = _type_problem(rule, data_type, not_null)
                if problem:
                    problems.append(f"{table}.{column} ({data_type}): {problem}")
            columns.append(ColumnPlan(column, data_type, not_null, tuple(r for r in rules if r.method != "keep")))
        work.append(TableWork(table, table_plan.delete, [c for c in columns if c.rules]))
    return work, skipped, problems


def _type_problem(rule: Rule, data_type: str, not_null: bool) -> Optional[str]:
    textual = data_type.startswith(("text", "character", "json"))
    numeric = data_type.startswith(("numeric", "double", "real", "integer", "bigint", "smallint", "money"))
    if rule.method in ("amount",) and not numeric:
        return "amount needs a numeric column"
    if rule.method == "date" and not data_type.startswith(("date", "timestamp")):
        return "date needs a date or timestamp column"
    if rule.method not in ("amount", "date", "clear", "keep") and not textual:
        return f"{rule.method} needs a text column"
    if rule.method == "clear" and not_null and not textual:
        return "clear on a NOT NULL non-text column: use another method"
    return None


def expression(rule: Rule, column: ColumnPlan) -> str:
    """The new value of `column` under `rule`, as SQL over the row."""
    col = quote_ident(column.column)
    text = f"{col}::text"
    method = rule.method
    if method in ("name", "email", "phone", "iban", "vat", "identifier", "street", "filename"):
        value = f"pg_temp.mask_{method}({text})"
    elif method == "amount":
        value = f"round(({col})::numeric * pg_temp.mask_factor({text}, {float(rule.option('ratio'))}), greatest(scale(({col})::numeric), 0))"
    elif method == "date":
        value = f"{col} + make_interval(days => pg_temp.mask_days({text}, {int(rule.option('days'))}))"
    elif method == "text":
        value = f"CASE WHEN {col} IS NULL THEN NULL ELSE {_literal(rule.option('value'))} END"
    elif method == "clear":
        value = "''" if column.not_null else "NULL"
    elif method == "constant":
        value = _literal(rule.option("value"))
    elif method == "random_uuid":
        value = "gen_random_uuid()::text"
    else:
        raise ValueError(f"no expression for {method}")
    return f"({value})::{column.data_type}"


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def apply(conn: Any, work: list[TableWork], seconds: Optional[dict[str, float]] = None) -> dict[str, int]:
    """One UPDATE per table (every masked column in one pass), rows deleted where the profile says; rows changed per
    table (and, into `seconds`, the time each table took)."""
    changed: dict[str, int] = {}
    for item in work:
        started = time.monotonic()
        _apply_one(conn, item, changed)
        if seconds is not None:
            seconds[item.table] = round(time.monotonic() - started, 3)
    return changed


def _apply_one(conn: Any, item: TableWork, changed: dict[str, int]) -> None:
    table = f"public.{quote_ident(item.table)}"
    if item.delete:
        changed[item.table] = conn.execute(f"DELETE FROM {table}").rowcount  # type: ignore[arg-type]
        return
    if not item.columns:
        return
    sets, touched = [], []
    for column in item.columns:
        col = quote_ident(column.column)
        branches = []
        for rule in column.rules:
            condition = f"({rule.where})" if rule.where else "TRUE"
            branches.append(f"WHEN {col} IS NOT NULL AND {condition} THEN {expression(rule, column)}")
            touched.append(f"({col} IS NOT NULL AND {condition})")
        sets.append(f"{col} = CASE {' '.join(branches)} ELSE {col} END")
    sql = f"UPDATE {table} SET {', '.join(sets)} WHERE {' OR '.join(touched)}"
    changed[item.table] = conn.execute(sql).rowcount  # type: ignore[arg-type]


PLACEHOLDER = b"This attachment was removed when the database was masked for a non-production copy.\n"


def attachment_placeholders(conn: Any, present: dict[str, dict[str, tuple[str, bool]]]) -> int:
    """Every binary attachment's content replaced by a short text kept in the database (store_fname cleared, so the
    copy references no blob of production's storage); sha1 and size as Odoo computes them."""
    columns = present.get("ir_attachment", {})
    if not columns:
        return 0
    sets = {"store_fname": "NULL", "db_datas": "%(data)s", "file_size": "%(size)s", "checksum": "%(sha1)s", "mimetype": "'text/plain'",
            "index_content": "NULL"}
    assignments = ", ".join(f"{c} = {v}" for c, v in sets.items() if c in columns)
    params = {"data": PLACEHOLDER, "size": len(PLACEHOLDER), "sha1": hashlib.sha1(PLACEHOLDER, usedforsecurity=False).hexdigest()}
    return conn.execute(f"UPDATE public.ir_attachment SET {assignments} WHERE type = 'binary'", params).rowcount  # type: ignore[arg-type]


# --- verification ------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Needle:
    kind: str  # name, email, phone, iban, vat, identifier, street
    source: str  # table.column it was sampled from
    value: str


def sample(conn: Any, work: list[TableWork], per_column: int) -> list[Needle]:
    """Up to `per_column` distinct production values of every identifying column, taken BEFORE masking (ordered by a
    hash of the value: a fixed, spread-out choice). Values shorter than 5 characters are not searched for."""
    needles: list[Needle] = []
    for item in work:
        for column in item.columns:
            kinds = {IDENTIFYING[r.method] for r in column.rules if r.method in IDENTIFYING and r.where is None}
            if not kinds:
                continue
            col = quote_ident(column.column)
            rows = conn.execute(
                f"SELECT DISTINCT {col}::text AS v, md5({col}::text) FROM public.{quote_ident(item.table)} "  # type: ignore[arg-type]
                f"WHERE {col} IS NOT NULL AND length(btrim({col}::text)) >= 5 ORDER BY 2 LIMIT %s", (per_column,),
            ).fetchall()
            for (value, _) in rows:
                for kind in kinds:
                    needles.append(Needle(kind, f"{item.table}.{column.column}", value.strip()))
                    if kind == "iban":
                        needles.append(Needle(kind, f"{item.table}.{column.column}", re.sub(r"\s", "", value).upper()))
    return needles


# Text is compared as lower-case tokens: split at white space and at punctuation that cannot be part of an e-mail,
# a phone number, an IBAN or a name; a trailing dot dropped. A needle of k tokens is found where k consecutive tokens
# of a value equal it (a whole-word match), by a join of k-grams with the needles (_scan_sql): linear in the text.
SEPARATORS = "[][[:space:],;:<>\"'(){}|]+"
TOKENS = ("ARRAY(SELECT rtrim(x, '.') FROM unnest(regexp_split_to_array(lower({value}), %(sep)s)) WITH ORDINALITY u(x, o) "
          "WHERE rtrim(x, '.') <> '' ORDER BY o)")
# The same split, one piece a row (regexp_split_to_table splits exactly as regexp_split_to_array): rtrim(piece, '.')
# is a token.
PIECES = "regexp_split_to_table(lower({value}), %(sep)s)"


def scan(conn: Any, needles: list[Needle]) -> list[dict[str, Any]]:
    """Every text column of every table searched for the sampled production values. A finding names the table, the
    column, the kind of value and the column it was sampled from, never the value itself."""
    if not needles:
        return []
    lengths = _load_needles(conn, needles)
    findings: list[dict[str, Any]] = []
    try:
        for table, columns in sorted(columns_of(conn).items()):
            for column in sorted(c for c, (t, _) in columns.items() if t.startswith(("text", "character", "json"))):
                rows = conn.execute(_scan_sql(table, column, lengths), {"sep": SEPARATORS}).fetchall()
                findings += [{"table": table, "column": column, "kind": kind, "sampled_from": source} for kind, source in rows]
    finally:
        conn.execute("DROP TABLE refresh_needles, refresh_anchors")
    return findings


def _load_needles(conn: Any, needles: list[Needle]) -> list[int]:
    """The needles as token strings in refresh_needles, and one anchor token of each in refresh_anchors: the token
    shared by the fewest needles (a word most needles share, "partner" or "rue", is likely common in the data too).
    Returns the distinct needle lengths in tokens. Both tables are indexed: whatever join the planner picks is a
    lookup, never a comparison with every needle (such a nested loop took 470 s on 100,000 move lines)."""
    conn.execute("CREATE TEMP TABLE refresh_needles (id serial, kind text, source text, raw text, value text, tokens int) ON COMMIT PRESERVE ROWS")
    with conn.cursor().copy("COPY refresh_needles (kind, source, raw) FROM STDIN") as copy:
        for needle in needles:
            copy.write_row((needle.kind, needle.source, needle.value))
    conn.execute(f"UPDATE refresh_needles SET value = array_to_string({TOKENS.format(value='raw')}, ' ')", {"sep": SEPARATORS})  # type: ignore[arg-type]
    conn.execute("DELETE FROM refresh_needles WHERE value = ''")
    conn.execute("UPDATE refresh_needles SET tokens = cardinality(string_to_array(value, ' '))")
    conn.execute("CREATE INDEX ON refresh_needles (value)")
    conn.execute("CREATE TEMP TABLE refresh_anchors (token text PRIMARY KEY) ON COMMIT PRESERVE ROWS")
    conn.execute(
        "WITH t AS (SELECT n.id, w.token FROM refresh_needles n, unnest(string_to_array(n.value, ' ')) w(token)), "
        "shared AS (SELECT token, count(DISTINCT id) AS needles FROM t GROUP BY token) "
        "INSERT INTO refresh_anchors SELECT DISTINCT ON (t.id) t.token FROM t JOIN shared USING (token) "
        "ORDER BY t.id, shared.needles, length(t.token) DESC, t.token ON CONFLICT DO NOTHING")
    conn.execute("ANALYZE refresh_needles")
    conn.execute("ANALYZE refresh_anchors")
    return [r[0] for r in conn.execute("SELECT DISTINCT tokens FROM refresh_needles ORDER BY 1").fetchall()]


def _scan_sql(table: str, column: str, lengths: list[int]) -> str:
    """The needles found in one column, in two passes. Every needle holds its anchor as a whole token, so the values
    that can hold any needle are those with an anchor among their tokens: one regular-expression split of each value
    and a lookup of each token (hits). Only those rows are read again (by ctid) and split into ordered tokens; the
    k-gram starting at each token is that token and the next k - 1 (lead() over the row's tokens: linear in the
    text, where slicing the token array for every position made a long mail body quadratic), joined with the needles."""
    col, name = quote_ident(column), f"public.{quote_ident(table)}"
    window = "OVER (PARTITION BY tid ORDER BY o)"
    grams = " UNION ALL ".join(
        f"SELECT concat_ws(' ', {', '.join(['tok'] + [f'lead(tok, {j}) {window}' for j in range(1, k)])}) AS g, "
        f"{f'lead(tok, {k - 1}) {window}' if k > 1 else 'tok'} AS last FROM t" for k in sorted(set(lengths)))
    return (
        f"WITH hits AS MATERIALIZED (SELECT DISTINCT t.ctid AS tid FROM {name} t CROSS JOIN LATERAL "
        f"{PIECES.format(value=f't.{col}::text')} AS w(piece) JOIN refresh_anchors a ON a.token = rtrim(w.piece, '.')), "
        f"t AS MATERIALIZED (SELECT r.ctid AS tid, u.tok, u.o FROM {name} r CROSS JOIN LATERAL unnest({TOKENS.format(value=f'r.{col}::text')}) "
        "WITH ORDINALITY u(tok, o) WHERE r.ctid = ANY(ARRAY(SELECT tid FROM hits))), "
        f"grams AS ({grams}) "
        "SELECT DISTINCT n.kind, n.source FROM grams JOIN refresh_needles n ON n.value = grams.g WHERE grams.last IS NOT NULL")


def row_counts(conn: Any) -> dict[str, int]:
    tables = sorted(columns_of(conn))
    return {t: conn.execute(f"SELECT count(*) FROM public.{quote_ident(t)}").fetchone()[0] for t in tables}  # type: ignore[arg-type]


def foreign_key_orphans(conn: Any) -> list[dict[str, Any]]:
    """Every foreign key checked for real: rows whose reference finds no row (should always be none)."""
    rows = conn.execute(
        "SELECT k.conname, c.relname, r.relname, "
        "array(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, i) JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i), "
        "array(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(n, i) JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i), "
        "k.convalidated FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE k.contype = 'f' AND n.nspname = 'public' ORDER BY 1"
    ).fetchall()
    bad: list[dict[str, Any]] = []
    for name, table, ref, cols, ref_cols, validated in rows:
        join = " AND ".join(f"r.{quote_ident(rc)} = t.{quote_ident(c)}" for c, rc in zip(cols, ref_cols))
        not_null = " AND ".join(f"t.{quote_ident(c)} IS NOT NULL" for c in cols)
        orphans = conn.execute(
            f"SELECT count(*) FROM public.{quote_ident(table)} t WHERE {not_null} AND NOT EXISTS "  # type: ignore[arg-type]
            f"(SELECT 1 FROM public.{quote_ident(ref)} r WHERE {join})"
        ).fetchone()[0]
        if orphans or not validated:
            bad.append({"constraint": name, "table": table, "orphans": orphans, "validated": validated})
    return bad


def foreign_key_count(conn: Any) -> int:
    return conn.execute("SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace WHERE k.contype = 'f' AND n.nspname = 'public'").fetchone()[0]
