"""Brings a tenant database to the release's image: `apply` (the upgrade Job), `wait` (the web and cron pods' gate),
`plan` (what apply would do).

Runs inside the Odoo image with the rendered /run/odoo/odoo.conf (entrypoint.sh `run`), with the standard library and
the image's PostgreSQL driver only. Which modules to update is decided as click-odoo-update does
(acsone/click-odoo-contrib update.py, _addon_hash.py): a SHA-1 over each installed module's files, stored in
`ir_config_parameter` `module_auto_update.installed_checksums`, so click-odoo-update and this script agree on a database.
The release's module list (ODOO_MODULES) is installed where missing.

Exit codes: 0 done (or nothing to do), 1 the database does not match the release (a module Odoo did not install; the gate
timed out), 2 bad configuration, 3 a fault (database unreachable, Odoo failed). One JSON line per event on stdout.
"""
import argparse
import configparser
import fnmatch
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time

PARAM_INSTALLED_CHECKSUMS = "module_auto_update.installed_checksums"
PARAM_EXCLUDE_PATTERNS = "module_auto_update.exclude_patterns"
DEFAULT_EXCLUDE_PATTERNS = "*.pyc,*.pyo,i18n/*.pot,i18n_extra/*.pot,static/*,tests/*"
MODULE_NAME = re.compile(r"[a-z0-9_]+")


class Failure(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def log(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}, sort_keys=True), flush=True)


def release_modules() -> list:
    value = os.environ.get("ODOO_MODULES", "")
    modules = [m.strip() for m in value.split(",") if m.strip()]
    bad = [m for m in modules if not MODULE_NAME.fullmatch(m)]
    if bad:
        raise Failure(2, f"ODOO_MODULES: {', '.join(bad)} is not a module name (lowercase letters, digits, underscores)")
    return modules


def connect(rc: str):
    config = configparser.ConfigParser(interpolation=None)
    if not config.read(rc):
        raise Failure(2, f"{rc}: no such configuration file")
    options = config["options"]
    try:
        import psycopg2 as driver  # Odoo 16-17 images
    except ImportError:
        import psycopg as driver  # type: ignore[no-redef]
    params = {
        "host": options.get("db_host"),
        "port": options.get("db_port", "5432"),
        "dbname": options.get("db_name"),
        "user": options.get("db_user"),
        "password": options.get("db_password"),
        "sslmode": options.get("db_sslmode", "prefer"),
    }
    try:
        connection = driver.connect(**params)
    except Exception as e:  # the driver's OperationalError: unreachable, wrong password, no such database
        raise Failure(3, f"cannot connect to {params['dbname']} on {params['host']}: {str(e).strip()}")
    connection.autocommit = True
    return connection


def fetch(connection, sql: str, args=()) -> list:
    cursor = connection.cursor()
    try:
        cursor.execute(sql, args)
        return cursor.fetchall() if cursor.description else []
    finally:
        cursor.close()


def parameter(connection, key: str, default=None):
    rows = fetch(connection, "SELECT value FROM ir_config_parameter WHERE key = %s", (key,))
    return rows[0][0] if rows else default


def set_parameter(connection, key: str, value: str) -> None:
    fetch(connection, "UPDATE ir_config_parameter SET value = %s, write_date = now() AT TIME ZONE 'UTC' WHERE key = %s", (value, key))
    if not fetch(connection, "SELECT 1 FROM ir_config_parameter WHERE key = %s", (key,)):
        fetch(
            connection,
            "INSERT INTO ir_config_parameter (key, value, create_date, write_date) VALUES (%s, %s, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')",
            (key, value),
        )


def addons_path(rc: str) -> list:
    """Where Odoo finds modules: ODOO_ADDONS_PATH, or Odoo's own answer for this configuration."""
    value = os.environ.get("ODOO_ADDONS_PATH")
    if value is None:
        code = "import sys, odoo; odoo.tools.config.parse_config(['-c', sys.argv[1]]); print(odoo.tools.config['addons_path'])"
        result = subprocess.run([sys.executable, "-c", code, rc], capture_output=True, text=True)
        if result.returncode != 0:
            raise Failure(2, f"cannot read Odoo's addons path for {rc}: {result.stderr.strip()[-500:]}")
        value = result.stdout.strip()
    return [p.strip() for p in value.replace(":", ",").split(",") if p.strip()]


def module_path(paths: list, name: str):
    for directory in paths:
        candidate = os.path.join(directory, name)
        if os.path.isfile(os.path.join(candidate, "__manifest__.py")):
            return candidate
    return None


def addon_hash(top: str, exclude_patterns: list, keep_langs: list) -> str:
    """click-odoo-contrib's _addon_hash: file names and contents in walk order, .po files of inactive languages skipped."""
    langs = {lang.split("_")[0] for lang in keep_langs}
    digest = hashlib.sha1()
    for directory, subdirectories, files in os.walk(top):
        subdirectories.sort()
        relative = os.path.relpath(directory, top)
        relative = "" if relative == "." else relative
        for filename in sorted(files):
            path = os.path.join(relative, filename)
            if any(fnmatch.fnmatch(path, pattern) for pattern in exclude_patterns):
                continue
            base, extension = os.path.splitext(filename)
            if langs and relative in ("i18n", "i18n_extra") and extension == ".po" and base.split("_")[0] not in langs:
                continue
            digest.update(path.encode("utf-8"))
            with open(os.path.join(top, path), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def checksums(connection, paths: list) -> dict:
    """The current checksum of every installed module found on the addons path."""
    patterns = [p.strip() for p in parameter(connection, PARAM_EXCLUDE_PATTERNS, DEFAULT_EXCLUDE_PATTERNS).split(",")]
    langs = [row[0] for row in fetch(connection, "SELECT code FROM res_lang WHERE active")]
    found = {}
    for (name,) in fetch(connection, "SELECT name FROM ir_module_module WHERE state IN ('installed', 'to upgrade') ORDER BY name"):
        path = module_path(paths, name)
        if path is not None:
            found[name] = addon_hash(path, patterns, langs)
    return found


def plan(connection, paths: list, modules: list) -> dict:
    installed = {row[0] for row in fetch(connection, "SELECT name FROM ir_module_module WHERE state = 'installed'")}
    stored = json.loads(parameter(connection, PARAM_INSTALLED_CHECKSUMS, "{}") or "{}")
    current = checksums(connection, paths)
    return {
        "install": [m for m in modules if m not in installed],
        "update": sorted(name for name, checksum in current.items() if stored.get(name) != checksum),
    }


def run_odoo(database: str, install: list, update: list) -> None:
    command = shlex.split(os.environ.get("ODOO_COMMAND", "/bin/sh /etc/odoo/entrypoint.sh"))
    arguments = ["-d", database, "--stop-after-init", "--no-http"]
    if install:
        arguments += ["-i", ",".join(install)]
    if update:
        arguments += ["-u", ",".join(update)]
    log("odoo", install=install, update=update)
    result = subprocess.run([*command, *arguments])
    if result.returncode != 0:
        raise Failure(3, f"odoo exited with {result.returncode} while installing {install} and updating {update}")


def apply(connection, database: str, paths: list, modules: list) -> None:
    # One upgrade at a time per database (a re-created Job may overlap its predecessor).
    fetch(connection, "SELECT pg_advisory_lock(hashtext(%s))", (f"odoo-platform-upgrade/{database}",))
    todo = plan(connection, paths, modules)
    log("plan", **todo)
    if not todo["install"] and not todo["update"]:
        log("up-to-date")
        return
    run_odoo(database, todo["install"], todo["update"])
    # Odoo only warns about a module it cannot find, and exits 0.
    left = plan(connection, paths, modules)["install"]
    if left:
        raise Failure(1, f"odoo did not install {', '.join(left)}: not on the addons path of this image?")
    # Stored last: if anything above failed, the gate stays closed and the next run retries.
    set_parameter(connection, PARAM_INSTALLED_CHECKSUMS, json.dumps(checksums(connection, paths), sort_keys=True))
    log("upgraded", installed=todo["install"], updated=todo["update"])


def wait(connection, paths: list, modules: list, timeout: float, interval: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        todo = plan(connection, paths, modules)
        if not todo["install"] and not todo["update"]:
            log("ready")
            return
        if time.monotonic() >= deadline:
            raise Failure(1, f"the database still needs install {todo['install']} and update {todo['update']} after {timeout:.0f}s: did the upgrade Job fail?")
        log("waiting", **todo)
        time.sleep(interval)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="upgrade.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("apply", "wait", "plan"))
    parser.add_argument("--rc", default=os.environ.get("ODOO_RC", "/run/odoo/odoo.conf"))
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--interval", type=float, default=10)
    args = parser.parse_args(argv)
    try:
        modules = release_modules()
        connection = connect(args.rc)
        database = fetch(connection, "SELECT current_database()")[0][0]
        paths = addons_path(args.rc)
        if args.command == "apply":
            apply(connection, database, paths, modules)
        elif args.command == "wait":
            wait(connection, paths, modules, args.timeout, args.interval)
        else:
            log("plan", **plan(connection, paths, modules))
        return 0
    except Failure as e:
        log("failed", message=str(e), code=e.code)
        return e.code


if __name__ == "__main__":
    sys.exit(main())
